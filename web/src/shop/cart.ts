// Cart arithmetic, for showing a change before the server confirms it. The server's cart is
// the truth: its answer replaces what these compute.
import type { Cart, CartLine, Money } from "../api/types";

export const MAX_QUANTITY = 99;

export class MixedCurrencies extends Error {
  constructor(currencies: string[]) {
    super(`One cart holds one currency, not ${currencies.join(" and ")}.`);
    this.name = "MixedCurrencies";
  }
}

/** unit price × quantity, in minor units. */
export function lineTotal(unitPrice: Money, quantity: number): Money {
  if (!Number.isInteger(quantity) || quantity < 0) throw new RangeError("quantity must be a whole number");
  if (!Number.isInteger(unitPrice.amount)) throw new RangeError("amounts are whole minor units");
  return { amount: unitPrice.amount * quantity, currency: unitPrice.currency };
}

/** The total and the number of units; total and currency are null for an empty cart. */
export function summarize(lines: readonly CartLine[]): Pick<Cart, "total" | "currency" | "item_count"> {
  if (lines.length === 0) return { total: null, currency: null, item_count: 0 };
  const currencies = [...new Set(lines.map((line) => line.unit_price.currency))];
  if (currencies.length > 1) throw new MixedCurrencies(currencies);
  const currency = currencies[0] as string;
  let amount = 0;
  let count = 0;
  for (const line of lines) {
    amount += lineTotal(line.unit_price, line.quantity).amount;
    count += line.quantity;
  }
  return { total: { amount, currency }, currency, item_count: count };
}

/** The cart with one product's quantity changed (0 removes it). */
export function withQuantity(cart: Cart, productId: number, quantity: number): Cart {
  if (quantity > MAX_QUANTITY) throw new RangeError(`at most ${MAX_QUANTITY} of one product`);
  const items = cart.items
    .map((line) =>
      line.product_id === productId
        ? { ...line, quantity, line_total: lineTotal(line.unit_price, quantity) }
        : line,
    )
    .filter((line) => line.quantity > 0);
  return { ...cart, items, ...summarize(items) };
}

/** The cart without one product. */
export function withoutProduct(cart: Cart, productId: number): Cart {
  return withQuantity(cart, productId, 0);
}
