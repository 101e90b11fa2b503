// Runs the fip-vcf pre-flight module (built from ../../preflight for
// wasm32-wasip1) over a file read slice by slice through `readSlice`.
// The few WASI imports std links are provided here: a clock (the summary's
// checked_at), random bytes, no environment, stderr captured for panics.

/** What the check found, as the module renders it (InputSummary field names). */
export interface PreflightIssue {
  code: string;
  message: string;
  chromosome: string;
  line: number;
  blocking: boolean;
}

export interface PreflightSummary {
  format: string;
  sample_count: number;
  variant_count: number;
  is_phased: boolean;
  phasing: string;
  chromosome_naming: string;
  naming_matches_build: boolean;
  chromosomes: { chromosome: string; variant_count: number }[];
  detected_build: string | null;
  warnings: PreflightIssue[];
  blocking: PreflightIssue[];
  multiallelic_count: number;
  duplicate_site_count: number;
  malformed_count: number;
  malformed_lines: number[];
  acceptable: boolean;
}

export type PreflightOutcome =
  | { summary: PreflightSummary }
  | { error: { kind: string; code?: string | null; message: string } };

class Exit extends Error {
  constructor(readonly code: number) {
    super(`the check exited with code ${code}`);
  }
}

/**
 * Instantiates `module` and runs the check for `build` (1 hg19, 2 hg38).
 * `readSlice(max)` returns the next bytes of the file (at most `max`), an
 * empty array at the end; it may throw, which fails the read.
 */
export function runPreflight(
  module: WebAssembly.Module,
  build: number,
  readSlice: (max: number) => Uint8Array,
): PreflightOutcome {
  let memory: WebAssembly.Memory | undefined;
  let stderr = "";
  const view = () => new DataView(memory!.buffer);
  const bytes = () => new Uint8Array(memory!.buffer);
  const ERRNO_SUCCESS = 0;
  const ERRNO_BADF = 8;
  const wasi = {
    clock_time_get: (_id: number, _precision: bigint, out: number) => {
      view().setBigUint64(out, BigInt(Date.now()) * 1_000_000n, true);
      return ERRNO_SUCCESS;
    },
    random_get: (ptr: number, len: number) => {
      const target = bytes().subarray(ptr, ptr + len);
      for (let i = 0; i < len; i += 65536) crypto.getRandomValues(target.subarray(i, i + 65536));
      return ERRNO_SUCCESS;
    },
    environ_sizes_get: (count: number, size: number) => {
      view().setUint32(count, 0, true);
      view().setUint32(size, 0, true);
      return ERRNO_SUCCESS;
    },
    environ_get: () => ERRNO_SUCCESS,
    fd_write: (fd: number, iovs: number, iovsLen: number, written: number) => {
      if (fd !== 1 && fd !== 2) return ERRNO_BADF;
      let total = 0;
      const dv = view();
      for (let i = 0; i < iovsLen; i++) {
        const ptr = dv.getUint32(iovs + i * 8, true);
        const len = dv.getUint32(iovs + i * 8 + 4, true);
        stderr += new TextDecoder().decode(bytes().slice(ptr, ptr + len));
        total += len;
      }
      dv.setUint32(written, total, true);
      return ERRNO_SUCCESS;
    },
    proc_exit: (code: number) => {
      throw new Exit(code);
    },
  };
  const fip = {
    read: (ptr: number, len: number) => {
      try {
        const slice = readSlice(len);
        bytes().set(slice, ptr);
        return slice.length;
      } catch {
        return -1;
      }
    },
  };
  const instance = new WebAssembly.Instance(module, { wasi_snapshot_preview1: wasi, fip });
  const exports = instance.exports as {
    memory: WebAssembly.Memory;
    fip_preflight: (build: number) => number;
    fip_result_len: () => number;
    fip_free_result: () => void;
  };
  memory = exports.memory;
  try {
    const ptr = exports.fip_preflight(build);
    const len = exports.fip_result_len();
    const text = new TextDecoder().decode(bytes().slice(ptr, ptr + len));
    exports.fip_free_result();
    return JSON.parse(text) as PreflightOutcome;
  } catch (e) {
    const detail = stderr.trim() || (e instanceof Error ? e.message : String(e));
    return { error: { kind: "crashed", message: `the check stopped: ${detail}` } };
  }
}
