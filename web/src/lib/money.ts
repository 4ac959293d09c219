// Money crosses the API as a decimal string of dollars ("10.00",
// "0.000012"); it is never turned into a float for arithmetic here.

/** formatUSD shows "$10.00", "$1,234.50" or "$0.000012" (all significant digits). */
export function formatUSD(amount: string | null | undefined): string {
  if (amount == null) return "—";
  let s = amount.trim();
  let neg = false;
  if (s.startsWith("-")) {
    neg = true;
    s = s.slice(1);
  }
  let [whole, frac = ""] = s.split(".");
  frac = frac.replace(/0+$/, "");
  if (frac.length < 2) frac = frac.padEnd(2, "0");
  whole = whole.replace(/^0+(?=\d)/, "").replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${neg ? "-" : ""}$${whole}.${frac}`;
}

/** formatCents shows amount rounded half up to the cent ("$0.199987792" → "$0.20"), for prose; formatUSD is exact. */
export function formatCents(amount: string | null | undefined): string {
  if (amount == null) return "—";
  const n = toNano(amount);
  const neg = n < 0n;
  const a = neg ? -n : n;
  const cents = (a + 5_000_000n) / 10_000_000n;
  return formatUSD(`${neg ? "-" : ""}${cents / 100n}.${(cents % 100n).toString().padStart(2, "0")}`);
}

/** capInput turns a Money string into what a cap field shows: "10", "12.5". */
export function capInput(amount: string | null | undefined): string {
  if (!amount) return "";
  const [whole, frac = ""] = amount.split(".");
  const f = frac.replace(/0+$/, "");
  return f ? `${whole}.${f}` : whole;
}

/** moneyInput turns what a user typed in a dollar field (" $12.50") into the Money string sent to the API ("12.50"). */
export function moneyInput(input: string): string {
  return input.trim().replace(/^\$/, "");
}

/** validCap checks what a user typed as a monthly cap. */
export function validCap(input: string): string | null {
  const s = moneyInput(input);
  if (!/^\d+(\.\d{1,2})?$/.test(s)) return "Enter an amount in dollars, such as 5 or 12.50.";
  if (Number(s) <= 0) return "The cap must be more than $0.";
  if (Number(s) > 100000) return "The cap can be at most $100,000.";
  return null;
}

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return "—";
  return new Date(iso).toLocaleDateString("en-US", { year: "numeric", month: "short", day: "numeric", timeZone: "UTC" });
}

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  return new Date(iso).toLocaleString("en-US", {
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    timeZone: "UTC",
    timeZoneName: "short",
  });
}

const NANO = 1_000_000_000n;

/** toNano parses a Money string ("12.5", "-0.000000001") into integer nano-dollars. */
export function toNano(amount: string): bigint {
  let s = amount.trim();
  let neg = false;
  if (s.startsWith("-")) {
    neg = true;
    s = s.slice(1);
  }
  const [whole = "0", frac = ""] = s.split(".");
  const n = BigInt(whole || "0") * NANO + BigInt((frac + "000000000").slice(0, 9) || "0");
  return neg ? -n : n;
}

/** fromNano formats integer nano-dollars as a Money string ("7.5", "0.000000001"). */
export function fromNano(n: bigint): string {
  const neg = n < 0n;
  const a = neg ? -n : n;
  const frac = (a % NANO).toString().padStart(9, "0").replace(/0+$/, "");
  return `${neg ? "-" : ""}${a / NANO}${frac ? "." + frac : ""}`;
}

/** capLeft is cap − used, never below zero: what a connection may still spend this period. */
export function capLeft(cap: string, used: string): string {
  const d = toNano(cap) - toNano(used);
  return fromNano(d > 0n ? d : 0n);
}

/** isZero reports whether a Money string is zero. */
export function isZero(amount: string | null | undefined): boolean {
  return !amount || toNano(amount) === 0n;
}

/** validPrice checks a price per million tokens typed by an admin: a decimal string, never a float. */
export function validPrice(input: string): string | null {
  const s = moneyInput(input);
  if (!/^\d+(\.\d{1,6})?$/.test(s)) return "Enter dollars per million tokens, such as 2 or 0.15 (at most 6 decimals).";
  return null;
}
