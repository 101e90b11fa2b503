// The pre-flight check in a Web Worker: FileReaderSync gives the module a
// synchronous read of the chosen File, one slice at a time, so memory stays
// constant whatever the file's size.
import { runPreflight } from "./runner";
import wasmUrl from "./fip_preflight.wasm?url";

export interface PreflightRequest {
  file: File;
  build: number;
}

export type PreflightMessage =
  | { type: "progress"; read: number; total: number }
  | { type: "done"; outcome: import("./runner").PreflightOutcome; seconds: number };

declare const FileReaderSync: {
  new (): { readAsArrayBuffer(blob: Blob): ArrayBuffer };
};

let compiled: Promise<WebAssembly.Module> | undefined;

self.onmessage = async (event: MessageEvent<PreflightRequest>) => {
  const { file, build } = event.data;
  compiled ??= WebAssembly.compileStreaming(fetch(wasmUrl));
  const module = await compiled;
  const reader = new FileReaderSync();
  let offset = 0;
  let lastReport = 0;
  const started = performance.now();
  const outcome = runPreflight(module, build, (max) => {
    if (offset >= file.size) return new Uint8Array(0);
    const end = Math.min(file.size, offset + max);
    const slice = new Uint8Array(reader.readAsArrayBuffer(file.slice(offset, end)));
    offset = end;
    const now = performance.now();
    if (now - lastReport > 100) {
      lastReport = now;
      postMessage({ type: "progress", read: offset, total: file.size } satisfies PreflightMessage);
    }
    return slice;
  });
  postMessage({
    type: "done",
    outcome,
    seconds: (performance.now() - started) / 1000,
  } satisfies PreflightMessage);
};
