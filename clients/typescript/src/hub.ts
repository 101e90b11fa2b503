// A signed-in connection to a hub, for scripts (Node) and pages alike: the
// session (sign in, renewal before expiry, one refresh and retry on
// TOKEN_EXPIRED), credentials, targets by id or slug, submission, watching
// and waiting, and listings across pages. Every call made through
// `hub.clients` throws FipError subclasses (exceptions.ts).
import {
  createClient,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import { createClients, type FipClients } from "./services.js";
import { UserService } from "./gen/fip/user/v1/user_service_pb.js";
import type { User } from "./gen/fip/user/v1/user_pb.js";
import type { ImputationService } from "./gen/fip/registry/v1/imputation_service_pb.js";
import type { ReferencePanel } from "./gen/fip/registry/v1/reference_panel_pb.js";
import type { ServiceCredential } from "./gen/fip/user/v1/credential_pb.js";
import type { VerifyServiceCredentialResponse } from "./gen/fip/user/v1/credential_pb.js";
import { CredentialType } from "./gen/fip/user/v1/credential_pb.js";
import { JobMode, JobStatus, type Job, type JobTarget } from "./gen/fip/jobs/v1/job_pb.js";
import type { WatchJobResponse } from "./gen/fip/jobs/v1/job_event_pb.js";
import type { ListJobResultsResponse } from "./gen/fip/jobs/v1/job_result_pb.js";
import { GenomeBuild, Phasing } from "./gen/fip/common/v1/genome_pb.js";
import { FipError, SessionEnded, NotFound, TokenExpired, toFipError } from "./exceptions.js";
import { ConnectError, Code } from "@connectrpc/connect";

/** Where the refresh token is kept between runs (each works once: the new one is saved at once). */
export interface RefreshTokenStore {
  get(): string | null | Promise<string | null>;
  set(token: string | null): void | Promise<void>;
}

/** A RefreshTokenStore in memory only. */
export function memoryTokenStore(initial: string | null = null): RefreshTokenStore {
  let token = initial;
  return { get: () => token, set: (t) => void (token = t) };
}

export interface HubOptions {
  /** Makes a transport to the gateway with these interceptors. */
  transport: (interceptors: Interceptor[]) => Transport;
  /** Where the refresh token lives; in memory by default. */
  store?: RefreshTokenStore;
  /** An access token to use as it is (never renewed), e.g. from CI. */
  accessToken?: string;
  /** Renew this long before the access token expires (default 60 s). */
  refreshMarginMs?: number;
  /** Milliseconds since the epoch (tests). */
  now?: () => number;
}

/** A service or panel by numeric id or by slug. */
export type Ref = number | bigint | string;

/** One target of a submission. The build and population default to the panel's. */
export interface TargetSpec {
  service: Ref;
  panel: Ref;
  build?: GenomeBuild;
  phasing?: Phasing;
  population?: string;
}

export interface SubmitOptions {
  name: string;
  inputFileId: string;
  /** One target submits a `SubmitJob`, several a `SubmitMultiServiceJob`. */
  targets: TargetSpec[];
  mode?: JobMode;
  r2Filter?: number;
  validateOnly?: boolean;
  /** An idempotency key: the same key submits once. */
  requestId?: string;
}

/** True for a job that will not change any more. */
export function isFinal(status: JobStatus): boolean {
  return (
    status === JobStatus.COMPLETED ||
    status === JobStatus.FAILED ||
    status === JobStatus.CANCELLED ||
    status === JobStatus.EXPIRED
  );
}

/** One page of any AIP-158 listing. */
interface Page {
  nextPageToken: string;
}

/**
 * Every item of a listing, fetching pages as they are consumed:
 * `for await (const job of paginate(hub.clients.jobs.listJobs, {pageSize: 100}, (r) => r.jobs))`.
 */
export async function* paginate<Req extends { pageToken?: string }, Res extends Page, T>(
  list: (request: Req) => Promise<Res>,
  request: Req,
  items: (response: Res) => T[],
): AsyncGenerator<T> {
  let pageToken = request.pageToken ?? "";
  do {
    const res = await list({ ...request, pageToken });
    yield* items(res);
    pageToken = res.nextPageToken;
  } while (pageToken);
}

function asBigint(ref: Ref): bigint | undefined {
  if (typeof ref === "bigint") return ref;
  if (typeof ref === "number") return BigInt(ref);
  return /^[0-9]+$/.test(ref) ? BigInt(ref) : undefined;
}

function notFound(message: string): FipError {
  return new NotFound(new ConnectError(message, Code.NotFound), {
    code: Code.NotFound,
    status: "NOT_FOUND",
    reason: "NOT_FOUND",
    message,
    metadata: {},
    fieldViolations: [],
    retryAfterSeconds: 0,
    help: [],
  });
}

/** A connection to one hub. */
export class Hub {
  /** Every public service, authenticated, throwing FipError subclasses. */
  readonly clients: FipClients;
  private readonly users;
  private readonly store: RefreshTokenStore;
  private readonly now: () => number;
  private readonly margin: number;
  private readonly fixedToken: string | undefined;
  private access = "";
  private expiresAt = 0;
  private inflight: Promise<void> | undefined;
  private current: User | undefined;

  constructor(options: HubOptions) {
    this.store = options.store ?? memoryTokenStore();
    this.now = options.now ?? Date.now;
    this.margin = options.refreshMarginMs ?? 60_000;
    this.fixedToken = options.accessToken;
    this.users = throwingFipErrors(createClient(UserService, options.transport([])));
    const clients = createClients(options.transport([this.authInterceptor]));
    this.clients = Object.fromEntries(
      Object.entries(clients).map(([name, client]) => [name, throwingFipErrors(client)]),
    ) as unknown as FipClients;
  }

  /** The signed-in user (after `login` or a refresh). */
  get user(): User | undefined {
    return this.current;
  }

  /** Signs in; keeps the access token in memory and the refresh token in the store. */
  async login(username: string, password: string): Promise<User> {
    const res = await this.users.login({ username, password });
    this.access = res.accessToken;
    this.expiresAt = this.now() + Number(res.expiresIn) * 1000;
    this.current = res.user;
    await this.store.set(res.refreshToken);
    return res.user!;
  }

  /** Ends the session on the hub (every session with `allSessions`) and forgets the tokens. */
  async logout(allSessions = false): Promise<void> {
    try {
      await this.clients.users.logout({ allSessions });
    } finally {
      this.access = "";
      this.expiresAt = 0;
      this.current = undefined;
      await this.store.set(null);
    }
  }

  /**
   * Trades the stored refresh token for a new pair, saving the new refresh
   * token before anything else (the old one no longer works). One refresh
   * runs at a time. Throws SessionEnded when the session is over.
   */
  refresh(): Promise<void> {
    this.inflight ??= this.doRefresh().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async doRefresh(): Promise<void> {
    const token = await this.store.get();
    if (!token) throw sessionEnded("not signed in: call login first");
    let res;
    try {
      res = await this.users.refreshSession({ refreshToken: token });
    } catch (e) {
      const err = toFipError(e);
      if (err.error.code === Code.Unauthenticated) {
        this.access = "";
        this.current = undefined;
        await this.store.set(null);
        throw err instanceof SessionEnded ? err : new SessionEnded(err, err.error);
      }
      throw err;
    }
    await this.store.set(res.refreshToken);
    this.access = res.accessToken;
    this.expiresAt = this.now() + Number(res.expiresIn) * 1000;
    this.current = res.user;
  }

  /** A valid access token, renewed first when it expires within the margin. */
  async accessToken(): Promise<string> {
    if (this.fixedToken) return this.fixedToken;
    if (!this.access || this.now() >= this.expiresAt - this.margin) await this.refresh();
    return this.access;
  }

  private authInterceptor: Interceptor = (next) => async (req) => {
    req.header.set("authorization", `Bearer ${await this.accessToken()}`);
    try {
      return await next(req);
    } catch (e) {
      // A unary request can be sent again; streams are reopened by their callers.
      const err = toFipError(e);
      if (err instanceof TokenExpired && !this.fixedToken && req.method.methodKind === "unary") {
        await this.refresh();
        req.header.set("authorization", `Bearer ${this.access}`);
        return await next(req);
      }
      throw e;
    }
  };

  /** A service by id or slug. */
  async service(ref: Ref): Promise<ImputationService> {
    const id = asBigint(ref);
    if (id !== undefined) return (await this.clients.registry.getService({ id })).service!;
    for await (const s of paginate(
      this.clients.registry.listServices,
      { pageSize: 100 },
      (r) => r.services,
    )) {
      if (s.slug === ref) return s;
    }
    throw notFound(`no service ${ref}`);
  }

  /** A panel of `service` by id or slug. */
  async panel(service: ImputationService, ref: Ref): Promise<ReferencePanel> {
    const id = asBigint(ref);
    for await (const p of paginate(
      this.clients.registry.listReferencePanels,
      { pageSize: 100, serviceId: service.id },
      (r) => r.referencePanels,
    )) {
      if (id !== undefined ? p.id === id : p.slug === ref) return p;
    }
    throw notFound(`no panel ${ref} on ${service.slug}`);
  }

  /** A target with ids, the build and population defaulting to the panel's. */
  async target(spec: TargetSpec): Promise<JobTarget> {
    const service = await this.service(spec.service);
    const panel = await this.panel(service, spec.panel);
    return {
      $typeName: "fip.jobs.v1.JobTarget",
      serviceId: service.id,
      referencePanelId: panel.id,
      build: spec.build ?? panel.build,
      phasing: spec.phasing ?? Phasing.UNSPECIFIED,
      population: spec.population ?? panel.defaultPopulation,
    };
  }

  /** Stores (or replaces) this user's API token for a service. */
  async putCredential(service: Ref, apiToken: string, label = ""): Promise<ServiceCredential> {
    const s = await this.service(service);
    const res = await this.clients.credentials.putServiceCredential({
      serviceId: s.id,
      credentialType: CredentialType.API_TOKEN,
      apiToken,
      label,
    });
    return res.credential!;
  }

  /** Asks the external server whether it accepts the stored token ("Test connection"). */
  async testCredential(service: Ref): Promise<VerifyServiceCredentialResponse> {
    const s = await this.service(service);
    return this.clients.credentials.verifyServiceCredential({ serviceId: s.id });
  }

  /** Submits to one target (SubmitJob) or several (SubmitMultiServiceJob); the job, or the parent. */
  async submit(options: SubmitOptions): Promise<Job> {
    if (options.targets.length === 0) throw new Error("submit needs at least one target");
    const targets = await Promise.all(options.targets.map((t) => this.target(t)));
    const common = {
      name: options.name,
      inputFileId: options.inputFileId,
      mode: options.mode ?? JobMode.IMPUTATION,
      r2Filter: options.r2Filter,
      validateOnly: options.validateOnly ?? false,
      requestId: options.requestId ?? "",
    };
    if (targets.length === 1) {
      const t = targets[0];
      const res = await this.clients.jobs.submitJob({
        ...common,
        serviceId: t.serviceId,
        referencePanelId: t.referencePanelId,
        build: t.build,
        phasing: t.phasing,
        population: t.population,
      });
      return res.job!;
    }
    const res = await this.clients.jobs.submitMultiServiceJob({ ...common, targets });
    return res.parentJob!;
  }

  /**
   * The job's `WatchJob` stream: the job as it is, then every change, ending
   * after the job is final. A broken stream is opened again (it starts with
   * the current state, so nothing is missed), after a refresh when the token
   * expired.
   */
  async *watch(jobId: string, options: { includeLogs?: boolean; signal?: AbortSignal } = {}): AsyncGenerator<WatchJobResponse> {
    let failures = 0;
    for (;;) {
      try {
        for await (const message of this.clients.jobs.watchJob(
          { id: jobId, includeLogs: options.includeLogs ?? false },
          { signal: options.signal },
        )) {
          failures = 0;
          yield message;
          if (message.job && isFinal(message.job.status)) return;
        }
      } catch (e) {
        const err = toFipError(e);
        if (err instanceof TokenExpired && !this.fixedToken) {
          await this.refresh();
          continue;
        }
        if (err.error.code !== Code.Unavailable || ++failures > 5 || options.signal?.aborted) throw err;
        await new Promise((r) => setTimeout(r, 200 * 2 ** failures));
        continue;
      }
      // The server closed the stream before the job ended: open it again.
    }
  }

  /** Waits for the job to end and returns it; `onUpdate` sees every message. */
  async wait(jobId: string, onUpdate?: (message: WatchJobResponse) => void): Promise<Job> {
    let last: Job | undefined;
    for await (const message of this.watch(jobId, { includeLogs: Boolean(onUpdate) })) {
      onUpdate?.(message);
      if (message.job) last = message.job;
    }
    return last!;
  }

  /** The result files of a job (a parent's are its children's: see `resultJobs`). */
  async results(jobId: string): Promise<ListJobResultsResponse> {
    return this.clients.jobs.listJobResults({ jobId });
  }

  /** The jobs that hold results: the job itself, or each child of a multi-target job. */
  async resultJobs(job: Job | string): Promise<string[]> {
    const j = typeof job === "string" ? (await this.clients.jobs.getJob({ id: job })).job! : job;
    return j.childJobIds.length ? [...j.childJobIds] : [j.id];
  }
}

function sessionEnded(message: string): SessionEnded {
  return new SessionEnded(new ConnectError(message, Code.Unauthenticated), {
    code: Code.Unauthenticated,
    status: "UNAUTHENTICATED",
    reason: "SESSION_ENDED",
    message,
    metadata: {},
    fieldViolations: [],
    retryAfterSeconds: 0,
    help: [],
  });
}

/**
 * The same client whose calls, and whose streams' messages, throw the
 * FipError subclass of their reason. (Outside the transport: the client
 * would wrap anything an interceptor throws that is not a plain ConnectError.)
 */
function throwingFipErrors<C extends object>(client: C): C {
  const wrapped: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(client)) {
    wrapped[name] = (...args: unknown[]) => {
      let result: unknown;
      try {
        result = (method as (...a: unknown[]) => unknown)(...args);
      } catch (e) {
        throw toFipError(e);
      }
      if (result instanceof Promise) return result.catch((e) => Promise.reject(toFipError(e)));
      if (result && typeof result === "object" && Symbol.asyncIterator in result) {
        const messages = result as AsyncIterable<unknown>;
        return (async function* () {
          try {
            yield* messages;
          } catch (e) {
            throw toFipError(e);
          }
        })();
      }
      return result;
    };
  }
  return wrapped as C;
}
