import { describe, expect, it } from "vitest";
import type { Cart, CartLine } from "../api/types";
import { lineTotal, MixedCurrencies, summarize, withoutProduct, withQuantity } from "./cart";
import { formatMoney, fractionDigits, toMajorUnits, toMinorUnits } from "./money";

function line(productId: number, amount: number, quantity: number, currency = "EUR"): CartLine {
  return {
    product_id: productId,
    name: `Product ${productId}`,
    unit_price: { amount, currency },
    quantity,
    line_total: { amount: amount * quantity, currency },
  };
}

function cart(...items: CartLine[]): Cart {
  return { items, ...summarize(items) };
}

describe("cart arithmetic", () => {
  it("multiplies in minor units", () => {
    expect(lineTotal({ amount: 1999, currency: "EUR" }, 3)).toEqual({ amount: 5997, currency: "EUR" });
  });

  it("adds lines without floating-point drift", () => {
    // 0.1 + 0.2 in euros: exact in cents
    const summary = summarize([line(1, 10, 1), line(2, 20, 1), line(3, 1999, 3)]);
    expect(summary).toEqual({ total: { amount: 6027, currency: "EUR" }, currency: "EUR", item_count: 5 });
  });

  it("has no total or currency while empty", () => {
    expect(summarize([])).toEqual({ total: null, currency: null, item_count: 0 });
  });

  it("refuses two currencies in one cart", () => {
    expect(() => summarize([line(1, 100, 1, "EUR"), line(2, 100, 1, "USD")])).toThrow(MixedCurrencies);
  });

  it("refuses fractions of units and of cents", () => {
    expect(() => lineTotal({ amount: 100, currency: "EUR" }, 1.5)).toThrow(RangeError);
    expect(() => lineTotal({ amount: 10.5, currency: "EUR" }, 1)).toThrow(RangeError);
  });

  it("changes one quantity and the totals with it", () => {
    const before = cart(line(1, 2500, 2), line(2, 990, 1));
    const after = withQuantity(before, 1, 5);

    expect(after.items.map((l) => [l.product_id, l.quantity, l.line_total.amount])).toEqual([
      [1, 5, 12500],
      [2, 1, 990],
    ]);
    expect(after.total).toEqual({ amount: 13490, currency: "EUR" });
    expect(after.item_count).toBe(6);
    expect(before.total).toEqual({ amount: 5990, currency: "EUR" }); // unchanged
  });

  it("removes a product, and empties the cart with the last one", () => {
    const one = withoutProduct(cart(line(1, 2500, 2), line(2, 990, 1)), 1);
    expect(one.items.map((l) => l.product_id)).toEqual([2]);
    expect(withoutProduct(one, 2)).toMatchObject({ items: [], total: null, currency: null, item_count: 0 });
  });

  it("caps a quantity at 99", () => {
    expect(() => withQuantity(cart(line(1, 100, 1)), 1, 100)).toThrow(RangeError);
  });
});

describe("money", () => {
  it("knows each currency's minor units", () => {
    expect([fractionDigits("EUR"), fractionDigits("JPY"), fractionDigits("BHD")]).toEqual([2, 0, 3]);
  });

  it("formats in the item's currency", () => {
    const format = (amount: number, currency: string, locale: string) =>
      formatMoney({ amount, currency }, locale).replace(/\s/g, " "); // Intl uses no-break spaces
    expect(format(123456, "EUR", "en-US")).toBe("€1,234.56");
    expect(format(500, "JPY", "en-US")).toBe("¥500");
    expect(format(1234, "BHD", "en-US")).toBe("BHD 1.234");
    expect(format(5, "EUR", "de-DE")).toBe("0,05 €");
  });

  it("reads a typed price into minor units, exactly", () => {
    expect(toMinorUnits("12.5", "EUR")).toBe(1250);
    expect(toMinorUnits("12,50", "EUR")).toBe(1250);
    expect(toMinorUnits("0.29", "EUR")).toBe(29); // 0.29 * 100 is 28.999… in floats
    expect(toMinorUnits("7", "JPY")).toBe(7);
    expect(toMinorUnits("1.001", "EUR")).toBeNull();
    expect(toMinorUnits("-3", "EUR")).toBeNull();
    expect(toMinorUnits("abc", "EUR")).toBeNull();
  });

  it("writes minor units back as a typed price", () => {
    expect(toMajorUnits(1250, "EUR")).toBe("12.50");
    expect(toMajorUnits(5, "EUR")).toBe("0.05");
    expect(toMajorUnits(700, "JPY")).toBe("700");
  });
});
