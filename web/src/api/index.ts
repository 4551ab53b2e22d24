// The API as the pages use it: one function per call, typed from the services' documents.
// Paths are checked against the generated `paths` of each service at compile time.
import { HttpClient } from "./client";
import type { paths as AuthPaths } from "./generated/auth";
import type { paths as CatalogPaths } from "./generated/catalog";
import type { paths as OrdersPaths } from "./generated/orders";
import type { paths as PaymentsPaths } from "./generated/payments";
import type { paths as UsersPaths } from "./generated/users";
import { Session, browserSessionDeps } from "./session";
import { watchEvents } from "./sse";
import { ApiError } from "./errors";
import type {
  Account,
  AccountCreate,
  Address,
  AddressCreate,
  AddressList,
  Cart,
  CategoryList,
  FaultFlag,
  FaultList,
  CheckoutRequest,
  Order,
  OrderPage,
  OrderQuery,
  PaymentMethod,
  PaymentMethodCreate,
  PaymentMethodList,
  Product,
  ProductCreate,
  ProductPage,
  ProductQuery,
  ProductUpdate,
  Profile,
  ProfileUpdate,
  StatusChange,
  StockAdjustment,
} from "./types";

export { ApiError, messageOf } from "./errors";
export type * from "./types";

type Params = Record<string, string | number>;

/** `/api/<service><template>` with `{name}` placeholders filled in (and escaped). */
function route(service: string, template: string, params: Params = {}): string {
  const path = template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`missing path parameter ${name}`);
    return encodeURIComponent(String(value));
  });
  return `/api/${service}${path}`;
}

const catalog = (template: keyof CatalogPaths, params?: Params) => route("catalog", template, params);
const orders = (template: keyof OrdersPaths, params?: Params) => route("orders", template, params);
const users = (template: keyof UsersPaths, params?: Params) => route("users", template, params);
const payments = (template: keyof PaymentsPaths, params?: Params) => route("payments", template, params);
const auth = (template: keyof AuthPaths) => route("auth", template);

export const session = new Session(browserSessionDeps());
const http = new HttpClient(session);

const FINAL_STREAM_STATUSES = new Set(["CANCELLED", "DELIVERED"]);

export const api = {
  auth: {
    register: (body: AccountCreate) => http.request<Account>(auth("/register"), { method: "POST", body }),
  },
  catalog: {
    products: (query: ProductQuery, signal?: AbortSignal) =>
      http.request<ProductPage>(catalog("/products"), { query, signal }),
    product: (id: number, signal?: AbortSignal) =>
      http.request<Product>(catalog("/products/{product_id}", { product_id: id }), { signal }),
    productBySlug: (slug: string, signal?: AbortSignal) =>
      http.request<Product>(catalog("/products/by-slug/{slug}", { slug }), { signal }),
    categories: (signal?: AbortSignal) => http.request<CategoryList>(catalog("/categories"), { signal }),
    createProduct: (body: ProductCreate) =>
      http.request<Product>(catalog("/products"), { method: "POST", body }),
    updateProduct: (id: number, body: ProductUpdate) =>
      http.request<Product>(catalog("/products/{product_id}", { product_id: id }), {
        method: "PATCH",
        body,
      }),
    deactivateProduct: (id: number) =>
      http.request<void>(catalog("/products/{product_id}", { product_id: id }), { method: "DELETE" }),
    adjustStock: (id: number, body: StockAdjustment) =>
      http.request<Product>(catalog("/products/{product_id}/stock-adjustments", { product_id: id }), {
        method: "POST",
        body,
      }),
  },
  orders: {
    cart: (signal?: AbortSignal) => http.request<Cart>(orders("/cart"), { signal }),
    setQuantity: (productId: number, quantity: number) =>
      http.request<Cart>(orders("/cart/items/{product_id}", { product_id: productId }), {
        method: "PUT",
        body: { quantity },
      }),
    removeFromCart: (productId: number) =>
      http.request<void>(orders("/cart/items/{product_id}", { product_id: productId }), {
        method: "DELETE",
      }),
    /** Checkout; `key` is the attempt's Idempotency-Key (see shop/checkout.ts). */
    checkout: (body: CheckoutRequest, key: string) =>
      http.request<Order>(orders("/"), { method: "POST", body, headers: { "Idempotency-Key": key } }),
    list: (query: OrderQuery, signal?: AbortSignal) =>
      http.request<OrderPage>(orders("/"), { query, signal }),
    get: (id: string, signal?: AbortSignal) =>
      http.request<Order>(orders("/{order_id}", { order_id: id }), { signal }),
    cancel: (id: string) =>
      http.request<Order>(orders("/{order_id}/cancel", { order_id: id }), { method: "POST" }),
    setStatus: (id: string, body: StatusChange) =>
      http.request<Order>(orders("/{order_id}/status", { order_id: id }), { method: "POST", body }),
    /**
     * Follow an order's status stream (SSE over fetch, with the Authorization header) until
     * it is CANCELLED or DELIVERED or `signal` aborts; `onOrder` gets each state.
     */
    watch: (
      id: string,
      onOrder: (order: Order) => void,
      signal: AbortSignal,
      onError?: (error: unknown, willRetry: boolean) => void,
    ) => {
      let last: Order | null = null;
      return watchEvents(
        (streamSignal) =>
          http.send(orders("/{order_id}/events", { order_id: id }), {
            headers: { Accept: "text/event-stream" },
            signal: streamSignal,
          }),
        (event) => {
          if (event.event !== "status") return;
          last = JSON.parse(event.data) as Order;
          onOrder(last);
        },
        {
          signal,
          isDone: () => last !== null && FINAL_STREAM_STATUSES.has(last.status),
          isRetryable: (error) => !(error instanceof ApiError) || error.transient || error.status === 429,
          onError,
        },
      );
    },
  },
  users: {
    me: (signal?: AbortSignal) => http.request<Profile>(users("/me"), { signal }),
    updateMe: (body: ProfileUpdate) => http.request<Profile>(users("/me"), { method: "PATCH", body }),
    addresses: (signal?: AbortSignal) => http.request<AddressList>(users("/me/addresses"), { signal }),
    addAddress: (body: AddressCreate) =>
      http.request<Address>(users("/me/addresses"), { method: "POST", body }),
    deleteAddress: (id: string) =>
      http.request<void>(users("/me/addresses/{address_id}", { address_id: id }), { method: "DELETE" }),
  },
  faults: {
    list: (signal?: AbortSignal) => http.request<FaultList>("/api/faults", { signal }),
    /** `value`: true/false for a switch, a share 0..1, or milliseconds. */
    set: (name: string, value: number | boolean) =>
      http.request<FaultFlag>(`/api/faults/${encodeURIComponent(name)}`, { method: "PUT", body: { value } }),
    clear: (name: string) =>
      http.request<FaultFlag>(`/api/faults/${encodeURIComponent(name)}`, { method: "DELETE" }),
    clearAll: () => http.request<void>("/api/faults", { method: "DELETE" }),
  },
  payments: {
    methods: (signal?: AbortSignal) => http.request<PaymentMethodList>(payments("/methods"), { signal }),
    addMethod: (body: PaymentMethodCreate) =>
      http.request<PaymentMethod>(payments("/methods"), { method: "POST", body }),
  },
};
