// The QC summary's chart data: per chromosome, mean R² and the counts at
// R² ≥ 0.3 and ≥ 0.8, one series per target so that panels compare side
// by side on one chart.
import type { QcSummary } from "@fip/client/gen/fip/jobs/v1/job_result_pb";

export interface QcSeries {
  label: string;
  qc: QcSummary;
}

export interface QcChartData {
  chromosomes: string[];
  meanR2: { label: string; data: (number | null)[] }[];
  counts: { label: string; threshold: "0.3" | "0.8"; data: (number | null)[] }[];
}

/** `chr20` and `20` are the same chromosome. */
export function bareChromosome(name: string): string {
  return name.replace(/^chr/i, "").toUpperCase();
}

function rank(c: string): number {
  const n = Number(c);
  if (Number.isInteger(n)) return n;
  return { X: 23, Y: 24, MT: 25, M: 25 }[c] ?? 100;
}

export function chromosomeOrder(a: string, b: string): number {
  return rank(a) - rank(b) || a.localeCompare(b);
}

export function qcChartData(series: QcSeries[]): QcChartData {
  const names = new Set<string>();
  for (const s of series) for (const c of s.qc.chromosomes) names.add(bareChromosome(c.chromosome));
  const chromosomes = [...names].sort(chromosomeOrder);
  const lookup = (s: QcSeries) => {
    const m = new Map(s.qc.chromosomes.map((c) => [bareChromosome(c.chromosome), c]));
    return (name: string) => m.get(name);
  };
  const meanR2 = series.map((s) => {
    const at = lookup(s);
    return { label: s.label, data: chromosomes.map((c) => at(c)?.meanR2 ?? null) };
  });
  const counts = series.flatMap((s) => {
    const at = lookup(s);
    return [
      {
        label: `${s.label}: R² ≥ 0.3`,
        threshold: "0.3" as const,
        data: chromosomes.map((c) => (at(c) ? Number(at(c)!.countR2Ge03) : null)),
      },
      {
        label: `${s.label}: R² ≥ 0.8`,
        threshold: "0.8" as const,
        data: chromosomes.map((c) => (at(c) ? Number(at(c)!.countR2Ge08) : null)),
      },
    ];
  });
  return { chromosomes, meanR2, counts };
}
