// Time ranges for usage charts. Usage is rolled up per UTC day, so a range
// is whole UTC days ending today, as [from, to) with `to` the next midnight.

export type RangeKey = "7d" | "30d" | "90d" | "month";

export const rangeOptions: { value: RangeKey; label: string }[] = [
  { value: "7d", label: "Last 7 days" },
  { value: "30d", label: "Last 30 days" },
  { value: "90d", label: "Last 90 days" },
  { value: "month", label: "This month" },
];

export function parseRange(s: string | null): RangeKey {
  return s === "7d" || s === "90d" || s === "month" ? s : "30d";
}

/** usageRange returns RFC 3339 bounds for a range key, stable within a UTC day. */
export function usageRange(key: RangeKey, now = new Date()): { from: string; to: string } {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const day = 86_400_000;
  const to = new Date(today + day);
  let from: Date;
  if (key === "month") from = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  else from = new Date(today - (Number(key.slice(0, -1)) - 1) * day);
  return { from: from.toISOString(), to: to.toISOString() };
}
