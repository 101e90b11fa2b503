// @vitest-environment node
// The real fip-vcf check compiled to WebAssembly (scripts/build-web), run
// as the Web Worker runs it: the file read slice by slice.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { runPreflight, type PreflightOutcome } from "../src/preflight/runner";

const module = new WebAssembly.Module(readFileSync(new URL("../src/preflight/fip_preflight.wasm", import.meta.url)));

function vcf(samples: number, chrom: string, positions: number[]): Uint8Array {
  const cols = Array.from({ length: samples }, (_, i) => `s${i}`).join("\t");
  let text = `##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t${cols}\n`;
  for (const p of positions) text += `${chrom}\t${p}\t.\tA\tG\t.\tPASS\t.\tGT\t${Array(samples).fill("0|1").join("\t")}\n`;
  return new TextEncoder().encode(text);
}

function check(bytes: Uint8Array, build: number, slice = 7): { outcome: PreflightOutcome; reads: number } {
  let offset = 0;
  let reads = 0;
  const outcome = runPreflight(module, build, (max) => {
    reads++;
    const n = Math.min(max, slice, bytes.length - offset);
    const out = bytes.subarray(offset, offset + n);
    offset += n;
    return out;
  });
  return { outcome, reads };
}

describe("the pre-flight check in WebAssembly", () => {
  it("passes a good file, read in small slices", () => {
    const { outcome, reads } = check(vcf(25, "20", [100000, 200000, 300000]), 1);
    expect(reads).toBeGreaterThan(10);
    expect("summary" in outcome && outcome.summary).toMatchObject({
      acceptable: true,
      sample_count: 25,
      variant_count: 3,
      chromosomes: [{ chromosome: "20", variant_count: 3 }],
    });
  });

  it("finds too few samples and unsorted records, as the worker would", () => {
    const { outcome } = check(vcf(5, "20", [300000, 100000]), 1, 1 << 20);
    if (!("summary" in outcome)) throw new Error(JSON.stringify(outcome));
    const codes = outcome.summary.blocking.map((i) => i.code);
    expect(codes).toContain("TOO_FEW_SAMPLES");
    expect(codes).toContain("UNSORTED");
    expect(outcome.summary.acceptable).toBe(false);
  });

  it("warns that plain gzip is not BGZF", () => {
    const { outcome } = check(new Uint8Array(gzipSync(vcf(25, "chr20", [100000, 200000]))), 2, 4096);
    if (!("summary" in outcome)) throw new Error(JSON.stringify(outcome));
    expect(outcome.summary.warnings.map((w) => w.code)).toContain("NOT_BGZF");
  });

  it("says a text file is not a VCF", () => {
    const { outcome } = check(new TextEncoder().encode("hello\nworld\n"), 1);
    expect("error" in outcome && outcome.error.code).toBe("NOT_VCF");
  });

  it("reports a read that fails", () => {
    const outcome = runPreflight(module, 1, () => {
      throw new Error("gone");
    });
    expect("error" in outcome && outcome.error.kind).toBe("read_failed");
  });
});
