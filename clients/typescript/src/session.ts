// A signed-in session: the short-lived access token in memory, the refresh
// token in a store (localStorage in browsers) so that reloads and other tabs
// stay signed in. Refresh tokens rotate (each works once; a replayed one ends
// the session), so a refresh runs under a cross-tab Web Lock and always reads
// the newest refresh token from the store first.
import { createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { UserService } from "./gen/fip/user/v1/user_service_pb.js";
import type { User } from "./gen/fip/user/v1/user_pb.js";
import { apiError, reasonOf } from "./errors.js";

/** Where the refresh token lives between page loads. */
export interface TokenStore {
  get(): string | null;
  set(token: string | null): void;
  /** Calls `changed` when another tab changes the token; returns the unsubscribe. */
  subscribe?(changed: (token: string | null) => void): () => void;
}

/** A TokenStore over `window.localStorage` (shared by the origin's tabs). */
export function localStorageStore(key = "fip.refresh_token"): TokenStore {
  return {
    get: () => {
      try {
        return window.localStorage.getItem(key);
      } catch {
        return null;
      }
    },
    set: (token) => {
      try {
        if (token) window.localStorage.setItem(key, token);
        else window.localStorage.removeItem(key);
      } catch {
        // Storage refused (private mode quota): the session lasts this page.
      }
    },
    subscribe: (changed) => {
      const listener = (e: StorageEvent) => {
        if (e.key === key) changed(e.newValue);
      };
      window.addEventListener("storage", listener);
      return () => window.removeEventListener("storage", listener);
    },
  };
}

/** A TokenStore in memory only (tests, non-browser callers). */
export function memoryStore(initial: string | null = null): TokenStore {
  let token = initial;
  return { get: () => token, set: (t) => void (token = t) };
}

/** Why a session is no longer signed in. */
export type EndReason =
  | "signed_out"
  | "session_ended"
  | "token_expired"
  | "token_invalid"
  | "other_tab";

export interface SessionState {
  user: User | undefined;
  /** Set when the session just ended (not at start-up without a session). */
  ended?: EndReason;
}

export interface SessionOptions {
  /** The gateway, e.g. `https://hub.example.org` or `""` for the page's origin. */
  baseUrl: string;
  store?: TokenStore;
  /** A transport for the unauthenticated calls (login, refresh); gRPC-web by default. */
  transport?: Transport;
  /** Milliseconds since the epoch (tests). */
  now?: () => number;
  /** Refresh this long before the access token expires. */
  refreshMarginMs?: number;
}

interface Tokens {
  accessToken: string;
  expiresIn: bigint;
  refreshToken: string;
  user?: User;
}

/** The signed-in user's tokens and the interceptor that sends them. */
export class Session {
  private accessToken = "";
  private expiresAt = 0;
  private current: User | undefined;
  private inflight: Promise<boolean> | undefined;
  private listeners = new Set<(state: SessionState) => void>();
  private readonly store: TokenStore;
  private readonly users;
  private readonly now: () => number;
  private readonly margin: number;
  private unsubscribe: (() => void) | undefined;

  constructor(options: SessionOptions) {
    this.store = options.store ?? memoryStore();
    const transport =
      options.transport ?? createGrpcWebTransport({ baseUrl: options.baseUrl || "/" });
    this.users = createClient(UserService, transport);
    this.now = options.now ?? Date.now;
    this.margin = options.refreshMarginMs ?? 30_000;
    this.unsubscribe = this.store.subscribe?.((token) => {
      // Another tab signed out: so does this one. (A rotation by another
      // tab needs nothing: the next refresh reads the new token.)
      if (!token && this.current) this.end("other_tab", false);
    });
  }

  /** The signed-in user, if any. */
  get user(): User | undefined {
    return this.current;
  }

  get signedIn(): boolean {
    return this.current !== undefined;
  }

  /** Calls `listener` on every sign-in and sign-out; returns the unsubscribe. */
  onChange(listener: (state: SessionState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(state: SessionState) {
    for (const l of this.listeners) l(state);
  }

  private accept(tokens: Tokens) {
    this.accessToken = tokens.accessToken;
    this.expiresAt = this.now() + Number(tokens.expiresIn) * 1000;
    // An empty refresh token (a hub without sessions) keeps the session to
    // this access token's lifetime.
    this.store.set(tokens.refreshToken || null);
    if (tokens.user) this.current = tokens.user;
    this.emit({ user: this.current });
  }

  /** Signs in; throws the platform error (e.g. LOGIN_FAILED) otherwise. */
  async login(username: string, password: string): Promise<User> {
    const res = await this.users.login({ username, password });
    this.accept(res);
    return res.user!;
  }

  /**
   * Resumes the session a stored refresh token stands for (at page load).
   * Resolves to the user, or undefined when there is none or it ended.
   */
  async resume(): Promise<User | undefined> {
    if (!this.store.get()) return undefined;
    await this.refresh();
    return this.current;
  }

  /** True when a refresh token is at hand. */
  get canRefresh(): boolean {
    return !!this.store.get();
  }

  /**
   * Trades the stored refresh token for new tokens, once at a time across
   * tabs. Resolves false (and ends the session) when the hub refuses it.
   */
  refresh(): Promise<boolean> {
    this.inflight ??= this.refreshLocked().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async refreshLocked(): Promise<boolean> {
    const run = async () => {
      const token = this.store.get();
      if (!token) {
        if (this.current) this.end("token_expired", false);
        return false;
      }
      try {
        const res = await this.users.refreshSession({ refreshToken: token });
        this.accept(res);
        return true;
      } catch (e) {
        const reason = reasonOf(e);
        if (reason === "SESSION_ENDED" || reason === "ACCOUNT_DISABLED" || reason === "TOKEN_INVALID") {
          this.end("session_ended", true);
          return false;
        }
        // The hub is unreachable: keep the refresh token for a later try.
        throw e;
      }
    };
    const locks = typeof navigator !== "undefined" ? navigator.locks : undefined;
    return locks ? locks.request("fip-session-refresh", run) : run();
  }

  /** An access token valid for at least the refresh margin, or "" when signed out. */
  async token(): Promise<string> {
    if (!this.accessToken) return "";
    if (this.expiresAt - this.now() < this.margin && this.canRefresh) {
      await this.refresh().catch(() => false);
    }
    return this.accessToken;
  }

  /** Ends the session on the hub (every session with `allSessions`) and here. */
  async logout(allSessions = false, transport?: Transport): Promise<void> {
    try {
      if (this.accessToken) {
        const users = transport ? createClient(UserService, transport) : this.users;
        await users.logout(
          { allSessions },
          { headers: { authorization: `Bearer ${await this.token()}` } },
        );
      }
    } catch {
      // Signed out here whatever the hub said: the token is gone either way.
    } finally {
      this.end("signed_out", true);
    }
  }

  /** Forgets the tokens and tells the listeners. */
  end(reason: EndReason, clearStore: boolean) {
    const wasSignedIn = this.current !== undefined || this.accessToken !== "";
    this.accessToken = "";
    this.expiresAt = 0;
    this.current = undefined;
    if (clearStore) this.store.set(null);
    if (wasSignedIn) this.emit({ user: undefined, ended: reason });
  }

  /** Sets the user (after a profile change). */
  setUser(user: User) {
    this.current = user;
    this.emit({ user });
  }

  dispose() {
    this.unsubscribe?.();
    this.listeners.clear();
  }

  /**
   * Sends the access token on every call. A unary call refused with
   * TOKEN_EXPIRED is retried once after a refresh; SESSION_ENDED (or a
   * refresh that fails) ends the session, so the app can send the user to
   * sign in and back.
   */
  readonly interceptor: Interceptor = (next) => async (req) => {
    const token = await this.token();
    if (token) req.header.set("authorization", `Bearer ${token}`);
    try {
      return await next(req);
    } catch (e) {
      const error = apiError(e);
      if (error.reason === "TOKEN_EXPIRED" && error.metadata.token_kind !== "download_link") {
        if (!req.stream && (await this.refresh().catch(() => false))) {
          req.header.set("authorization", `Bearer ${this.accessToken}`);
          return await next(req);
        }
        if (!this.canRefresh) this.end("token_expired", true);
      } else if (error.reason === "SESSION_ENDED") {
        this.end("session_ended", true);
      } else if (
        error.reason === "TOKEN_INVALID" &&
        (error.metadata.token_kind ?? "access") === "access" &&
        token
      ) {
        this.end("token_invalid", true);
      }
      throw e;
    }
  };
}
