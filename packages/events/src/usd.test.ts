import { describe, expect, it } from "vitest";
import { scaleDecimal, usdToMicro } from "./usd";

describe("decimal money", () => {
  it("converts USD to micro-USD exactly", () => {
    expect(usdToMicro(0.0071)).toBe(7100); // 0.0071 * 1e6 === 7099.999999999999 in floats
    expect(usdToMicro("12.3456785")).toBe(12_345_679); // half up
    expect(usdToMicro("12.3456784")).toBe(12_345_678);
    expect(usdToMicro(7.1e-7)).toBe(1);
    expect(usdToMicro(1e21)).toBeNull(); // beyond 2^53 micro-USD
    expect(usdToMicro(-1)).toBeNull();
    expect(usdToMicro("1e3")).toBeNull();
  });

  it("scales exponent notation and reports rounding", () => {
    expect(scaleDecimal(2.5e-6, 12)).toEqual({ value: 2_500_000n, rounded: false });
    expect(scaleDecimal(3.75e-8, 12)).toEqual({ value: 37_500n, rounded: false });
    expect(scaleDecimal(0.000003, 12)).toEqual({ value: 3_000_000n, rounded: false });
    expect(scaleDecimal(1.2999000000000001e-7, 12)).toEqual({ value: 129_990n, rounded: true });
    expect(scaleDecimal(2.0345052083e-9, 12)).toEqual({ value: 2_035n, rounded: true });
    expect(scaleDecimal(1e21, 0)).toEqual({ value: 1_000_000_000_000_000_000_000n, rounded: false });
  });
});
