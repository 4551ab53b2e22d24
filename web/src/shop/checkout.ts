// Placing an order exactly once. Checkout needs an Idempotency-Key: one attempt (this cart,
// this address, this card) keeps its key through every retry, so a retry after a lost answer
// gets the first order back instead of a second one. Changing the address or the card is a
// new request, so a new key (the server refuses one key with two bodies).
import type { CheckoutRequest } from "../api/types";

/** A random UUID, also where crypto.randomUUID is missing (plain HTTP on a LAN address). */
export function newIdempotencyKey(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40; // version 4
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80; // RFC 4122 variant
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export class CheckoutAttempt {
  private key: string | null = null;
  private body: string | null = null;
  private readonly newKey: () => string;

  constructor(newKey: () => string = newIdempotencyKey) {
    this.newKey = newKey;
  }

  /** The key for this request: the same as last time unless the request changed. */
  keyFor(request: CheckoutRequest): string {
    const body = JSON.stringify([request.address_id, request.payment_method_id]);
    if (this.key === null || body !== this.body) {
      this.key = this.newKey();
      this.body = body;
    }
    return this.key;
  }

  /** The order was placed: the next checkout is a new attempt. */
  finish(): void {
    this.key = null;
    this.body = null;
  }
}

export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts: number;
  delayMs: (attempt: number) => number;
  sleep: (ms: number) => Promise<void>;
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 3,
  delayMs: (attempt) => 500 * 2 ** (attempt - 1),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** Worth the same request again: nothing answered, a 502-504, or the first try still running. */
export function isRetryable(error: unknown): boolean {
  const e = error as { status?: number; slug?: string; transient?: boolean };
  return e?.transient === true || (e?.status === 409 && e.slug === "idempotency-key-in-flight");
}

/** Send `place(key)` until it succeeds, fails for good, or the tries run out; one key throughout. */
export async function placeOnce<T>(
  attempt: CheckoutAttempt,
  request: CheckoutRequest,
  place: (request: CheckoutRequest, key: string) => Promise<T>,
  policy: RetryPolicy = DEFAULT_RETRY,
): Promise<T> {
  const key = attempt.keyFor(request);
  for (let n = 1; ; n += 1) {
    try {
      const result = await place(request, key);
      attempt.finish();
      return result;
    } catch (error) {
      if (n >= policy.attempts || !isRetryable(error)) throw error;
      await policy.sleep(policy.delayMs(n));
    }
  }
}
