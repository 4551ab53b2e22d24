// The signed-in customer's cart, shared by the header's count and the cart and checkout pages.
// Changes show at once (shop/cart.ts computes them) and the server's answer replaces them.
import { useEffect, useSyncExternalStore } from "react";
import { api, session } from "../api";
import type { Cart } from "../api/types";
import { withoutProduct, withQuantity } from "../shop/cart";

interface CartState {
  cart: Cart | null;
  loading: boolean;
  error: unknown;
}

let state: CartState = { cart: null, loading: false, error: null };
const listeners = new Set<() => void>();
let loaded = false;

function set(next: Partial<CartState>): void {
  state = { ...state, ...next };
  for (const listener of listeners) listener();
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

// Another user's cart must never show after a logout and a login.
session.subscribe(() => {
  if (session.getState().status !== "signed-in") {
    loaded = false;
    set({ cart: null, loading: false, error: null });
  }
});

export const cartStore = {
  async reload(): Promise<void> {
    if (session.getState().status !== "signed-in") return;
    loaded = true;
    set({ loading: true, error: null });
    try {
      set({ cart: await api.orders.cart(), loading: false });
    } catch (error) {
      set({ error, loading: false });
    }
  },

  /** Put `quantity` of a product in the cart (adds it, or changes its quantity). */
  async setQuantity(productId: number, quantity: number): Promise<void> {
    const before = state.cart;
    if (before?.items.some((line) => line.product_id === productId)) {
      set({ cart: withQuantity(before, productId, quantity) });
    }
    try {
      set({ cart: await api.orders.setQuantity(productId, quantity), error: null });
    } catch (error) {
      set({ cart: before });
      throw error;
    }
  },

  async remove(productId: number): Promise<void> {
    const before = state.cart;
    if (before) set({ cart: withoutProduct(before, productId) });
    try {
      await api.orders.removeFromCart(productId);
    } catch (error) {
      set({ cart: before });
      throw error;
    }
  },

  /** Checkout emptied the cart on the server. */
  emptied(): void {
    if (state.cart) set({ cart: { items: [], total: null, currency: null, item_count: 0 } });
  },
};

/** The cart, loaded the first time a signed-in page asks for it. */
export function useCart(): CartState {
  const current = useSyncExternalStore(subscribe, () => state);
  const { status } = useSyncExternalStore(session.subscribe, session.getState);
  useEffect(() => {
    if (status === "signed-in" && !loaded) void cartStore.reload();
  }, [status]);
  return current;
}
