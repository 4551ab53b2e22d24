// The admin pages, loaded only when an admin opens them (a separate chunk).
import { type FormEvent, useEffect, useState } from "react";
import { Link, NavLink, Route, Routes, useLocation, useNavigate, useParams } from "react-router";
import { api, ApiError } from "../api";
import type { Order, OrderStatus, Product, ProductCreate, ProductUpdate } from "../api/types";
import { EmptyState, ErrorMessage, Skeleton } from "../components/Feedback";
import { Field } from "../components/Field";
import { Money } from "../components/Money";
import { formatDate, OrderActions, StatusBadge } from "../components/OrderParts";
import { PageTitle } from "../components/PageTitle";
import { useAsync } from "../hooks/useAsync";
import { FaultsAdmin } from "./FaultsAdmin";
import { SHOP_CURRENCY } from "../shop/config";
import { toMajorUnits, toMinorUnits } from "../shop/money";
import { STATUS_LABELS } from "../shop/orders";

export default function AdminApp() {
  return (
    <div className="admin">
      <nav aria-label="Admin" className="sub-nav">
        <ul>
          <li>
            <NavLink to="/admin" end>
              Products
            </NavLink>
          </li>
          <li>
            <NavLink to="/admin/products/new">New product</NavLink>
          </li>
          <li>
            <NavLink to="/admin/orders">Orders</NavLink>
          </li>
          <li>
            <NavLink to="/admin/faults">Faults</NavLink>
          </li>
        </ul>
      </nav>
      <Routes>
        <Route index element={<ProductsAdmin />} />
        <Route path="products/new" element={<ProductForm key="new" />} />
        <Route path="products/:id" element={<ProductForm key="edit" />} />
        <Route path="orders" element={<OrdersAdmin />} />
        <Route path="faults" element={<FaultsAdmin />} />
      </Routes>
    </div>
  );
}

function ProductsAdmin() {
  const [q, setQ] = useState("");
  const [query, setQuery] = useState("");
  const [items, setItems] = useState<Product[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState("");

  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    api.catalog.products({ q: query || undefined, limit: 50 }, controller.signal).then(
      (page) => {
        setItems(page.items);
        setCursor(page.next_cursor);
        setLoading(false);
      },
      (failure: unknown) => {
        if (!controller.signal.aborted) {
          setError(failure);
          setLoading(false);
        }
      },
    );
    return () => controller.abort();
  }, [query]);

  async function more() {
    if (!cursor) return;
    try {
      const page = await api.catalog.products({ q: query || undefined, limit: 50, cursor });
      setItems((current) => [...current, ...page.items]);
      setCursor(page.next_cursor);
    } catch (failure) {
      setError(failure);
    }
  }

  async function deactivate(product: Product) {
    setError(null);
    try {
      await api.catalog.deactivateProduct(product.id);
      setItems((current) => current.filter((p) => p.id !== product.id));
      setNotice(`${product.name} is deactivated: hidden from the shop.`);
    } catch (failure) {
      setError(failure);
    }
  }

  return (
    <section>
      <PageTitle>Products</PageTitle>
      <form
        role="search"
        aria-label="Products"
        className="inline-form"
        onSubmit={(event) => {
          event.preventDefault();
          setQuery(q.trim());
        }}
      >
        <Field label="Search products">
          {(props) => <input {...props} type="search" value={q} onChange={(e) => setQ(e.target.value)} />}
        </Field>
        <button type="submit" className="button secondary">
          Search
        </button>
        <Link to="/admin/products/new" className="button">
          New product
        </Link>
      </form>
      <div role="status">{notice && <p className="success">{notice}</p>}</div>
      <ErrorMessage error={error} />
      {loading ? (
        <Skeleton lines={8} label="Loading products…" />
      ) : items.length === 0 ? (
        <EmptyState title="No active products match." />
      ) : (
        <div className="table-wrap">
          <table className="admin-table">
            <caption className="visually-hidden">Active products</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">SKU</th>
                <th scope="col">Price</th>
                <th scope="col">Stock</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((product) => (
                <tr key={product.id}>
                  <td>
                    <Link to={`/admin/products/${product.id}`}>{product.name}</Link>
                  </td>
                  <td>
                    <code>{product.sku}</code>
                  </td>
                  <td>
                    <Money value={product.price} />
                  </td>
                  <td>{product.stock}</td>
                  <td>
                    <button type="button" className="link-button" onClick={() => void deactivate(product)}>
                      Deactivate<span className="visually-hidden"> {product.name}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {cursor && (
        <button type="button" className="button secondary" onClick={() => void more()}>
          Load more products
        </button>
      )}
    </section>
  );
}

interface ProductValues {
  name: string;
  sku: string;
  description: string;
  price: string;
  currency: string;
  category: string;
  image_url: string;
  stock: string;
  active: boolean;
}

const BLANK: ProductValues = {
  name: "",
  sku: "",
  description: "",
  price: "",
  currency: SHOP_CURRENCY,
  category: "",
  image_url: "",
  stock: "0",
  active: true,
};

function valuesOf(product: Product): ProductValues {
  return {
    name: product.name,
    sku: product.sku,
    description: product.description,
    price: toMajorUnits(product.price.amount, product.price.currency),
    currency: product.price.currency,
    category: product.category.slug,
    image_url: product.image_url ?? "",
    stock: String(product.stock),
    active: product.active,
  };
}

function ProductForm() {
  const { id } = useParams();
  const productId = id ? Number(id) : null;
  const navigate = useNavigate();
  const location = useLocation();
  const categories = useAsync((signal) => api.catalog.categories(signal), []);
  const existing = useAsync(
    (signal) => (productId ? api.catalog.product(productId, signal) : Promise.resolve(null)),
    [productId],
  );
  const [values, setValues] = useState<ProductValues>(BLANK);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState((location.state as { notice?: string } | null)?.notice ?? "");

  useEffect(() => {
    setValues(existing.data ? valuesOf(existing.data) : { ...BLANK });
  }, [existing.data]);
  useEffect(() => {
    const first = categories.data?.items[0];
    if (!productId && first) setValues((v) => (v.category ? v : { ...v, category: first.slug }));
  }, [categories.data, productId]);

  const set = (name: keyof ProductValues) => (event: { target: { value: string } }) =>
    setValues((current) => ({ ...current, [name]: event.target.value }));

  async function save(event: FormEvent) {
    event.preventDefault();
    setError(null);
    setNotice("");
    const currency = values.currency.trim().toUpperCase();
    const amount = toMinorUnits(values.price, currency);
    if (amount === null) {
      setError(
        new ApiError({
          status: 422,
          type: "price",
          title: "Invalid price",
          detail: "Price: type an amount such as 12.50.",
        }),
      );
      return;
    }
    setSaving(true);
    try {
      if (productId && existing.data) {
        const changes: ProductUpdate = {
          name: values.name.trim(),
          description: values.description,
          price: { amount, currency },
          category: values.category,
          image_url: values.image_url.trim() || null,
          active: values.active,
        };
        existing.setData(await api.catalog.updateProduct(productId, changes));
        setNotice("Saved.");
      } else {
        const body: ProductCreate = {
          sku: values.sku.trim().toUpperCase(),
          name: values.name.trim(),
          description: values.description,
          price: { amount, currency },
          category: values.category,
          image_url: values.image_url.trim() || null,
          stock: Number(values.stock) || 0,
        };
        const created = await api.catalog.createProduct(body);
        navigate(`/admin/products/${created.id}`, {
          replace: true,
          state: { notice: `${created.name} created.` },
        });
      }
    } catch (failure) {
      setError(failure);
    } finally {
      setSaving(false);
    }
  }

  if (existing.loading || categories.loading) return <Skeleton lines={8} label="Loading…" />;
  if (existing.error || categories.error) {
    return <ErrorMessage error={existing.error || categories.error} onRetry={existing.reload} />;
  }
  const product = existing.data;

  return (
    <section className="product-form">
      <PageTitle title={product ? `Edit ${product.name}` : "New product"}>
        {product ? `Edit ${product.name}` : "New product"}
      </PageTitle>
      <div role="status">{notice && <p className="success">{notice}</p>}</div>
      {product && (
        <p>
          <Link to={`/products/${product.slug}`}>View in the shop</Link> · <code>{product.sku}</code>
          {!product.active && <strong> · inactive</strong>}
        </p>
      )}
      <form onSubmit={save} className="stack panel">
        <Field label="Name">
          {(props) => (
            <input {...props} value={values.name} onChange={set("name")} required maxLength={200} />
          )}
        </Field>
        {!product && (
          <Field label="SKU" hint="Capital letters, digits and dashes, e.g. LAMP-0042.">
            {(props) => (
              <input
                {...props}
                value={values.sku}
                onChange={set("sku")}
                required
                minLength={3}
                maxLength={32}
                pattern="[A-Za-z0-9][A-Za-z0-9\-]*"
              />
            )}
          </Field>
        )}
        <Field label="Description">
          {(props) => (
            <textarea
              {...props}
              value={values.description}
              onChange={set("description")}
              rows={4}
              maxLength={5000}
            />
          )}
        </Field>
        <div className="field-row">
          <Field label="Price">
            {(props) => (
              <input
                {...props}
                value={values.price}
                onChange={set("price")}
                inputMode="decimal"
                required
                placeholder="12.50"
              />
            )}
          </Field>
          <Field label="Currency">
            {(props) => (
              <input
                {...props}
                value={values.currency}
                onChange={set("currency")}
                required
                minLength={3}
                maxLength={3}
                pattern="[A-Za-z]{3}"
              />
            )}
          </Field>
        </div>
        <Field label="Category">
          {(props) => (
            <select {...props} value={values.category} onChange={set("category")} required>
              {categories.data?.items.map((category) => (
                <option key={category.slug} value={category.slug}>
                  {category.name}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Image URL (optional)">
          {(props) => (
            <input
              {...props}
              type="url"
              value={values.image_url}
              onChange={set("image_url")}
              maxLength={500}
            />
          )}
        </Field>
        {!product && (
          <Field label="Initial stock">
            {(props) => (
              <input {...props} type="number" min={0} value={values.stock} onChange={set("stock")} />
            )}
          </Field>
        )}
        {product && (
          <div className="field checkbox">
            <input
              id="product-active"
              type="checkbox"
              checked={values.active}
              onChange={(e) => setValues((v) => ({ ...v, active: e.target.checked }))}
            />
            <label htmlFor="product-active">Active (shown in the shop)</label>
          </div>
        )}
        <ErrorMessage error={error} />
        <button type="submit" className="button" disabled={saving}>
          {saving ? "Saving…" : product ? "Save changes" : "Create product"}
        </button>
      </form>
      {product && <StockForm product={product} onChanged={existing.setData} />}
    </section>
  );
}

function StockForm({ product, onChanged }: { product: Product; onChanged: (product: Product) => void }) {
  const [delta, setDelta] = useState("");
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState("");

  async function adjust(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setNotice("");
    try {
      const changed = await api.catalog.adjustStock(product.id, {
        delta: Number(delta),
        reason: reason.trim(),
      });
      onChanged(changed);
      setNotice(`Stock is now ${changed.stock}.`);
      setDelta("");
      setReason("");
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="stock-heading" className="panel">
      <h2 id="stock-heading">Stock: {product.stock}</h2>
      <form onSubmit={adjust} className="stack">
        <div className="field-row">
          <Field label="Change by" hint="Negative to take away, e.g. -2.">
            {(props) => (
              <input
                {...props}
                type="number"
                step={1}
                value={delta}
                onChange={(e) => setDelta(e.target.value)}
                required
              />
            )}
          </Field>
          <Field label="Reason">
            {(props) => (
              <input
                {...props}
                value={reason}
                onChange={(e) => setReason(e.target.value)}
                required
                maxLength={200}
                placeholder="Delivery from the supplier"
              />
            )}
          </Field>
        </div>
        <ErrorMessage error={error} />
        <div role="status">{notice && <p className="success">{notice}</p>}</div>
        <button type="submit" className="button secondary" disabled={busy}>
          {busy ? "Adjusting…" : "Adjust stock"}
        </button>
      </form>
    </section>
  );
}

const STATUSES = Object.keys(STATUS_LABELS) as OrderStatus[];

function OrdersAdmin() {
  const [status, setStatus] = useState<OrderStatus | "">("");
  const [orders, setOrders] = useState<Order[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    setError(null);
    api.orders.list({ all: true, status: status || undefined, limit: 50 }, controller.signal).then(
      (page) => {
        setOrders(page.items);
        setCursor(page.next_cursor);
        setLoading(false);
      },
      (failure: unknown) => {
        if (!controller.signal.aborted) {
          setError(failure);
          setLoading(false);
        }
      },
    );
    return () => controller.abort();
  }, [status]);

  async function more() {
    if (!cursor) return;
    try {
      const page = await api.orders.list({ all: true, status: status || undefined, limit: 50, cursor });
      setOrders((current) => [...current, ...page.items]);
      setCursor(page.next_cursor);
    } catch (failure) {
      setError(failure);
    }
  }

  const replace = (changed: Order) =>
    setOrders((current) => current.map((o) => (o.id === changed.id ? changed : o)));

  return (
    <section>
      <PageTitle>Orders</PageTitle>
      <Field label="Status">
        {(props) => (
          <select {...props} value={status} onChange={(e) => setStatus(e.target.value as OrderStatus | "")}>
            <option value="">All statuses</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {STATUS_LABELS[s]}
              </option>
            ))}
          </select>
        )}
      </Field>
      <ErrorMessage error={error} />
      {loading ? (
        <Skeleton lines={8} label="Loading orders…" />
      ) : orders.length === 0 ? (
        <EmptyState title="No orders." />
      ) : (
        <ul className="order-list">
          {orders.map((order) => (
            <li key={order.id} className="card order-row admin-order">
              <Link to={`/orders/${order.id}`} className="order-link">
                {order.id}
              </Link>
              <span>{order.shipping_address.name}</span>
              <span>{formatDate(order.created_at)}</span>
              <StatusBadge status={order.status} />
              <Money value={order.total} />
              <OrderActions order={order} onChanged={replace} />
            </li>
          ))}
        </ul>
      )}
      {cursor && (
        <button type="button" className="button secondary" onClick={() => void more()}>
          Load more orders
        </button>
      )}
    </section>
  );
}
