// Loading a value once (and again on demand), and following a server stream.
import { useCallback, useEffect, useRef, useState } from "react";
import { Code } from "@connectrpc/connect";
import { apiError, type ApiError } from "@fip/client";
import { session } from "./api";

export interface Query<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` on mount and whenever `deps` change; the last answer wins. */
export function useQuery<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): Query<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<ApiError>();
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const loader = useRef(load);
  loader.current = load;
  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    loader
      .current(controller.signal)
      .then((value) => {
        if (controller.signal.aborted) return;
        setData(value);
        setError(undefined);
      })
      .catch((e) => {
        if (controller.signal.aborted) return;
        setError(apiError(e));
      })
      .finally(() => {
        if (!controller.signal.aborted) setLoading(false);
      });
    return () => controller.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}

export interface StreamOptions {
  /** Called when the stream ends on its own; return true to open it again. */
  reopenOnEnd?: boolean;
}

/**
 * Follows a server stream: `open(signal)` returns its messages. A stream
 * that breaks (network, gateway restart) is opened again with backoff; an
 * expired access token is refreshed first. Other platform errors stop it
 * and are reported. No polling: every update arrives on the stream.
 */
export function useStream<T>(
  open: ((signal: AbortSignal) => AsyncIterable<T>) | undefined,
  onMessage: (message: T) => void,
  deps: unknown[],
  options: StreamOptions = {},
): { error: ApiError | undefined; connected: boolean } {
  const [error, setError] = useState<ApiError>();
  const [connected, setConnected] = useState(false);
  const handler = useRef(onMessage);
  handler.current = onMessage;
  useEffect(() => {
    if (!open) return;
    const controller = new AbortController();
    const signal = controller.signal;
    (async () => {
      let failures = 0;
      while (!signal.aborted) {
        try {
          setConnected(true);
          for await (const message of open(signal)) {
            failures = 0;
            setError(undefined);
            handler.current(message);
          }
          if (!options.reopenOnEnd) break;
        } catch (e) {
          if (signal.aborted) break;
          const err = apiError(e);
          if (err.reason === "TOKEN_EXPIRED" && session.canRefresh) {
            if (await session.refresh().catch(() => false)) continue;
          }
          const transient =
            err.code === Code.Unavailable ||
            err.code === Code.Unknown ||
            err.code === Code.DeadlineExceeded ||
            err.code === Code.Internal && err.reason === "UNAVAILABLE";
          if (!transient) {
            setError(err);
            break;
          }
          failures++;
          setError(failures > 2 ? err : undefined);
        } finally {
          setConnected(false);
        }
        // Back off before reopening: 0.5 s, 1 s, 2 s ... at most 15 s.
        const wait = Math.min(15_000, 500 * 2 ** Math.max(0, failures - 1));
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, failures === 0 ? 250 : wait);
          signal.addEventListener("abort", () => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    })();
    return () => controller.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return { error, connected };
}

/** A value that follows `value` after `ms` without change. */
export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}
