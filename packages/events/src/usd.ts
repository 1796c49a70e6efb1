/**
 * Decimal money and prices become integers by decimal arithmetic on their
 * text, never by float multiplication (0.0071 * 1e6 is 7099.999999999999 in
 * binary floating point). A number is read through its shortest round-trip
 * text (what JSON.stringify prints), so 2.5e-6 is exactly 25 × 10^-7.
 */

/**
 * value × 10^scaleDigits as an integer, rounded half up on the first dropped
 * digit. Null when value is not a plain non-negative decimal.
 */
export function scaleDecimal(value: number | string, scaleDigits: number): { value: bigint; rounded: boolean } | null {
  const text = typeof value === "number" ? numberToPlainDecimal(value) : value.trim();
  if (text === null) return null;
  const match = /^(\d+)(?:\.(\d*))?$/.exec(text);
  if (!match) return null;
  const whole = match[1] ?? "0";
  const fraction = match[2] ?? "";
  const kept = fraction.padEnd(scaleDigits, "0").slice(0, scaleDigits);
  const dropped = fraction.slice(scaleDigits);
  const roundUp = dropped.length > 0 && dropped.charCodeAt(0) - 48 >= 5;
  const scaled = BigInt(whole) * 10n ** BigInt(scaleDigits) + BigInt(kept || "0") + (roundUp ? 1n : 0n);
  return { value: scaled, rounded: /[1-9]/.test(dropped) };
}

/** Decimal USD → integer micro-USD; null when not a plain non-negative decimal or beyond 2^53. */
export function usdToMicro(value: number | string): number | null {
  const scaled = scaleDecimal(value, 6);
  if (scaled === null || scaled.value > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return Number(scaled.value);
}

function numberToPlainDecimal(value: number): string | null {
  if (!Number.isFinite(value) || value < 0) return null;
  const text = value.toString(); // e.g. "0.0071" or "7.1e-7"
  const exp = /^(\d+)(?:\.(\d+))?e([+-]\d+)$/.exec(text);
  if (!exp) return text;
  const digits = (exp[1] ?? "") + (exp[2] ?? "");
  const pointAt = (exp[1] ?? "").length + Number(exp[3]);
  if (pointAt <= 0) return `0.${"0".repeat(-pointAt)}${digits}`;
  if (pointAt >= digits.length) return digits + "0".repeat(pointAt - digits.length);
  return `${digits.slice(0, pointAt)}.${digits.slice(pointAt)}`;
}
