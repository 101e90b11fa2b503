// The session against an in-memory implementation of the UserService and
// JobService contracts (connect's router transport serves the generated
// service descriptors, so requests and errors cross a real codec).
import { describe, expect, it } from "vitest";
import { Code, ConnectError, createClient, createRouterTransport, type Interceptor } from "@connectrpc/connect";
import { Session, memoryStore } from "@fip/client";
import { UserService } from "@fip/client/gen/fip/user/v1/user_service_pb";
import { JobService } from "@fip/client/gen/fip/jobs/v1/job_service_pb";
import { ErrorInfoSchema } from "@fip/client/gen/google/rpc/error_details_pb";

function unauthenticated(reason: string) {
  return new ConnectError(reason.toLowerCase(), Code.Unauthenticated, undefined, [
    { desc: ErrorInfoSchema, value: { reason, domain: "fip", metadata: { token_kind: "access" } } },
  ]);
}

/** A hub whose access tokens are `access-N`, refresh tokens `refresh-N`; only the newest of each works. */
function hub() {
  const state = { n: 1, refreshes: 0, ended: false };
  const issue = () => ({
    accessToken: `access-${state.n}`,
    tokenType: "bearer",
    expiresIn: 900n,
    refreshToken: `refresh-${state.n}`,
    refreshExpiresIn: 86400n,
    user: { id: 7n, username: "ada" },
  });
  const transport = (interceptors: Interceptor[]) =>
    createRouterTransport(
      ({ service }) => {
        service(UserService, {
          login: () => issue(),
          refreshSession: (req) => {
            state.refreshes++;
            if (state.ended || req.refreshToken !== `refresh-${state.n}`) {
              state.ended = true; // a replayed refresh token ends the session
              throw unauthenticated("SESSION_ENDED");
            }
            state.n++;
            return issue();
          },
        });
        service(JobService, {
          getJob: (req, ctx) => {
            if (state.ended) throw unauthenticated("SESSION_ENDED");
            if (ctx.requestHeader.get("authorization") !== `Bearer access-${state.n}`) throw unauthenticated("TOKEN_EXPIRED");
            return { job: { id: req.id, name: "ok" } };
          },
        });
      },
      { transport: { interceptors } },
    );
  return { state, transport };
}

function setup(store = memoryStore()) {
  const h = hub();
  const session = new Session({ baseUrl: "", store, transport: h.transport([]) });
  const jobs = createClient(JobService, h.transport([session.interceptor]));
  return { state: h.state, session, jobs, store };
}

/** Makes the session hold a token the hub no longer accepts (as after its expiry). */
function forgeExpired(session: Session) {
  (session as unknown as { accessToken: string }).accessToken = "access-0";
}

describe("session", () => {
  it("signs in and keeps the refresh token in the store", async () => {
    const { session, store } = setup();
    const user = await session.login("ada", "pw");
    expect(user.username).toBe("ada");
    expect(store.get()).toBe("refresh-1");
    expect(await session.token()).toBe("access-1");
  });

  it("refreshes once on TOKEN_EXPIRED and retries the call", async () => {
    const { session, jobs, state, store } = setup();
    await session.login("ada", "pw");
    expect((await jobs.getJob({ id: "j1" })).job?.name).toBe("ok");
    expect(state.refreshes).toBe(0);
    // The hub now refuses the token the session holds as expired.
    forgeExpired(session);
    const again = await jobs.getJob({ id: "j2" });
    expect(again.job?.id).toBe("j2");
    expect(state.refreshes).toBe(1);
    expect(store.get()).toBe("refresh-2");
  });

  it("a refresh that fails ends the session instead of retrying forever", async () => {
    const { session, jobs, state } = setup();
    await session.login("ada", "pw");
    forgeExpired(session);
    state.n = 5; // refresh-1 is no longer the newest: the hub ends the session
    await expect(jobs.getJob({ id: "j" })).rejects.toThrow();
    expect(state.refreshes).toBe(1);
    expect(session.signedIn).toBe(false);
  });

  it("resumes from a stored refresh token at page load", async () => {
    const { session } = setup(memoryStore("refresh-1"));
    const user = await session.resume();
    expect(user?.username).toBe("ada");
    expect(await session.token()).toBe("access-2");
  });

  it("a replayed refresh token ends the session and clears the store", async () => {
    const { session, store } = setup(memoryStore("refresh-0"));
    const ended: string[] = [];
    session.onChange((s) => s.ended && ended.push(s.ended));
    expect(await session.resume()).toBeUndefined();
    expect(store.get()).toBeNull();
    expect(session.signedIn).toBe(false);
    expect(ended).toEqual([]); // nobody was signed in yet
  });

  it("SESSION_ENDED on a call signs the user out", async () => {
    const { session, jobs, state, store } = setup();
    await session.login("ada", "pw");
    const ended: string[] = [];
    session.onChange((s) => s.ended && ended.push(s.ended));
    state.ended = true;
    await expect(jobs.getJob({ id: "j" })).rejects.toThrow();
    expect(ended).toEqual(["session_ended"]);
    expect(store.get()).toBeNull();
  });

  it("refreshes at most once when calls fail together", async () => {
    const { session, jobs, state } = setup();
    await session.login("ada", "pw");
    forgeExpired(session);
    await Promise.all([jobs.getJob({ id: "a" }), jobs.getJob({ id: "b" }), jobs.getJob({ id: "c" })]);
    expect(state.refreshes).toBe(1);
  });
});
