import { useState } from "react";
import { api } from "../api";
import type { Order, OrderHistoryEntry, OrderStatus } from "../api/types";
import { STATUS_LABELS, TRANSITION_LABELS } from "../shop/orders";
import { ErrorMessage } from "./Feedback";

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function formatDate(iso: string): string {
  return dateTime.format(new Date(iso));
}

export function StatusBadge({ status }: { status: OrderStatus }) {
  return <span className={`status status-${status.toLowerCase()}`}>{STATUS_LABELS[status]}</span>;
}

/** The order's history, oldest first, as an ordered list. */
export function StatusTimeline({ history }: { history: OrderHistoryEntry[] }) {
  return (
    <ol className="timeline" aria-label="Status history">
      {history.map((entry, index) => (
        <li key={`${entry.at}-${index}`} className={`timeline-step status-${entry.status.toLowerCase()}`}>
          <span className="timeline-status">{STATUS_LABELS[entry.status]}</span>
          {entry.note && <span className="timeline-note">{entry.note}</span>}
          <time dateTime={entry.at}>{formatDate(entry.at)}</time>
        </li>
      ))}
    </ol>
  );
}

/** A button per move the caller may make now (the order's `allowed_transitions`). */
export function OrderActions({ order, onChanged }: { order: Order; onChanged: (order: Order) => void }) {
  const [busy, setBusy] = useState<OrderStatus | null>(null);
  const [error, setError] = useState<unknown>(null);

  async function move(status: OrderStatus) {
    setBusy(status);
    setError(null);
    try {
      const changed =
        status === "CANCELLED"
          ? await api.orders.cancel(order.id)
          : await api.orders.setStatus(order.id, { status: status as "SHIPPED" | "DELIVERED" });
      onChanged(changed);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(null);
    }
  }

  if (order.allowed_transitions.length === 0) return null;
  return (
    <div className="order-actions">
      {order.allowed_transitions.map((status) => (
        <button
          key={status}
          type="button"
          className={status === "CANCELLED" ? "button danger" : "button secondary"}
          disabled={busy !== null}
          onClick={() => void move(status)}
        >
          {busy === status ? "Working…" : TRANSITION_LABELS[status]}
          <span className="visually-hidden"> {order.id}</span>
        </button>
      ))}
      <ErrorMessage error={error} />
    </div>
  );
}
