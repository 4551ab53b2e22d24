import { type FormEvent, useState } from "react";
import { api } from "../api";
import type { PaymentMethod } from "../api/types";
import { SANDBOX_CARDS } from "../shop/cards";
import { ErrorMessage } from "./Feedback";
import { Field } from "./Field";

/** A card, tokenized at once by payments (POST /api/payments/methods); only last 4 come back. */
export function CardForm({
  onSaved,
  onCancel,
}: {
  onSaved: (method: PaymentMethod) => void;
  onCancel?: () => void;
}) {
  const thisYear = new Date().getFullYear();
  const [number, setNumber] = useState("");
  const [month, setMonth] = useState("12");
  const [year, setYear] = useState(String(thisYear + 3));
  const [cvc, setCvc] = useState("");
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<unknown>(null);

  async function save(event: FormEvent) {
    event.preventDefault();
    event.stopPropagation();
    setSaving(true);
    setError(null);
    try {
      const method = await api.payments.addMethod({
        card_number: number.trim(),
        exp_month: Number(month),
        exp_year: Number(year),
        cvc: cvc.trim(),
      });
      setNumber("");
      setCvc("");
      onSaved(method);
    } catch (failure) {
      setError(failure);
    } finally {
      setSaving(false);
    }
  }

  return (
    <form className="subform" onSubmit={save} aria-label="New card">
      <div className="sandbox-hint" id="sandbox-cards">
        <p>
          <strong>Sandbox:</strong> no money moves. Test cards (any future expiry, any CVC):
        </p>
        <ul>
          {SANDBOX_CARDS.map((card) => (
            <li key={card.number}>
              <button type="button" className="link-button" onClick={() => setNumber(card.number)}>
                <code>{card.number}</code>
              </button>{" "}
              {card.outcome}
            </li>
          ))}
        </ul>
      </div>
      <Field label="Card number" hint="12 to 19 digits; spaces are fine.">
        {(props) => (
          <input
            {...props}
            name="card_number"
            value={number}
            onChange={(e) => setNumber(e.target.value)}
            inputMode="numeric"
            autoComplete="cc-number"
            required
            minLength={12}
            maxLength={40}
          />
        )}
      </Field>
      <div className="field-row">
        <Field label="Expiry month">
          {(props) => (
            <select
              {...props}
              value={month}
              onChange={(e) => setMonth(e.target.value)}
              autoComplete="cc-exp-month"
            >
              {Array.from({ length: 12 }, (_, i) => (
                <option key={i + 1} value={String(i + 1)}>
                  {String(i + 1).padStart(2, "0")}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Expiry year">
          {(props) => (
            <select
              {...props}
              value={year}
              onChange={(e) => setYear(e.target.value)}
              autoComplete="cc-exp-year"
            >
              {Array.from({ length: 12 }, (_, i) => (
                <option key={i} value={String(thisYear + i)}>
                  {thisYear + i}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="CVC">
          {(props) => (
            <input
              {...props}
              name="cvc"
              value={cvc}
              onChange={(e) => setCvc(e.target.value)}
              inputMode="numeric"
              autoComplete="cc-csc"
              required
              pattern="[0-9]{3,4}"
              title="3 or 4 digits"
              maxLength={4}
            />
          )}
        </Field>
      </div>
      <ErrorMessage error={error} />
      <div className="actions">
        <button type="submit" className="button" disabled={saving}>
          {saving ? "Saving…" : "Save card"}
        </button>
        {onCancel && (
          <button type="button" className="button secondary" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

export function cardLabel(method: PaymentMethod): string {
  const brand =
    method.brand === "unknown" ? "Card" : method.brand.charAt(0).toUpperCase() + method.brand.slice(1);
  return `${brand} ending ${method.last4}, expires ${String(method.exp_month).padStart(2, "0")}/${method.exp_year}`;
}
