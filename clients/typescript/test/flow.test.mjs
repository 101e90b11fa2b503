// The SDK's whole flow over gRPC on HTTP/2 against a real hub and the
// Cloudgene emulator, started by tests/e2e/typescript_sdk.rs (which sets the
// FIP_* variables): sign-in, renewal, a missing credential, storing and
// testing one, a streamed upload, a two-target submission, watching and
// waiting, listing across pages, verified (and resumed, and refused)
// downloads, and a replayed refresh token ending the session.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile, stat, writeFile, mkdir, access } from "node:fs/promises";
import { join } from "node:path";
import {
  connect,
  fileTokenStore,
  memoryTokenStore,
  paginate,
  CredentialsMissing,
  FipError,
  IntegrityCheckFailed,
  LoginFailed,
  SessionEnded,
} from "@fip/client/node";
import { JobStatus } from "@fip/client/gen/fip/jobs/v1/job_pb";

const env = process.env;
const skip = env.FIP_URL ? false : "needs a hub: tests/e2e/typescript_sdk.rs sets FIP_URL and the rest";

const sha256 = async (path) => createHash("sha256").update(await readFile(path)).digest("hex");

test("from sign-in to a verified download", { skip, timeout: 180_000 }, async (t) => {
  const work = env.FIP_WORK_DIR;
  const tokenFile = join(work, "config", "refresh-token");
  const hub = connect({ url: env.FIP_URL, store: fileTokenStore(tokenFile) });

  await t.test("a wrong password is LoginFailed", async () => {
    await assert.rejects(hub.login(env.FIP_USERNAME, "not the password"), (e) => {
      assert.ok(e instanceof LoginFailed && e instanceof FipError, `${e}`);
      assert.equal(e.reason, "LOGIN_FAILED");
      return true;
    });
  });

  const user = await hub.login(env.FIP_USERNAME, env.FIP_PASSWORD);
  assert.equal(user.username, env.FIP_USERNAME);
  const firstRefresh = (await readFile(tokenFile, "utf8")).trim();
  assert.ok(firstRefresh.length > 20, "the refresh token is saved");
  assert.equal((await stat(tokenFile)).mode & 0o777, 0o600, "the token file is private");

  await t.test("the session is renewed before the access token expires", async () => {
    let clock = Date.now();
    const other = connect({ url: env.FIP_URL, store: fileTokenStore(tokenFile), now: () => clock });
    await other.refresh();
    const second = (await readFile(tokenFile, "utf8")).trim();
    assert.notEqual(second, firstRefresh, "each refresh saves the new refresh token");
    const services = [];
    for await (const s of paginate(other.clients.registry.listServices, {}, (r) => r.services)) services.push(s);
    assert.ok(services.some((s) => s.slug === env.FIP_SERVICE_SLUG));
    assert.equal((await readFile(tokenFile, "utf8")).trim(), second, "a fresh token is not renewed");
    // 14.5 minutes later the 15-minute token is within the renewal margin.
    clock += 14.5 * 60_000;
    await other.clients.registry.listServices({});
    const third = (await readFile(tokenFile, "utf8")).trim();
    assert.notEqual(third, second, "the call renewed the session first");
    // `hub` reads the newest token from the same file when it refreshes.
    await hub.refresh();
    assert.notEqual((await readFile(tokenFile, "utf8")).trim(), third);
  });

  const vcf = env.FIP_VCF;
  const size = (await stat(vcf)).size;
  const seen = [];
  const file = await hub.upload(vcf, { onProgress: (p) => seen.push(p.bytes) });
  assert.equal(file.sha256, await sha256(vcf), "the hub stored exactly the file's bytes");
  assert.equal(Number(file.sizeBytes), size);
  assert.equal(seen.at(-1), size, "progress reaches the whole size");

  const targets = [
    { service: env.FIP_SERVICE_SLUG, panel: env.FIP_PANEL_SLUG },
    { service: Number(env.FIP_SERVICE_ID), panel: Number(env.FIP_SECOND_PANEL_ID) },
  ];

  await t.test("a submission without a credential is CredentialsMissing", async () => {
    await assert.rejects(hub.submit({ name: "no credential", inputFileId: file.id, targets: targets.slice(0, 1) }), (e) => {
      assert.ok(e instanceof CredentialsMissing, `${e}`);
      assert.equal(e.serviceId, Number(env.FIP_SERVICE_ID));
      assert.match(e.settingsPath, /\S/);
      return true;
    });
  });

  const credential = await hub.putCredential(env.FIP_SERVICE_SLUG, env.FIP_REMOTE_TOKEN, "sdk test");
  assert.ok(credential.hasApiToken);
  const verified = await hub.testCredential(Number(env.FIP_SERVICE_ID));
  assert.equal(verified.valid, true, verified.message);

  const parent = await hub.submit({ name: "sdk study", inputFileId: file.id, targets });
  assert.equal(parent.childJobIds.length, 2, "two targets make a parent with two children");

  const statuses = [];
  const done = await hub.wait(parent.id, (m) => m.job && statuses.push(m.job.status));
  if (done.status !== JobStatus.COMPLETED) {
    const children = await Promise.all(parent.childJobIds.map((id) => hub.clients.jobs.getJob({ id })));
    assert.fail(`job ${JobStatus[done.status]}: ${children.map((c) => `${c.job.referencePanelName}: ${c.job.errorMessage}`).join("; ")}`);
  }
  assert.ok(statuses.length >= 2, "the watch saw the job change before it ended");

  await t.test("a watch of a finished job yields its state and ends", async () => {
    const messages = [];
    for await (const m of hub.watch(parent.id)) messages.push(m);
    assert.equal(messages.length, 1);
    assert.equal(messages[0].job.status, JobStatus.COMPLETED);
  });

  await t.test("listings are read across pages", async () => {
    const ids = [];
    let pages = 0;
    const list = (req) => {
      pages++;
      return hub.clients.jobs.listJobs(req);
    };
    for await (const job of paginate(list, { pageSize: 1 }, (r) => r.jobs)) ids.push(job.id);
    assert.ok(ids.includes(parent.id));
    assert.equal(new Set(ids).size, ids.length, "no job twice");
    assert.ok(pages >= ids.length, "one job a page");
  });

  const out = join(work, "results");
  const downloaded = await hub.downloadResults(parent.id, out);
  assert.ok(downloaded.length >= 2, "each child has results");
  for (const child of parent.childJobIds) {
    const listing = await hub.results(child);
    for (const r of listing.files) {
      const d = downloaded.find((x) => x.fileId === r.fileId);
      assert.ok(d, `${r.name} downloaded`);
      assert.equal(d.path, join(out, child, r.name));
      assert.equal(await sha256(d.path), r.sha256, `${r.name}: every byte as the hub has it`);
    }
  }

  await t.test("a partial download resumes; a corrupt one is refused and deleted", async () => {
    const first = downloaded[0];
    const bytes = await readFile(first.path);
    const again = join(work, "again", "result");
    await mkdir(join(work, "again"), { recursive: true });
    await writeFile(`${again}.part`, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const resumed = await hub.download(first.fileId, again, first.sha256);
    assert.equal(await sha256(again), first.sha256);
    assert.equal(resumed.sizeBytes, bytes.length);

    const corrupt = join(work, "again", "corrupt");
    const bad = Buffer.from(bytes.subarray(0, 8));
    bad[0] ^= 0xff;
    await writeFile(`${corrupt}.part`, bad);
    await assert.rejects(hub.download(first.fileId, corrupt, first.sha256), (e) => {
      assert.ok(e instanceof IntegrityCheckFailed, `${e}`);
      assert.equal(e.meta.expected_sha256, first.sha256);
      return true;
    });
    await assert.rejects(access(corrupt));
    await assert.rejects(access(`${corrupt}.part`));
  });

  await t.test("a replayed refresh token ends the session", async () => {
    const thief = connect({ url: env.FIP_URL, store: memoryTokenStore(firstRefresh) });
    await assert.rejects(thief.refresh(), (e) => e instanceof SessionEnded);
    // The owner's session ended with it: the next renewal says so.
    await assert.rejects(hub.refresh(), (e) => e instanceof SessionEnded);
    await assert.rejects(hub.clients.jobs.getJob({ id: parent.id }), (e) => e instanceof SessionEnded);
  });
});
