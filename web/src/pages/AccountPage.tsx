import { type FormEvent, useEffect, useState } from "react";
import { api } from "../api";
import { AddressForm, addressLine } from "../components/AddressForm";
import { cardLabel } from "../components/CardForm";
import { EmptyState, ErrorMessage, Skeleton } from "../components/Feedback";
import { Field } from "../components/Field";
import { PageTitle } from "../components/PageTitle";
import { useAsync } from "../hooks/useAsync";

export function AccountPage() {
  const profile = useAsync((signal) => api.users.me(signal), []);
  const addresses = useAsync((signal) => api.users.addresses(signal), []);
  const methods = useAsync((signal) => api.payments.methods(signal), []);
  const [name, setName] = useState("");
  const [phone, setPhone] = useState("");
  const [saving, setSaving] = useState(false);
  const [saved, setSaved] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [addressError, setAddressError] = useState<unknown>(null);
  const [adding, setAdding] = useState(false);

  useEffect(() => {
    if (profile.data) {
      setName(profile.data.display_name);
      setPhone(profile.data.phone ?? "");
    }
  }, [profile.data]);

  async function saveProfile(event: FormEvent) {
    event.preventDefault();
    setSaving(true);
    setSaved(false);
    setError(null);
    try {
      profile.setData(await api.users.updateMe({ display_name: name.trim(), phone: phone.trim() || null }));
      setSaved(true);
    } catch (failure) {
      setError(failure);
    } finally {
      setSaving(false);
    }
  }

  async function removeAddress(id: string) {
    setAddressError(null);
    try {
      await api.users.deleteAddress(id);
      addresses.setData({
        items: (addresses.data?.items ?? []).filter((a) => a.id !== id),
        next_cursor: null,
      });
    } catch (failure) {
      setAddressError(failure);
    }
  }

  return (
    <section className="account">
      <PageTitle>Your account</PageTitle>
      <section aria-labelledby="profile-heading" className="panel">
        <h2 id="profile-heading">Profile</h2>
        {profile.loading ? (
          <Skeleton lines={3} />
        ) : profile.error ? (
          <ErrorMessage error={profile.error} onRetry={profile.reload} />
        ) : (
          <form onSubmit={saveProfile} className="stack">
            <p>
              Email: <strong>{profile.data?.email}</strong>
            </p>
            <Field label="Name">
              {(props) => (
                <input
                  {...props}
                  value={name}
                  onChange={(e) => setName(e.target.value)}
                  required
                  maxLength={80}
                  autoComplete="name"
                />
              )}
            </Field>
            <Field label="Phone (optional)">
              {(props) => (
                <input
                  {...props}
                  type="tel"
                  value={phone}
                  onChange={(e) => setPhone(e.target.value)}
                  autoComplete="tel"
                />
              )}
            </Field>
            <ErrorMessage error={error} />
            <div role="status">{saved && <p className="success">Saved.</p>}</div>
            <button type="submit" className="button" disabled={saving}>
              {saving ? "Saving…" : "Save profile"}
            </button>
          </form>
        )}
      </section>

      <section aria-labelledby="addresses-heading" className="panel">
        <h2 id="addresses-heading">Addresses</h2>
        {addresses.loading ? (
          <Skeleton lines={2} />
        ) : addresses.error ? (
          <ErrorMessage error={addresses.error} onRetry={addresses.reload} />
        ) : addresses.data?.items.length ? (
          <ul className="plain-list">
            {addresses.data.items.map((address) => (
              <li key={address.id}>
                <span>{addressLine(address)}</span>
                <button type="button" className="link-button" onClick={() => void removeAddress(address.id)}>
                  Delete<span className="visually-hidden"> {addressLine(address)}</span>
                </button>
              </li>
            ))}
          </ul>
        ) : (
          <EmptyState title="No addresses yet." />
        )}
        <ErrorMessage error={addressError} />
        {adding ? (
          <AddressForm
            onSaved={(address) => {
              addresses.setData({ items: [...(addresses.data?.items ?? []), address], next_cursor: null });
              setAdding(false);
            }}
            onCancel={() => setAdding(false)}
          />
        ) : (
          <button type="button" className="button secondary" onClick={() => setAdding(true)}>
            Add an address
          </button>
        )}
      </section>

      <section aria-labelledby="cards-heading" className="panel">
        <h2 id="cards-heading">Saved cards</h2>
        {methods.loading ? (
          <Skeleton lines={2} />
        ) : methods.error ? (
          <ErrorMessage error={methods.error} onRetry={methods.reload} />
        ) : methods.data?.items.length ? (
          <ul className="plain-list">
            {methods.data.items.map((method) => (
              <li key={method.id}>{cardLabel(method)}</li>
            ))}
          </ul>
        ) : (
          <EmptyState title="No saved cards. Add one at checkout." />
        )}
      </section>
    </section>
  );
}
