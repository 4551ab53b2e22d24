// Money is an integer number of minor units (cents) and an ISO 4217 currency, as the API
// sends it. Floats appear only at the last step, for Intl.NumberFormat to print.
import type { Money } from "../api/types";

const digitsCache = new Map<string, number>();

/** How many minor-unit digits a currency has: EUR 2, JPY 0, BHD 3. */
export function fractionDigits(currency: string): number {
  let digits = digitsCache.get(currency);
  if (digits === undefined) {
    digits =
      new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ??
      2;
    digitsCache.set(currency, digits);
  }
  return digits;
}

/** "€12.50" (in the reader's locale) for {amount: 1250, currency: "EUR"}. */
export function formatMoney(money: Money, locale?: string): string {
  const digits = fractionDigits(money.currency);
  return new Intl.NumberFormat(locale, { style: "currency", currency: money.currency }).format(
    money.amount / 10 ** digits,
  );
}

/** "12.50" for an input field: the amount in major units, exactly. */
export function toMajorUnits(amount: number, currency: string): string {
  const digits = fractionDigits(currency);
  if (digits === 0) return String(amount);
  const text = String(Math.abs(amount)).padStart(digits + 1, "0");
  const sign = amount < 0 ? "-" : "";
  return `${sign}${text.slice(0, -digits)}.${text.slice(-digits)}`;
}

/** Minor units from what a person typed ("12.5", "12,50", "12"); null when it is not a price. */
export function toMinorUnits(text: string, currency: string): number | null {
  const digits = fractionDigits(currency);
  const match = /^\s*(\d{1,9})(?:[.,](\d*))?\s*$/.exec(text);
  if (!match) return null;
  const [, whole = "0", fraction = ""] = match;
  if (fraction.length > digits) return null;
  return Number(whole) * 10 ** digits + Number(fraction.padEnd(digits, "0") || "0");
}
