// Display helpers: enum names, sizes, times, durations.
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";

/** `JobStatus.COMPLETED` -> "completed", `Phasing.NO_PHASING` -> "no phasing". */
export function enumName(e: Record<string | number, string | number>, value: number): string {
  const name = e[value];
  return typeof name === "string" ? name.toLowerCase() : String(value);
}

export function enumLabel(e: Record<string | number, string | number>, value: number): string {
  return enumName(e, value).replace(/_/g, " ");
}

/** Non-zero values of a numeric enum, in order. */
export function enumValues<T extends number>(e: Record<string | number, string | number>): T[] {
  return Object.values(e).filter((v): v is T => typeof v === "number" && v !== 0) as T[];
}

export function bytes(n: number | bigint): string {
  const v = Number(n);
  if (!Number.isFinite(v)) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let x = v;
  let i = 0;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${i === 0 ? x.toFixed(0) : x.toFixed(x < 10 ? 2 : 1)} ${units[i]}`;
}

export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function date(ts: Timestamp | undefined): string {
  if (!ts) return "—";
  return timestampDate(ts).toLocaleString(undefined, {
    dateStyle: "medium",
    timeStyle: "short",
  });
}

export function relative(ts: Timestamp | undefined, now = Date.now()): string {
  if (!ts) return "never";
  const diff = (now - timestampDate(ts).getTime()) / 1000;
  if (Math.abs(diff) < 45) return "just now";
  const future = diff < 0;
  const a = Math.abs(diff);
  const text =
    a < 3600
      ? `${Math.round(a / 60)} min`
      : a < 86400
        ? `${Math.round(a / 3600)} h`
        : `${Math.round(a / 86400)} d`;
  return future ? `in ${text}` : `${text} ago`;
}

export function percent(x: number): string {
  return `${(x * 100).toFixed(1)} %`;
}
