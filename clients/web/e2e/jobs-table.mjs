// How the jobs table behaves with 1,000 jobs (paged from the server): time
// to the first page, page changes, a larger page, a search, and the main
// thread's long tasks meanwhile. A measurement, not a test of speed: it
// only checks that the figures are there. Run by the ignored test
// `browser::the_jobs_table_with_a_thousand_jobs` (tests/e2e/browser.rs).
//
// Env: FIP_URL, FIP_USERNAME, FIP_PASSWORD, FIP_JOBS (how many exist),
// FIP_CHROMIUM.
import { chromium } from "playwright-core";

const base = process.env.FIP_URL;
const total = Number(process.env.FIP_JOBS);
const browser = await chromium.launch({
  executablePath: process.env.FIP_CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
page.setDefaultTimeout(60_000);
const fmt = (ms) => `${ms.toFixed(0)} ms`;
try {
  await page.goto(`${base}/login`);
  await page.getByLabel("Username or email").fill(process.env.FIP_USERNAME);
  await page.getByLabel("Password").fill(process.env.FIP_PASSWORD);
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "Dashboard" }).waitFor();
  await page.evaluate(() => {
    window.__long = [];
    new PerformanceObserver((l) => window.__long.push(...l.getEntries().map((e) => e.duration))).observe({ type: "longtask" });
  });
  const rows = page.locator(".jobs-table tbody tr");
  const timed = async (what, act, until) => {
    const t0 = performance.now();
    await act();
    await until();
    const ms = performance.now() - t0;
    console.log(`jobs table: ${what}: ${fmt(ms)}`);
    return ms;
  };
  const pageText = (n, of) => page.getByText(new RegExp(`Page ${n} of ${of} · ${total.toLocaleString("en-US")} jobs`));
  await timed(
    "first page (25 rows) after navigation",
    () => page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Jobs", exact: true }).click(),
    () => pageText(1, Math.ceil(total / 25)).waitFor(),
  );
  for (let n = 2; n <= 4; n++) {
    await timed(`next page (page ${n})`, () => page.getByRole("button", { name: "Next" }).click(), () => pageText(n, Math.ceil(total / 25)).waitFor());
  }
  await timed("previous page", () => page.getByRole("button", { name: "Previous" }).click(), () => pageText(3, Math.ceil(total / 25)).waitFor());
  await timed(
    "100 rows per page",
    () => page.getByLabel("Per page").selectOption("100"),
    async () => {
      await pageText(1, Math.ceil(total / 100)).waitFor();
      await rows.nth(99).waitFor();
    },
  );
  for (let n = 2; n <= 3; n++) {
    await timed(`next page of 100 (page ${n})`, () => page.getByRole("button", { name: "Next" }).click(), () => pageText(n, Math.ceil(total / 100)).waitFor());
  }
  await timed(
    "search by name (debounce 300 ms included)",
    () => page.getByLabel("Search by name").fill("job 0999"),
    () => page.getByText(/Page 1 of 1 · 1 jobs/).waitFor(),
  );
  const long = await page.evaluate(() => window.__long);
  const worst = long.length ? Math.max(...long) : 0;
  console.log(`jobs table: main-thread long tasks (> 50 ms): ${long.length}, longest ${fmt(worst)}`);
} catch (e) {
  console.error(`jobs table: FAILED: ${e.stack ?? e}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
