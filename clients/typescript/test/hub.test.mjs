// The Hub's session logic and error classes against in-memory services
// (connect's router transport): no hub needed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createRouterTransport } from "@connectrpc/connect";
import { ErrorInfoSchema, RetryInfoSchema } from "@fip/client/gen/google/rpc/error_details_pb";
import { UserService } from "@fip/client/gen/fip/user/v1/user_service_pb";
import { JobService } from "@fip/client/gen/fip/jobs/v1/job_service_pb";
import {
  Hub,
  fileTokenStore,
  memoryTokenStore,
  paginate,
  toFipError,
  CredentialsMissing,
  FipError,
  LoginThrottled,
  SessionEnded,
} from "@fip/client/node";

const fail = (code, reason, metadata = {}, extra = []) =>
  new ConnectError(reason.toLowerCase(), code, undefined, [
    { desc: ErrorInfoSchema, value: { reason, domain: "fip", metadata } },
    ...extra,
  ]);

/** A user and a job service: tokens rotate, `expireNext` makes the next GetJob answer TOKEN_EXPIRED. */
function fakeHub(store) {
  const state = { generation: 0, refreshes: 0, expireNext: false, used: new Set(), seen: [] };
  const routes = (router) => {
    router.service(UserService, {
      login: () => ({ accessToken: "access-0", expiresIn: 900n, refreshToken: "refresh-0", user: { username: "ada" } }),
      refreshSession: (req) => {
        if (state.used.has(req.refreshToken)) throw fail(Code.Unauthenticated, "SESSION_ENDED");
        state.used.add(req.refreshToken);
        state.refreshes++;
        state.generation++;
        return { accessToken: `access-${state.generation}`, expiresIn: 900n, refreshToken: `refresh-${state.generation}` };
      },
    });
    router.service(JobService, {
      getJob: (req, ctx) => {
        state.seen.push(ctx.requestHeader.get("authorization"));
        if (state.expireNext) {
          state.expireNext = false;
          throw fail(Code.Unauthenticated, "TOKEN_EXPIRED");
        }
        return { job: { id: req.id } };
      },
      listJobs: (req) => {
        const start = Number(req.pageToken || 0);
        const jobs = [0, 1, 2, 3, 4].slice(start, start + req.pageSize).map((i) => ({ id: `job-${i}` }));
        return { jobs, nextPageToken: start + req.pageSize < 5 ? String(start + req.pageSize) : "" };
      },
      submitJob: () => {
        throw fail(Code.FailedPrecondition, "CREDENTIALS_MISSING", { service_id: "3", settings_path: "/settings/services/3" });
      },
    });
  };
  const hub = new Hub({
    store,
    transport: (interceptors) => createRouterTransport(routes, { transport: { interceptors } }),
  });
  return { hub, state };
}

test("TOKEN_EXPIRED refreshes once and sends the call again with the new token", async () => {
  const store = memoryTokenStore();
  const { hub, state } = fakeHub(store);
  await hub.login("ada", "pw");
  state.expireNext = true;
  const res = await hub.clients.jobs.getJob({ id: "j1" });
  assert.equal(res.job.id, "j1");
  assert.deepEqual(state.seen, ["Bearer access-0", "Bearer access-1"]);
  assert.equal(store.get(), "refresh-1", "the rotated refresh token is kept");
});

test("concurrent renewals spend the refresh token once", async () => {
  const { hub, state } = fakeHub(memoryTokenStore());
  await hub.login("ada", "pw");
  await Promise.all([hub.refresh(), hub.refresh(), hub.refresh()]);
  assert.equal(state.refreshes, 1);
});

test("a replayed refresh token is SessionEnded and clears the store", async () => {
  const store = memoryTokenStore();
  const { hub } = fakeHub(store);
  await hub.login("ada", "pw");
  await hub.refresh();
  store.set("refresh-0");
  await assert.rejects(hub.refresh(), (e) => e instanceof SessionEnded && e.reason === "SESSION_ENDED");
  assert.equal(store.get(), null);
});

test("errors become their classes with the reason's metadata", async () => {
  const { hub } = fakeHub(memoryTokenStore());
  await hub.login("ada", "pw");
  await assert.rejects(hub.clients.jobs.submitJob({}), (e) => {
    assert.ok(e instanceof CredentialsMissing && e instanceof FipError);
    assert.equal(e.serviceId, 3);
    assert.equal(e.settingsPath, "/settings/services/3");
    return true;
  });
  const throttled = toFipError(
    fail(Code.ResourceExhausted, "LOGIN_THROTTLED", {}, [
      { desc: RetryInfoSchema, value: { retryDelay: { seconds: 60n, nanos: 0 } } },
    ]),
  );
  assert.ok(throttled instanceof LoginThrottled);
  assert.equal(throttled.retryAfterSeconds, 60);
  assert.ok(!(new ConnectError("x") instanceof FipError), "a plain ConnectError is no FipError");
});

test("paginate reads every page", async () => {
  const { hub } = fakeHub(memoryTokenStore());
  await hub.login("ada", "pw");
  const ids = [];
  for await (const j of paginate(hub.clients.jobs.listJobs, { pageSize: 2 }, (r) => r.jobs)) ids.push(j.id);
  assert.deepEqual(ids, ["job-0", "job-1", "job-2", "job-3", "job-4"]);
});

test("fileTokenStore writes a private file and forgets on null", async () => {
  const path = join(await mkdtemp(join(tmpdir(), "fip-sdk-")), "sub", "token");
  const store = fileTokenStore(path);
  assert.equal(await store.get(), null);
  await store.set("secret");
  assert.equal(await readFile(path, "utf8"), "secret");
  assert.equal((await stat(path)).mode & 0o777, 0o600);
  await store.set(null);
  assert.equal(await store.get(), null);
});
