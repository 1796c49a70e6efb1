/**
 * Reported costs arrive as decimal USD (number or string). They become integer
 * micro-USD by decimal arithmetic on the text, never by float multiplication
 * (0.0071 * 1e6 is 7099.999999999999 in binary floating point).
 * Returns null when the text is not a plain non-negative decimal.
 */
export function usdToMicro(value: number | string): number | null {
  const text = typeof value === "number" ? numberToPlainDecimal(value) : value.trim();
  if (text === null) return null;
  const match = /^(\d+)(?:\.(\d*))?$/.exec(text);
  if (!match) return null;
  const whole = match[1] ?? "0";
  const fraction = match[2] ?? "";
  const kept = `${fraction}000000`.slice(0, 6);
  // Round half up on the first dropped digit.
  const roundUp = fraction.length > 6 && (fraction.charCodeAt(6) - 48) >= 5 ? 1n : 0n;
  const micro = BigInt(whole) * 1_000_000n + BigInt(kept) + roundUp;
  if (micro > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return Number(micro);
}

function numberToPlainDecimal(value: number): string | null {
  if (!Number.isFinite(value) || value < 0) return null;
  // toString gives the shortest text that round-trips, e.g. "0.0071" or "7.1e-7".
  const text = value.toString();
  const exp = /^(\d+)(?:\.(\d+))?e([+-]\d+)$/.exec(text);
  if (!exp) return text;
  const digits = (exp[1] ?? "") + (exp[2] ?? "");
  const pointAt = (exp[1] ?? "").length + Number(exp[3]);
  if (pointAt <= 0) return `0.${"0".repeat(-pointAt)}${digits}`;
  if (pointAt >= digits.length) return digits + "0".repeat(pointAt - digits.length);
  return `${digits.slice(0, pointAt)}.${digits.slice(pointAt)}`;
}
