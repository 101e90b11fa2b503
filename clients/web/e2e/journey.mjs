// A researcher's whole journey in real Chromium (Debian's, driven by
// playwright-core), against a running platform and an emulated Cloudgene
// server (tests/e2e/browser.rs starts both and passes them in):
//
//   register, sign in, submit without a credential -> Setup required ->
//   Configure credentials -> store the token -> Test connection -> back to
//   the form, still filled -> submit to two targets -> progress live ->
//   completed -> QC chart -> download a result and check its SHA-256;
//   a token the server refuses -> Job failed -> Update credentials.
//
// Every wait is on an event or a selector, never on time. Screenshots of
// each main page (1280x800 and 390x844) go to FIP_SCREENSHOTS.
//
// Env: FIP_URL, FIP_VCF and FIP_LARGE_VCF (input files; the large one
// takes seconds to upload on a throttled link), FIP_REMOTE_TOKEN (accepted by the
// server), FIP_REFUSED_TOKEN (refused), FIP_SERVICE_NAME and
// FIP_SECOND_SERVICE_NAME (the one given the refused token), FIP_PANELS
// (two panel names, "|"-separated), FIP_SCREENSHOTS, FIP_CHROMIUM.
import { chromium } from "playwright-core";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const base = env("FIP_URL");
const vcf = env("FIP_VCF");
const largeVcf = env("FIP_LARGE_VCF");
const goodToken = env("FIP_REMOTE_TOKEN");
const refusedToken = env("FIP_REFUSED_TOKEN");
const serviceName = env("FIP_SERVICE_NAME");
const secondService = env("FIP_SECOND_SERVICE_NAME");
const [panelA, panelB] = env("FIP_PANELS").split("|");
const shots = env("FIP_SCREENSHOTS");
mkdirSync(shots, { recursive: true });

const started = Date.now();
const step = (what) => console.log(`journey: ${((Date.now() - started) / 1000).toFixed(1)}s ${what}`);
const browser = await chromium.launch({
  executablePath: process.env.FIP_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  // playwright-core gives each launch a fresh, empty user-data dir of its own.
});
const problems = [];
const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
const page = await context.newPage();
page.setDefaultTimeout(60_000);
page.on("console", (m) => {
  if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
});
page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));

async function shot(name) {
  await page.screenshot({ path: join(shots, `${name}-desktop.png`), fullPage: false });
}

const expectVisible = (locator) => locator.waitFor({ state: "visible" });

try {
  // Register and sign in.
  await page.goto(base);
  await page.waitForURL(/\/login/);
  await shot("login");
  await page.getByRole("link", { name: "Register" }).click();
  await page.getByLabel("First name").fill("Ada");
  await page.getByLabel("Last name").fill("Lovelace");
  await page.getByLabel("Username").fill("ada");
  await page.getByLabel("Email").fill("ada@example.org");
  await page.getByLabel("Password", { exact: true }).fill("a long passphrase");
  await page.getByLabel("Confirm password").fill("a long passphrase");
  await page.getByLabel("Institution (optional)").fill("University of Cape Town");
  await shot("register");
  await page.getByRole("button", { name: "Create account" }).click();
  await expectVisible(page.getByText("Your account is ready. Sign in."));
  step("registered");
  await page.getByLabel("Password").fill("a long passphrase");
  await page.keyboard.press("Enter");
  await expectVisible(page.getByRole("heading", { name: "Dashboard" }));
  step("signed in");
  // A reload and a second tab stay signed in: the refresh token in
  // localStorage resumes the session (the access token lived in memory).
  await page.reload();
  await expectVisible(page.getByRole("heading", { name: "Dashboard" }));
  const second = await context.newPage();
  await second.goto(`${base}/profile`);
  await expectVisible(second.getByRole("heading", { name: "Profile", exact: true }));
  await second.close();
  step("the session survives a reload and opens in a second tab");
  await expectVisible(page.getByRole("link", { name: serviceName }));
  await shot("dashboard");

  // New job without a credential: Setup required.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "New job" }).click();
  await expectVisible(page.getByRole("heading", { name: "New job" }));
  await page.getByLabel("Input VCF (.vcf or .vcf.gz)").setInputFiles(vcf);
  await page.getByLabel("Job name").fill("My study");
  await page.getByLabel("Genome build").selectOption({ label: "hg38" });
  await expectVisible(page.getByText("The file passes the pre-flight check"));
  step("pre-flight check passed in the browser");
  await page.getByLabel("Service (target 1)").selectOption({ label: `${serviceName} (no token stored)` });
  await page.getByLabel("Reference panel (target 1)").selectOption({ label: `${panelA} (hg38)` });
  await page.getByLabel("Population (target 1)").selectOption({ label: "AFR" });
  await page.getByRole("button", { name: "Add target" }).click();
  await page.getByLabel("Service (target 2)").selectOption({ label: `${serviceName} (no token stored)` });
  await page.getByLabel("Reference panel (target 2)").selectOption({ label: `${panelB} (hg38)` });
  await shot("new-job");
  await page.getByRole("button", { name: "Submit job" }).click();
  const setup = page.getByRole("alertdialog", { name: "Setup required" });
  await expectVisible(setup);
  await expectVisible(
    setup.getByText(`You need to configure your ${serviceName} API credentials before submitting jobs.`),
  );
  await shot("setup-required");
  // The dialog is modal: keyboard focus starts inside it, and Tab never
  // reaches the page behind it (past the last button it goes to the
  // browser's own controls, then back into the dialog).
  if (!(await page.evaluate(() => !!document.activeElement?.closest("dialog[open]"))))
    throw new Error("keyboard focus is not in the Setup required dialog");
  for (let i = 0; i < 4; i++) {
    await page.keyboard.press("Tab");
    const where = await page.evaluate(() => {
      const el = document.activeElement;
      return !el || el === document.body || !!el.closest("dialog[open]") ? "" : el.outerHTML.slice(0, 80);
    });
    if (where) throw new Error(`Tab left the Setup required dialog for ${where}`);
  }
  step("Setup required (focus kept inside the dialog)");
  await setup.getByRole("button", { name: "Configure credentials" }).click();

  // Store the token and test it.
  await page.waitForURL(/\/settings\/services\/\d+\?return=/);
  await page.getByLabel(`API token for ${serviceName}`).fill(goodToken);
  await page.getByLabel("Label (optional)").first().fill("My account");
  const card = page.locator("article.card-focused");
  await card.getByRole("button", { name: "Save token" }).click();
  await expectVisible(card.getByText("Token saved."));
  await card.getByRole("button", { name: "Test connection" }).click();
  await expectVisible(card.getByTestId("verify-result").getByText("Connection works"));
  await expectVisible(card.getByText("verified", { exact: true }));
  await shot("credentials");
  step("token stored and verified");

  // Back to the form: still filled in.
  await card.getByRole("link", { name: "Back to the job form" }).click();
  await expectVisible(page.getByRole("heading", { name: "New job" }));
  if ((await page.getByLabel("Job name").inputValue()) !== "My study") throw new Error("the job name was lost");
  await expectVisible(page.getByText("study.vcf.gz"));
  if ((await page.getByLabel("Reference panel (target 2)").inputValue()) === "") throw new Error("target 2 was lost");
  step("back at the form, still filled in");

  // Submit to two targets and follow it live.
  await page.getByRole("button", { name: "Check only" }).click();
  await expectVisible(page.getByText("Everything checks out."));
  await page.getByRole("button", { name: "Submit job" }).click();
  await page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
  const parentUrl = page.url();
  step("submitted to two targets");
  // Record every progress value the page shows, as the stream delivers them.
  await expectVisible(page.getByRole("progressbar", { name: "Job progress" }));
  await page.evaluate(() => {
    const seen = (window.__progress = []);
    const read = () => {
      const p = document.querySelector('progress[aria-label="Job progress"]');
      const v = p ? Number(p.value) : -1;
      if (seen[seen.length - 1] !== v) seen.push(v);
    };
    read();
    new MutationObserver(read).observe(document.body, { subtree: true, attributes: true, childList: true });
  });
  await expectVisible(page.getByTestId("child-job").nth(1));
  await shot("job-running");
  await expectVisible(page.locator(".job-summary .badge-completed"), { timeout: 120_000 });
  const progress = await page.evaluate(() => window.__progress);
  const between = progress.filter((v) => v > 0 && v < 100);
  if (between.length < 2 || progress[progress.length - 1] !== 100)
    throw new Error(`the progress did not move live: ${JSON.stringify(progress)}`);
  step(`completed; progress seen live: ${progress.join(" ")}`);

  // QC chart, both panels side by side, and a download checked byte for byte.
  const chart = page.getByTestId("qc-chart");
  await expectVisible(chart);
  await expectVisible(chart.locator("canvas").first());
  await chart.getByText("The figures as a table").click();
  await expectVisible(chart.getByRole("columnheader", { name: `${serviceName} / ${panelA}` }));
  await expectVisible(chart.getByRole("columnheader", { name: `${serviceName} / ${panelB}` }));
  await page.getByTestId("qc-chart").scrollIntoViewIfNeeded();
  await shot("job-completed");
  const row = page.getByTestId("result-file").first();
  const expected = (await row.getByTestId("sha256").textContent()).trim();
  const [download] = await Promise.all([page.waitForEvent("download"), row.getByRole("button", { name: /^Download/ }).click()]);
  const path = await download.path();
  const actual = createHash("sha256").update(readFileSync(path)).digest("hex");
  if (actual !== expected) throw new Error(`downloaded ${download.suggestedFilename()}: sha256 ${actual}, expected ${expected}`);
  step(`downloaded ${download.suggestedFilename()}, sha256 ${actual} as listed`);

  // The jobs table and the live bell.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Jobs", exact: true }).click();
  await expectVisible(page.getByRole("link", { name: "My study" }));
  await shot("jobs");

  // A token the server refuses (stored for the second service): Job failed
  // -> Update credentials.
  await page.goto(`${base}/settings/services`);
  const cred = page.locator("article.credential", { hasText: secondService });
  await cred.getByLabel(`API token for ${secondService}`).fill(refusedToken);
  await cred.getByRole("button", { name: "Save token" }).click();
  await expectVisible(cred.getByText("Token saved."));
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "New job" }).click();
  await page.getByLabel("Input VCF (.vcf or .vcf.gz)").setInputFiles(largeVcf);
  await page.getByLabel("Job name").fill("Refused study");
  await page.getByLabel("Genome build").selectOption({ label: "hg38" });
  await page.getByLabel("Service (target 1)").selectOption({ label: secondService });
  await page.getByLabel("Reference panel (target 1)").selectOption({ label: `${panelA} (hg38)` });
  await expectVisible(page.getByText("The file passes the pre-flight check"));
  // On a slow link the upload shows bytes, speed and time left, and can be
  // cancelled; then it goes through at full speed.
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: 64 * 1024,
  });
  await page.getByRole("button", { name: "Submit job" }).click();
  const upload = page.getByTestId("upload");
  await expectVisible(upload.getByText(/\/s · .* left$/));
  await shot("upload");
  step(`uploading: ${(await upload.locator("p").textContent()).trim()}`);
  await upload.getByRole("button", { name: "Cancel upload" }).click();
  await expectVisible(page.getByText("The upload was cancelled: nothing was stored."));
  await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  step("upload cancelled");
  await page.getByRole("button", { name: "Submit job" }).click();
  await page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
  const failed = page.getByRole("alertdialog", { name: "Job failed" });
  await expectVisible(failed);
  await shot("job-failed");
  step("the refused token failed the job");
  await failed.getByRole("button", { name: "Update credentials" }).click();
  await page.waitForURL(/\/settings\/services\/\d+$/);
  await expectVisible(page.locator("article.card-focused .badge", { hasText: "refused" }));
  step("sent to update the credentials");

  // The other pages, for the record; then the phone width.
  for (const [path, name, heading] of [
    ["/services", "services", "Imputation services"],
    ["/notifications", "notifications", "Notifications"],
    ["/profile", "profile", "Profile"],
  ]) {
    await page.goto(`${base}${path}`);
    await expectVisible(page.getByRole("heading", { name: heading, exact: true }));
    await page.waitForFunction(() => !document.querySelector(".state-loading"));
    await shot(name);
  }
  await page.setViewportSize({ width: 390, height: 844 });
  for (const [path, name, heading] of [
    ["/", "dashboard", "Dashboard"],
    ["/jobs/new", "new-job", "New job"],
    ["/jobs", "jobs", "Jobs"],
    [new URL(parentUrl).pathname, "job-completed", "My study"],
    ["/services", "services", "Imputation services"],
    ["/settings/services", "credentials", "Service credentials"],
    ["/notifications", "notifications", "Notifications"],
    ["/profile", "profile", "Profile"],
  ]) {
    await page.goto(`${base}${path}`);
    await expectVisible(page.getByRole("heading", { name: heading, exact: true }));
    await page.waitForFunction(() => !document.querySelector(".state-loading"));
    await page.screenshot({ path: join(shots, `${name}-phone.png`) });
  }
  await page.getByRole("button", { name: "Menu" }).click();
  await expectVisible(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Jobs", exact: true }));
  await page.screenshot({ path: join(shots, "menu-phone.png") });
  step("screenshots saved");

  // Signing out everywhere on another device ends this session too: the
  // next call sends the user to sign in, and then back to where they were.
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(`${base}/`);
  await expectVisible(page.getByRole("heading", { name: "Dashboard" }));
  const device = await browser.newContext();
  const other = await device.newPage();
  await other.goto(`${base}/login`);
  await other.getByLabel("Username or email").fill("ada");
  await other.getByLabel("Password").fill("a long passphrase");
  await other.keyboard.press("Enter");
  await expectVisible(other.getByRole("heading", { name: "Dashboard" }));
  await other.goto(`${base}/profile`);
  await other.getByRole("button", { name: "Sign out everywhere" }).click();
  await other.waitForURL(/\/login/);
  await device.close();
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Jobs", exact: true }).click();
  await page.waitForURL(/\/login\?next=%2Fjobs&ended=session_ended/);
  await expectVisible(page.getByText("Your session has ended."));
  await shot("session-ended");
  await page.getByLabel("Password").fill("a long passphrase");
  await page.getByLabel("Username or email").fill("ada");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/\/jobs$/);
  await expectVisible(page.getByRole("link", { name: "My study" }));
  step("a session ended elsewhere: signed in again and back at the jobs");

  if (problems.length > 0) throw new Error(`the console was not clean:\n${problems.join("\n")}`);
  console.log(`journey: passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (e) {
  await page.screenshot({ path: join(shots, "failure.png") }).catch(() => {});
  console.error(`journey: FAILED at ${page.url()}: ${e.stack ?? e}`);
  if (problems.length) console.error(problems.join("\n"));
  process.exitCode = 1;
} finally {
  await browser.close();
}
