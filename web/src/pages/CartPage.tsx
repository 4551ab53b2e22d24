import { useState } from "react";
import { Link } from "react-router";
import { EmptyState, ErrorMessage, Skeleton } from "../components/Feedback";
import { Money } from "../components/Money";
import { PageTitle } from "../components/PageTitle";
import { MAX_QUANTITY } from "../shop/cart";
import { cartStore, useCart } from "../state/cart";

const QUANTITIES = Array.from({ length: MAX_QUANTITY }, (_, i) => i + 1);

export function CartPage() {
  const { cart, loading, error: loadError } = useCart();
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState<number | null>(null);

  async function change(action: () => Promise<void>, productId: number) {
    setBusy(productId);
    setError(null);
    try {
      await action();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(null);
    }
  }

  return (
    <section className="cart-page">
      <PageTitle>Your cart</PageTitle>
      <ErrorMessage
        error={error ?? loadError}
        onRetry={loadError ? () => void cartStore.reload() : undefined}
      />
      {!cart && loading ? (
        <Skeleton lines={4} label="Loading your cart…" />
      ) : !cart ? null : cart.items.length === 0 ? (
        <EmptyState title="Your cart is empty.">
          <Link to="/">Browse the shop</Link>
        </EmptyState>
      ) : (
        <>
          <ul className="cart-lines" aria-label="Items in your cart">
            {cart.items.map((line) => (
              <li key={line.product_id} className="cart-line">
                <span className="cart-name">{line.name}</span>
                <span className="cart-unit">
                  <Money value={line.unit_price} /> each
                </span>
                <span className="cart-quantity">
                  <label htmlFor={`quantity-${line.product_id}`} className="visually-hidden">
                    Quantity of {line.name}
                  </label>
                  <select
                    id={`quantity-${line.product_id}`}
                    value={line.quantity}
                    disabled={busy === line.product_id}
                    onChange={(e) =>
                      void change(
                        () => cartStore.setQuantity(line.product_id, Number(e.target.value)),
                        line.product_id,
                      )
                    }
                  >
                    {QUANTITIES.map((n) => (
                      <option key={n} value={n}>
                        {n}
                      </option>
                    ))}
                  </select>
                </span>
                <span className="cart-total">
                  <Money value={line.line_total} />
                </span>
                <button
                  type="button"
                  className="link-button"
                  disabled={busy === line.product_id}
                  onClick={() => void change(() => cartStore.remove(line.product_id), line.product_id)}
                >
                  Remove<span className="visually-hidden"> {line.name}</span>
                </button>
              </li>
            ))}
          </ul>
          <div className="cart-summary">
            <p>
              <span>
                {cart.item_count} {cart.item_count === 1 ? "item" : "items"}, total{" "}
              </span>
              <strong className="cart-grand-total" aria-live="polite">
                <Money value={cart.total} />
              </strong>
            </p>
            <Link to="/checkout" className="button">
              Go to checkout
            </Link>
          </div>
        </>
      )}
    </section>
  );
}
