import { describe, expect, it } from "vitest";
import { ApiError } from "../api/errors";
import { CheckoutAttempt, newIdempotencyKey, placeOnce, type RetryPolicy } from "./checkout";

const request = { address_id: "adr_1", payment_method_id: "pm_1" };
const noWait: RetryPolicy = { attempts: 3, delayMs: () => 0, sleep: async () => undefined };

function counter() {
  let n = 0;
  return () => `key-${++n}`;
}

describe("the checkout idempotency key", () => {
  it("is the same for every retry of one attempt", () => {
    const attempt = new CheckoutAttempt(counter());
    expect(attempt.keyFor(request)).toBe("key-1");
    expect(attempt.keyFor({ ...request })).toBe("key-1");
  });

  it("is new when the address or the card changes", () => {
    const attempt = new CheckoutAttempt(counter());
    attempt.keyFor(request);
    expect(attempt.keyFor({ ...request, payment_method_id: "pm_2" })).toBe("key-2");
  });

  it("is new for the next order once one was placed", () => {
    const attempt = new CheckoutAttempt(counter());
    attempt.keyFor(request);
    attempt.finish();
    expect(attempt.keyFor(request)).toBe("key-2");
  });

  it("is a v4 UUID", () => {
    expect(newIdempotencyKey()).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });

  it("is sent again when the first try got no answer", async () => {
    const attempt = new CheckoutAttempt(counter());
    const keys: string[] = [];
    const order = await placeOnce(
      attempt,
      request,
      async (_, key) => {
        keys.push(key);
        if (keys.length === 1) throw new ApiError({ status: 0, type: "network", title: "No connection" });
        if (keys.length === 2)
          throw new ApiError({
            status: 409,
            type: "/problems/idempotency-key-in-flight",
            title: "In flight",
          });
        return { id: "ord_1" };
      },
      noWait,
    );

    expect(order).toEqual({ id: "ord_1" });
    expect(keys).toEqual(["key-1", "key-1", "key-1"]);
  });

  it("is not retried on a refusal, and stays for the customer's own retry", async () => {
    const attempt = new CheckoutAttempt(counter());
    const keys: string[] = [];
    const refuse = async (_: unknown, key: string) => {
      keys.push(key);
      throw new ApiError({ status: 409, type: "/problems/out-of-stock", title: "Out of stock" });
    };

    await expect(placeOnce(attempt, request, refuse, noWait)).rejects.toThrow("Out of stock");
    await expect(placeOnce(attempt, request, refuse, noWait)).rejects.toThrow("Out of stock");

    expect(keys).toEqual(["key-1", "key-1"]);
  });

  it("gives up after the last try", async () => {
    let tries = 0;
    const down = async () => {
      tries += 1;
      throw new ApiError({ status: 503, type: "/problems/service-unavailable", title: "Unavailable" });
    };
    await expect(placeOnce(new CheckoutAttempt(), request, down, noWait)).rejects.toThrow();
    expect(tries).toBe(3);
  });
});
