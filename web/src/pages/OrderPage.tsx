import { useEffect, useState } from "react";
import { Link, useLocation, useParams } from "react-router";
import { api, ApiError } from "../api";
import type { Order } from "../api/types";
import { addressLine } from "../components/AddressForm";
import { EmptyState, ErrorMessage, Skeleton } from "../components/Feedback";
import { Money } from "../components/Money";
import { formatDate, OrderActions, StatusTimeline } from "../components/OrderParts";
import { PageTitle } from "../components/PageTitle";
import { useAsync } from "../hooks/useAsync";
import { cancelReasonText, STATUS_EXPLANATIONS, STATUS_LABELS } from "../shop/orders";

const FINAL = new Set(["CANCELLED", "DELIVERED"]);

/** One order, live: its status follows the order's event stream without a reload. */
export function OrderPage() {
  const { id = "" } = useParams();
  const location = useLocation();
  const placed = (location.state as { placed?: boolean } | null)?.placed === true;
  const loaded = useAsync((signal) => api.orders.get(id, signal), [id]);
  const [order, setOrder] = useState<Order | null>(null);
  const [streamProblem, setStreamProblem] = useState<string | null>(null);

  useEffect(() => {
    if (loaded.data) setOrder(loaded.data);
  }, [loaded.data]);

  const status = order?.status;
  const watching = status !== undefined && !FINAL.has(status);
  useEffect(() => {
    if (!watching) return;
    const controller = new AbortController();
    void api.orders.watch(
      id,
      (next) => {
        setStreamProblem(null);
        setOrder(next);
      },
      controller.signal,
      (_, willRetry) =>
        setStreamProblem(
          willRetry
            ? "Live updates paused; reconnecting…"
            : "Live updates stopped. Reload to see the latest status.",
        ),
    );
    return () => controller.abort();
  }, [id, watching]);

  if (!order) {
    if (loaded.error instanceof ApiError && loaded.error.status === 404) {
      return (
        <section className="narrow">
          <PageTitle>Order not found</PageTitle>
          <EmptyState title="There is no such order in your account.">
            <Link to="/orders">Your orders</Link>
          </EmptyState>
        </section>
      );
    }
    return loaded.error ? (
      <ErrorMessage error={loaded.error} onRetry={loaded.reload} />
    ) : (
      <Skeleton lines={6} label="Loading the order…" />
    );
  }

  return (
    <article className="order-page">
      <PageTitle title={placed ? "Thank you" : `Order ${order.id}`}>
        {placed ? "Thank you for your order" : `Order ${order.id}`}
      </PageTitle>
      {placed && (
        <p>
          Order number <code>{order.id}</code>, placed {formatDate(order.created_at)}.
        </p>
      )}
      <div
        className={`order-status status-${order.status.toLowerCase()}`}
        role="status"
        aria-live="polite"
        data-status={order.status}
      >
        <p className="order-status-line">
          Status: <strong>{STATUS_LABELS[order.status]}</strong>
          {watching && !streamProblem && <span className="live-dot" aria-hidden="true" />}
        </p>
        <p>
          {order.status === "CANCELLED"
            ? cancelReasonText(order.cancel_reason)
            : STATUS_EXPLANATIONS[order.status]}
        </p>
      </div>
      {streamProblem && <p className="hint">{streamProblem}</p>}
      <OrderActions order={order} onChanged={setOrder} />

      <div className="order-columns">
        <section aria-labelledby="items-heading">
          <h2 id="items-heading">Items</h2>
          <ul className="review-lines">
            {order.items.map((item) => (
              <li key={item.product_id}>
                <span>
                  {item.quantity} × {item.name}
                </span>
                <Money value={item.line_total} />
              </li>
            ))}
          </ul>
          <p className="review-total">
            <span>Total</span>
            <strong>
              <Money value={order.total} />
            </strong>
          </p>
          <h2>Shipping to</h2>
          <p>{addressLine(order.shipping_address)}</p>
        </section>
        <section aria-labelledby="history-heading">
          <h2 id="history-heading">History</h2>
          <StatusTimeline history={order.history} />
        </section>
      </div>
      <p>
        <Link to="/orders">All your orders</Link>
      </p>
    </article>
  );
}
