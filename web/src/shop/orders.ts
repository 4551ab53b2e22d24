// Order statuses and reasons in words a customer understands.
import type { OrderStatus } from "../api/types";

export const STATUS_LABELS: Record<OrderStatus, string> = {
  PENDING: "Pending",
  CONFIRMED: "Confirmed",
  CANCELLED: "Cancelled",
  SHIPPED: "Shipped",
  DELIVERED: "Delivered",
};

export const STATUS_EXPLANATIONS: Record<OrderStatus, string> = {
  PENDING: "We are reserving your items and authorizing your card…",
  CONFIRMED: "Your order is confirmed. We will ship it soon.",
  CANCELLED: "This order was cancelled.",
  SHIPPED: "Your order is on its way.",
  DELIVERED: "Your order was delivered.",
};

/** What an admin's or customer's button says for a move to `status`. */
export const TRANSITION_LABELS: Record<OrderStatus, string> = {
  PENDING: "Reopen",
  CONFIRMED: "Confirm",
  CANCELLED: "Cancel order",
  SHIPPED: "Mark as shipped",
  DELIVERED: "Mark as delivered",
};

const DECLINES: Record<string, string> = {
  card_declined: "Your card was declined.",
  insufficient_funds: "Your card has insufficient funds.",
  processing_error: "The card could not be processed.",
  payment_method_not_found: "The card was not found.",
};

/** "payment declined: card_declined" → "Your card was declined. Nothing was charged." */
export function cancelReasonText(reason: string | null): string {
  if (!reason) return "This order was cancelled.";
  const declined = /^payment declined: (\w+)/.exec(reason);
  if (declined) {
    const what = DECLINES[declined[1] ?? ""] ?? "The payment was declined.";
    return `${what} Your order was cancelled and nothing was charged.`;
  }
  // Catalog's reasons: "product 5 has 0 in stock, 2 wanted", "… is not for sale".
  if (/in stock|not for sale|does not exist/i.test(reason)) {
    return "Some items are no longer available, so the order was cancelled and nothing was charged.";
  }
  if (reason === "timed out") return "The order could not be completed in time and was cancelled.";
  return `This order was cancelled: ${reason}.`;
}
