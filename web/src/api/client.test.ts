import { describe, expect, it } from "vitest";
import { HttpClient, withQuery } from "./client";
import { ApiError, errorFromResponse, retryAfterSeconds } from "./errors";
import { Session } from "./session";
import { fakeDeps, json, problem, scriptedFetch, tokenAnswer } from "./testing";

async function signedInClient(routes: Parameters<typeof scriptedFetch>[0]) {
  const scripted = scriptedFetch({ "/api/auth/token": [tokenAnswer()], ...routes });
  const session = new Session(fakeDeps(scripted.fetch).deps);
  await session.restore();
  await session.exchangeCode("a-code", "a-verifier", "http://shop.test/auth/callback");
  return { http: new HttpClient(session, scripted.fetch), session, calls: scripted.calls };
}

async function failure(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error("expected an ApiError");
}

describe("the fetch wrapper", () => {
  it("sends JSON with the access token and decodes the answer", async () => {
    const { http, calls } = await signedInClient({ "/api/orders/cart/items/7": [json({ item_count: 2 })] });

    const cart = await http.request<{ item_count: number }>("/api/orders/cart/items/7", {
      method: "PUT",
      body: { quantity: 2 },
    });

    expect(cart.item_count).toBe(2);
    const call = calls.at(-1)!;
    expect(call.init.method).toBe("PUT");
    expect(call.body).toBe('{"quantity":2}');
    expect(call.headers["content-type"]).toBe("application/json");
    expect(call.headers.authorization).toMatch(/^Bearer ey/);
  });

  it("sends no Authorization header when nobody is signed in", async () => {
    const { fetch, calls } = scriptedFetch({
      "/api/catalog/products": [json({ items: [], next_cursor: null })],
    });
    const session = new Session(fakeDeps(fetch).deps);
    await session.restore();

    await new HttpClient(session, fetch).request("/api/catalog/products");

    expect(calls.map((c) => c.url)).toEqual(["/api/catalog/products"]); // no refresh attempt either
    expect(calls[0]!.headers.authorization).toBeUndefined();
  });

  it("answers undefined for 204", async () => {
    const { http } = await signedInClient({
      "/api/orders/cart/items/7": [new Response(null, { status: 204 })],
    });
    await expect(http.request("/api/orders/cart/items/7", { method: "DELETE" })).resolves.toBeUndefined();
  });

  it("leaves empty query values out", () => {
    expect(withQuery("/p", { q: "lamp", cursor: null, category: "", min_price: 0, in_stock: false })).toBe(
      "/p?q=lamp&min_price=0&in_stock=false",
    );
    expect(withQuery("/p", {})).toBe("/p");
  });

  it("turns a problem document into its detail", async () => {
    const { http } = await signedInClient({
      "/api/orders/": [problem(409, "out-of-stock", { detail: "Only 2 of Walnut Desk are left." })],
    });

    const error = await failure(http.request("/api/orders/", { method: "POST", body: {} }));

    expect(error.status).toBe(409);
    expect(error.slug).toBe("out-of-stock");
    expect(error.message).toBe("Only 2 of Walnut Desk are left.");
  });

  it("lists validation errors field by field, in words", async () => {
    const response = problem(422, "validation-error", {
      detail: "card_number: Value error, not a valid card number; exp_year: too old",
      errors: [
        { location: "json", field: "card_number", message: "Value error, not a valid card number" },
        { location: "json", field: "exp_year", message: "Input should be greater than or equal to 2025" },
      ],
    });

    const error = await errorFromResponse(response);

    expect(error.message).toBe(
      "Card number: Not a valid card number. Exp year: Input should be greater than or equal to 2025.",
    );
    expect(error.fieldErrors.map((e) => e.field)).toEqual(["card_number", "exp_year"]);
  });

  it("says when to try again after a 429, from Retry-After", async () => {
    const { http } = await signedInClient({
      "/api/catalog/products": [
        problem(429, "too-many-requests", { detail: "Rate limit exceeded" }, { "Retry-After": "17" }),
      ],
    });

    const error = await failure(http.request("/api/catalog/products"));

    expect(error.status).toBe(429);
    expect(error.retryAfter).toBe(17);
    expect(error.message).toBe("Too many requests: try again in 17 s.");
  });

  it("reads Retry-After as seconds or as an HTTP date", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(retryAfterSeconds("5", now)).toBe(5);
    expect(retryAfterSeconds("Thu, 01 Jan 2026 00:00:30 GMT", now)).toBe(30);
    expect(retryAfterSeconds("Wed, 31 Dec 2025 00:00:00 GMT", now)).toBe(0);
    expect(retryAfterSeconds("soon", now)).toBeUndefined();
    expect(retryAfterSeconds(null, now)).toBeUndefined();
  });

  it("explains an answer that is not a problem document by its status", async () => {
    const error = await errorFromResponse(new Response("<html>Bad gateway</html>", { status: 502 }));
    expect(error.message).toBe("The shop is having trouble right now. Please try again.");
    expect(error.transient).toBe(true);
  });

  it("explains a request that got no answer", async () => {
    const { http } = await signedInClient({ "/api/catalog/products": [new TypeError("Failed to fetch")] });

    const error = await failure(http.request("/api/catalog/products"));

    expect(error.status).toBe(0);
    expect(error.transient).toBe(true);
    expect(error.message).toBe("Cannot reach the shop. Check your connection and try again.");
  });

  it("refreshes once and retries when the token is refused", async () => {
    const { http, calls } = await signedInClient({
      "/api/users/me": [problem(401, "unauthorized"), json({ id: "user-1" })],
    });

    await expect(http.request("/api/users/me")).resolves.toEqual({ id: "user-1" });

    expect(calls.map((c) => c.url)).toEqual([
      "/api/auth/token", // login
      "/api/users/me",
      "/api/auth/token", // refresh from the cookie
      "/api/users/me",
    ]);
    expect(calls[2]!.body).toBe("grant_type=refresh_token");
  });

  it("signs out when the refresh is refused too", async () => {
    const scripted = scriptedFetch({
      "/api/auth/token": [tokenAnswer(), problem(400, "invalid-grant", { error: "invalid_grant" })],
      "/api/users/me": [problem(401, "unauthorized")],
    });
    const session = new Session(fakeDeps(scripted.fetch).deps);
    await session.restore();
    await session.exchangeCode("a-code", "a-verifier", "http://shop.test/auth/callback");

    const error = await failure(new HttpClient(session, scripted.fetch).request("/api/users/me"));

    expect(error.status).toBe(401);
    expect(error.message).toBe("Your session has ended. Please log in again.");
    expect(session.getState().status).toBe("anonymous");
  });
});
