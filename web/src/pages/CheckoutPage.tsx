import { type FormEvent, useEffect, useRef, useState } from "react";
import { Link, useNavigate } from "react-router";
import { api } from "../api";
import type { Address, PaymentMethod } from "../api/types";
import { AddressForm, addressLine } from "../components/AddressForm";
import { CardForm, cardLabel } from "../components/CardForm";
import { EmptyState, ErrorMessage, Skeleton } from "../components/Feedback";
import { Money } from "../components/Money";
import { PageTitle } from "../components/PageTitle";
import { useAsync } from "../hooks/useAsync";
import { CheckoutAttempt, placeOnce } from "../shop/checkout";
import { cartStore, useCart } from "../state/cart";

const NEW = "new";

/** The saved form goes away: keep keyboard focus on what replaced it, the chosen option. */
function focusSoon(id: string): void {
  requestAnimationFrame(() => document.getElementById(id)?.focus());
}

export function CheckoutPage() {
  const { cart, loading: cartLoading, error: cartError } = useCart();
  const addresses = useAsync((signal) => api.users.addresses(signal), []);
  const methods = useAsync((signal) => api.payments.methods(signal), []);
  const [addressId, setAddressId] = useState<string>("");
  const [methodId, setMethodId] = useState<string>("");
  const [placing, setPlacing] = useState(false);
  const [error, setError] = useState<unknown>(null);
  // One attempt: its Idempotency-Key is reused by every retry of the same order.
  const attempt = useRef(new CheckoutAttempt());
  const navigate = useNavigate();
  const ready = Boolean(addressId && addressId !== NEW && methodId && methodId !== NEW);

  // Preselect the default (or only) address and the newest card.
  useEffect(() => {
    const items = addresses.data?.items;
    if (!items || addressId) return;
    const preferred = items.find((a) => a.is_default) ?? items[0];
    setAddressId(preferred ? preferred.id : NEW);
  }, [addresses.data, addressId]);
  useEffect(() => {
    const items = methods.data?.items;
    if (!items || methodId) return;
    const newest = items.at(-1);
    setMethodId(newest ? newest.id : NEW);
  }, [methods.data, methodId]);

  function addressSaved(address: Address) {
    addresses.setData({ items: [...(addresses.data?.items ?? []), address], next_cursor: null });
    setAddressId(address.id);
    focusSoon(`address-${address.id}`);
  }

  function cardSaved(method: PaymentMethod) {
    methods.setData({ items: [...(methods.data?.items ?? []), method] });
    setMethodId(method.id);
    focusSoon(`card-${method.id}`);
  }

  async function placeOrder(event: FormEvent) {
    event.preventDefault();
    if (placing || !ready) return; // a double click or a second Enter sends nothing more
    setPlacing(true);
    setError(null);
    try {
      const order = await placeOnce(
        attempt.current,
        { address_id: addressId, payment_method_id: methodId },
        (body, key) => api.orders.checkout(body, key),
      );
      cartStore.emptied();
      navigate(`/orders/${order.id}`, { state: { placed: true } });
    } catch (failure) {
      setError(failure);
      setPlacing(false);
    }
  }

  if ((cartLoading && !cart) || addresses.loading || methods.loading) {
    return (
      <section>
        <PageTitle>Checkout</PageTitle>
        <Skeleton lines={6} label="Loading checkout…" />
      </section>
    );
  }
  const loadError = cartError || addresses.error || methods.error;
  if (loadError) {
    return (
      <section>
        <PageTitle>Checkout</PageTitle>
        <ErrorMessage
          error={loadError}
          onRetry={() => {
            void cartStore.reload();
            addresses.reload();
            methods.reload();
          }}
        />
      </section>
    );
  }
  if (!cart || cart.items.length === 0) {
    return (
      <section>
        <PageTitle>Checkout</PageTitle>
        <EmptyState title="Your cart is empty.">
          <Link to="/">Browse the shop</Link>
        </EmptyState>
      </section>
    );
  }
  return (
    <section className="checkout">
      <PageTitle>Checkout</PageTitle>
      <div className="checkout-steps">
        <section aria-labelledby="step-address" className="step">
          <h2 id="step-address">1. Shipping address</h2>
          <fieldset>
            <legend className="visually-hidden">Ship to</legend>
            {addresses.data?.items.map((address) => (
              <div key={address.id} className="choice">
                <input
                  type="radio"
                  id={`address-${address.id}`}
                  name="address"
                  value={address.id}
                  checked={addressId === address.id}
                  onChange={() => setAddressId(address.id)}
                />
                <label htmlFor={`address-${address.id}`}>{addressLine(address)}</label>
              </div>
            ))}
            <div className="choice">
              <input
                type="radio"
                id="address-new"
                name="address"
                value={NEW}
                checked={addressId === NEW}
                onChange={() => setAddressId(NEW)}
              />
              <label htmlFor="address-new">A new address</label>
            </div>
          </fieldset>
          {addressId === NEW && <AddressForm onSaved={addressSaved} />}
        </section>

        <section aria-labelledby="step-payment" className="step">
          <h2 id="step-payment">2. Payment</h2>
          <fieldset>
            <legend className="visually-hidden">Pay with</legend>
            {methods.data?.items.map((method) => (
              <div key={method.id} className="choice">
                <input
                  type="radio"
                  id={`card-${method.id}`}
                  name="card"
                  value={method.id}
                  checked={methodId === method.id}
                  onChange={() => setMethodId(method.id)}
                />
                <label htmlFor={`card-${method.id}`}>{cardLabel(method)}</label>
              </div>
            ))}
            <div className="choice">
              <input
                type="radio"
                id="card-new"
                name="card"
                value={NEW}
                checked={methodId === NEW}
                onChange={() => setMethodId(NEW)}
              />
              <label htmlFor="card-new">A new card</label>
            </div>
          </fieldset>
          {methodId === NEW && <CardForm onSaved={cardSaved} />}
        </section>

        <section aria-labelledby="step-review" className="step">
          <h2 id="step-review">3. Review and pay</h2>
          <ul className="review-lines">
            {cart.items.map((line) => (
              <li key={line.product_id}>
                <span>
                  {line.quantity} × {line.name}
                </span>
                <Money value={line.line_total} />
              </li>
            ))}
          </ul>
          <p className="review-total">
            <span>Total</span>
            <strong>
              <Money value={cart.total} />
            </strong>
          </p>
          <form onSubmit={placeOrder}>
            <ErrorMessage error={error} />
            {!ready && (
              <p className="hint" id="place-hint">
                Choose or save an address and a card first.
              </p>
            )}
            <button
              type="submit"
              className="button large"
              disabled={!ready || placing}
              aria-describedby={ready ? undefined : "place-hint"}
            >
              {placing ? "Placing your order…" : error ? "Try again" : "Place order"}
            </button>
          </form>
        </section>
      </div>
    </section>
  );
}
