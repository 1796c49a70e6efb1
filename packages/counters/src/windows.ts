/**
 * Calendar buckets for the running totals (UTC day and month). A counter's
 * key names its bucket, so a new day starts from an absent key: windows roll
 * over by construction, with no reset job to forget or race.
 */
export type TotalsWindow = "day" | "month";
export const TOTALS_WINDOWS: ReadonlyArray<TotalsWindow> = ["day", "month"];

export function utcBucket(window: TotalsWindow, epochMs: number): string {
  const iso = new Date(epochMs).toISOString(); // YYYY-MM-DDTHH:mm:ss.sssZ
  return window === "day"
    ? `d${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}`
    : `m${iso.slice(0, 4)}${iso.slice(5, 7)}`;
}

/** How long a bucket's key is kept: well past its window, for late reads, then Redis drops it. */
export const BUCKET_TTL_SECONDS: Record<TotalsWindow, number> = {
  day: 3 * 24 * 3600,
  month: 62 * 24 * 3600,
};

/** Epoch ms at which the bucket containing epochMs ends. */
export function utcBucketEnd(window: TotalsWindow, epochMs: number): number {
  const d = new Date(epochMs);
  return window === "day"
    ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1)
    : Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}
