import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { QcSummarySchema } from "@fip/client/gen/fip/jobs/v1/job_result_pb";
import { bareChromosome, qcChartData } from "../src/app/qc";

const qc = (rows: [string, number, number, number][]) =>
  create(QcSummarySchema, {
    chromosomes: rows.map(([chromosome, meanR2, c3, c8]) => ({
      chromosome,
      meanR2,
      countR2Ge03: BigInt(c3),
      countR2Ge08: BigInt(c8),
      variantCount: BigInt(c3 + 10),
    })),
  });

describe("QC chart data", () => {
  it("puts the panels side by side per chromosome, whatever their naming", () => {
    const data = qcChartData([
      { label: "A / panel 1", qc: qc([["chr21", 0.8, 40, 20], ["chr20", 0.7, 30, 10], ["chrX", 0.5, 5, 1]]) },
      { label: "B / panel 2", qc: qc([["20", 0.9, 35, 25], ["2", 0.6, 3, 1]]) },
    ]);
    expect(data.chromosomes).toEqual(["2", "20", "21", "X"]);
    expect(data.meanR2).toEqual([
      { label: "A / panel 1", data: [null, 0.7, 0.8, 0.5] },
      { label: "B / panel 2", data: [0.6, 0.9, null, null] },
    ]);
    expect(data.counts.map((c) => c.label)).toEqual([
      "A / panel 1: R² ≥ 0.3",
      "A / panel 1: R² ≥ 0.8",
      "B / panel 2: R² ≥ 0.3",
      "B / panel 2: R² ≥ 0.8",
    ]);
    expect(data.counts[0].data).toEqual([null, 30, 40, 5]);
    expect(data.counts[3].data).toEqual([1, 25, null, null]);
  });

  it("is empty without chromosomes", () => {
    expect(qcChartData([{ label: "x", qc: qc([]) }])).toEqual({
      chromosomes: [],
      meanR2: [{ label: "x", data: [] }],
      counts: [
        { label: "x: R² ≥ 0.3", threshold: "0.3", data: [] },
        { label: "x: R² ≥ 0.8", threshold: "0.8", data: [] },
      ],
    });
  });

  it("strips the chr prefix", () => {
    expect(bareChromosome("chrX")).toBe("X");
    expect(bareChromosome("7")).toBe("7");
  });
});
