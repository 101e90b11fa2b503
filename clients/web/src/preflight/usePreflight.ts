// Runs the pre-flight check on a chosen file in a Web Worker and reports
// progress and the outcome; a new file or build restarts it.
import { useEffect, useState } from "react";
import type { PreflightOutcome } from "./runner";
import type { PreflightMessage } from "./worker";

export type PreflightState =
  | { state: "idle" }
  | { state: "running"; read: number; total: number }
  | { state: "done"; outcome: PreflightOutcome; seconds: number; bytes: number };

export function usePreflight(file: File | undefined, build: number): PreflightState {
  const [state, setState] = useState<PreflightState>({ state: "idle" });
  useEffect(() => {
    if (!file || !build) {
      setState({ state: "idle" });
      return;
    }
    setState({ state: "running", read: 0, total: file.size });
    const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
    worker.onmessage = (e: MessageEvent<PreflightMessage>) => {
      const m = e.data;
      if (m.type === "progress") setState({ state: "running", read: m.read, total: m.total });
      else {
        setState({ state: "done", outcome: m.outcome, seconds: m.seconds, bytes: file.size });
        worker.terminate();
      }
    };
    worker.onerror = (e) => {
      setState({
        state: "done",
        outcome: { error: { kind: "crashed", message: `the check could not run: ${e.message}` } },
        seconds: 0,
        bytes: file.size,
      });
      worker.terminate();
    };
    worker.postMessage({ file, build });
    return () => worker.terminate();
  }, [file, build]);
  return state;
}
