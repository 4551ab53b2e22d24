import type { Money as MoneyValue } from "../api/types";
import { formatMoney } from "../shop/money";

/** An amount in its own currency, formatted for the reader's locale. */
export function Money({ value }: { value: MoneyValue | null | undefined }) {
  if (!value) return null;
  return <span className="money">{formatMoney(value)}</span>;
}
