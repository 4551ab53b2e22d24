import { type FormEvent, useState } from "react";
import { api } from "../api";
import type { Address, AddressCreate } from "../api/types";
import { ErrorMessage } from "./Feedback";
import { Field } from "./Field";

const EMPTY = { name: "", line1: "", line2: "", city: "", region: "", postal_code: "", country: "" };

/** A new address for the signed-in user: POST /api/users/me/addresses. */
export function AddressForm({
  onSaved,
  onCancel,
}: {
  onSaved: (address: Address) => void;
  onCancel?: () => void;
}) {
  const [values, setValues] = useState(EMPTY);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const set = (name: keyof typeof EMPTY) => (event: { target: { value: string } }) =>
    setValues((current) => ({ ...current, [name]: event.target.value }));

  async function save(event: FormEvent) {
    event.preventDefault();
    event.stopPropagation();
    setSaving(true);
    setError(null);
    const body: AddressCreate = {
      name: values.name.trim(),
      line1: values.line1.trim(),
      line2: values.line2.trim() || null,
      city: values.city.trim(),
      region: values.region.trim() || null,
      postal_code: values.postal_code.trim(),
      country: values.country.trim().toUpperCase(),
    };
    try {
      const address = await api.users.addAddress(body);
      setValues(EMPTY);
      onSaved(address);
    } catch (failure) {
      setError(failure);
    } finally {
      setSaving(false);
    }
  }

  const text = (
    name: keyof typeof EMPTY,
    label: string,
    autoComplete: string,
    required = true,
    extra = {},
  ) => (
    <Field label={required ? label : `${label} (optional)`}>
      {(props) => (
        <input
          {...props}
          name={name}
          value={values[name]}
          onChange={set(name)}
          autoComplete={autoComplete}
          required={required}
          {...extra}
        />
      )}
    </Field>
  );

  return (
    <form className="subform" onSubmit={save} aria-label="New address">
      {text("name", "Full name", "name")}
      {text("line1", "Address line 1", "address-line1")}
      {text("line2", "Address line 2", "address-line2", false)}
      <div className="field-row">
        {text("postal_code", "Postal code", "postal-code")}
        {text("city", "City", "address-level2")}
      </div>
      <div className="field-row">
        {text("region", "Region", "address-level1", false)}
        {text("country", "Country code", "country", true, {
          maxLength: 2,
          minLength: 2,
          pattern: "[A-Za-z]{2}",
          title: "Two letters, e.g. PT",
          placeholder: "PT",
        })}
      </div>
      <ErrorMessage error={error} />
      <div className="actions">
        <button type="submit" className="button" disabled={saving}>
          {saving ? "Saving…" : "Save address"}
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

/** One line: "Sam Shopper, 1 Market Street, 1100-001 Lisbon, PT". */
export function addressLine(address: {
  name: string;
  line1: string;
  line2?: string | null;
  postal_code: string;
  city: string;
  region?: string | null;
  country: string;
}): string {
  return [
    address.name,
    address.line1,
    address.line2,
    `${address.postal_code} ${address.city}`,
    address.region,
    address.country,
  ]
    .filter(Boolean)
    .join(", ");
}
