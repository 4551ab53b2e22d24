import { useState } from "react";
import { Link } from "react-router";
import { api } from "../api";
import type { Order } from "../api/types";
import { EmptyState, ErrorMessage, Skeleton } from "../components/Feedback";
import { Money } from "../components/Money";
import { formatDate, StatusBadge } from "../components/OrderParts";
import { PageTitle } from "../components/PageTitle";
import { useAsync } from "../hooks/useAsync";

export function OrdersPage() {
  const first = useAsync((signal) => api.orders.list({ limit: 20 }, signal), []);
  const [more, setMore] = useState<Order[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const next = cursor === undefined ? first.data?.next_cursor : cursor;

  async function loadMore() {
    if (!next) return;
    setLoadingMore(true);
    try {
      const page = await api.orders.list({ limit: 20, cursor: next });
      setMore((current) => [...current, ...page.items]);
      setCursor(page.next_cursor);
    } catch (failure) {
      setError(failure);
    } finally {
      setLoadingMore(false);
    }
  }

  const orders = [...(first.data?.items ?? []), ...more];
  return (
    <section>
      <PageTitle>Your orders</PageTitle>
      {first.loading ? (
        <Skeleton lines={5} label="Loading your orders…" />
      ) : first.error ? (
        <ErrorMessage error={first.error} onRetry={first.reload} />
      ) : orders.length === 0 ? (
        <EmptyState title="You have not ordered anything yet.">
          <Link to="/">Browse the shop</Link>
        </EmptyState>
      ) : (
        <>
          <ul className="order-list">
            {orders.map((order) => (
              <li key={order.id} className="card order-row">
                <Link to={`/orders/${order.id}`} className="order-link">
                  {order.id}
                </Link>
                <span>{formatDate(order.created_at)}</span>
                <StatusBadge status={order.status} />
                <Money value={order.total} />
              </li>
            ))}
          </ul>
          <ErrorMessage error={error} />
          {next && (
            <button
              type="button"
              className="button secondary"
              onClick={() => void loadMore()}
              disabled={loadingMore}
            >
              {loadingMore ? "Loading…" : "Load more orders"}
            </button>
          )}
        </>
      )}
    </section>
  );
}
