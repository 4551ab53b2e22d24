// Names for the generated API types (src/api/generated/, from each service's OpenAPI
// document): pages use these, never hand-written copies of the services' shapes.
import type { components as AuthComponents } from "./generated/auth";
import type { components as CatalogComponents, paths as CatalogPaths } from "./generated/catalog";
import type { components as OrdersComponents, paths as OrdersPaths } from "./generated/orders";
import type { components as PaymentsComponents } from "./generated/payments";
import type { components as UsersComponents } from "./generated/users";

type Catalog = CatalogComponents["schemas"];
type Orders = OrdersComponents["schemas"];
type Users = UsersComponents["schemas"];
type Payments = PaymentsComponents["schemas"];
type Auth = AuthComponents["schemas"];

export type Problem = Catalog["Problem"];
/** An amount in minor units (cents) of an ISO 4217 currency. */
export type Money = Catalog["ProductRead.Money"];

export type Product = Catalog["ProductRead"];
export type ProductPage = Catalog["ProductPage"];
export type ProductQuery = NonNullable<CatalogPaths["/products"]["get"]["parameters"]["query"]>;
export type ProductSort = NonNullable<ProductQuery["sort"]>;
export type ProductCreate = Catalog["ProductCreate"];
export type ProductUpdate = Catalog["ProductUpdate"];
export type StockAdjustment = Catalog["StockAdjustment"];
export type Category = Catalog["CategoryRead"];
export type CategoryList = Catalog["CategoryList"];

export type Cart = Orders["CartRead"];
export type CartLine = Orders["CartRead.CartLine"];
export type Order = Orders["OrderRead"];
export type OrderStatus = Orders["OrderRead.OrderStatus"];
export type OrderHistoryEntry = Orders["OrderRead.HistoryEntry"];
export type OrderPage = Orders["OrderPage"];
export type OrderQuery = NonNullable<OrdersPaths["/"]["get"]["parameters"]["query"]>;
export type CheckoutRequest = Orders["CheckoutRequest"];
export type StatusChange = Orders["StatusChange"];

export type Profile = Users["ProfileRead"];
export type ProfileUpdate = Users["ProfileUpdate"];
export type Address = Users["AddressRead"];
export type AddressList = Users["AddressList"];
export type AddressCreate = Users["AddressCreate"];

export type PaymentMethod = Payments["MethodRead"];
export type PaymentMethodList = Payments["MethodList"];
export type PaymentMethodCreate = Payments["MethodCreate"];

export type TokenAnswer = Auth["TokenRead"];
export type AccountCreate = Auth["AccountCreate"];
export type Account = Auth["AccountRead"];

// The gateway's own `/api/faults` (operators only) is in no service's document: its shape
// is chassis.faults' and gateway/faults.py's.
export interface FaultFlag {
  name: string;
  kind: "switch" | "ratio" | "milliseconds";
  description: string;
  maximum: number;
  value: number;
  active: boolean;
}
export interface FaultList {
  items: FaultFlag[];
}
