import { useCallback, useEffect, useRef, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { api } from "../api";
import type { Product, ProductQuery, ProductSort } from "../api/types";
import { EmptyState, ErrorMessage, SkeletonCards } from "../components/Feedback";
import { Field } from "../components/Field";
import { Money } from "../components/Money";
import { PageTitle } from "../components/PageTitle";
import { ProductImage } from "../components/ProductImage";
import { useAsync } from "../hooks/useAsync";
import { SHOP_CURRENCY } from "../shop/config";
import { fractionDigits, toMinorUnits } from "../shop/money";

const PAGE_SIZE = 24;
const SORTS: { value: ProductSort; label: string }[] = [
  { value: "newest", label: "Newest" },
  { value: "price_asc", label: "Price: low to high" },
  { value: "price_desc", label: "Price: high to low" },
  { value: "name", label: "Name" },
];

/** The filters as the URL holds them (so a search can be shared and survives a reload). */
function queryFrom(params: URLSearchParams): ProductQuery {
  const sort = params.get("sort");
  const price = (name: string) => {
    const text = params.get(name);
    return text ? (toMinorUnits(text, SHOP_CURRENCY) ?? undefined) : undefined;
  };
  return {
    q: params.get("q")?.trim() || undefined,
    category: params.get("category") || undefined,
    min_price: price("min"),
    max_price: price("max"),
    in_stock: params.get("in_stock") === "1" ? true : undefined,
    sort: SORTS.some((s) => s.value === sort) ? (sort as ProductSort) : "newest",
    limit: PAGE_SIZE,
  };
}

export function CatalogPage() {
  const [params, setParams] = useSearchParams();
  const query = queryFrom(params);
  const key = JSON.stringify(query);
  const categories = useAsync((signal) => api.catalog.categories(signal), []);

  const [items, setItems] = useState<Product[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [search, setSearch] = useState(params.get("q") ?? "");
  const [generation, setGeneration] = useState(0);
  const sentinel = useRef<HTMLDivElement>(null);
  // The "load more" in flight: a page of the old filters must never join the new list.
  const more = useRef<AbortController | null>(null);

  // First page whenever the filters change.
  useEffect(() => {
    const controller = new AbortController();
    more.current?.abort();
    more.current = null;
    setLoadingMore(false);
    setLoading(true);
    setError(null);
    api.catalog.products(JSON.parse(key) as ProductQuery, controller.signal).then(
      (page) => {
        if (controller.signal.aborted) return;
        setItems(page.items);
        setCursor(page.next_cursor);
        setLoading(false);
      },
      (failure: unknown) => {
        if (controller.signal.aborted) return;
        setError(failure);
        setLoading(false);
      },
    );
    return () => controller.abort();
  }, [key, generation]);

  const loadMore = useCallback(async () => {
    if (!cursor || loadingMore) return;
    const controller = new AbortController();
    more.current = controller;
    setLoadingMore(true);
    try {
      const page = await api.catalog.products(
        { ...(JSON.parse(key) as ProductQuery), cursor },
        controller.signal,
      );
      if (controller.signal.aborted) return;
      setItems((current) => [...current, ...page.items]);
      setCursor(page.next_cursor);
      setError(null);
    } catch (failure) {
      if (controller.signal.aborted) return;
      setError(failure);
    } finally {
      if (more.current === controller) {
        more.current = null;
        setLoadingMore(false);
      }
    }
  }, [cursor, key, loadingMore]);

  useEffect(() => () => more.current?.abort(), []);

  // Infinite scroll: the next page when the end of the list comes near.
  useEffect(() => {
    const target = sentinel.current;
    if (!target || !cursor || typeof IntersectionObserver === "undefined") return;
    const observer = new IntersectionObserver(
      (entries) => {
        if (entries.some((entry) => entry.isIntersecting)) void loadMore();
      },
      { rootMargin: "400px" },
    );
    observer.observe(target);
    return () => observer.disconnect();
  }, [cursor, loadMore]);

  // The search box updates the URL once typing pauses.
  useEffect(() => {
    const current = params.get("q") ?? "";
    if (search.trim() === current.trim()) return;
    const timer = setTimeout(() => update({ q: search.trim() }), 300);
    return () => clearTimeout(timer);
    // Only typing restarts the wait; the URL changing under it is read when it fires.
  }, [search]);

  function update(changes: Record<string, string>) {
    // From the URL as it is now, not as this render saw it (the search waits 300 ms).
    setParams(
      (current) => {
        const next = new URLSearchParams(current);
        for (const [name, value] of Object.entries(changes)) {
          if (value) next.set(name, value);
          else next.delete(name);
        }
        return next;
      },
      { replace: true },
    );
  }

  const currencySymbol =
    new Intl.NumberFormat(undefined, { style: "currency", currency: SHOP_CURRENCY })
      .formatToParts(0)
      .find((part) => part.type === "currency")?.value ?? SHOP_CURRENCY;
  const step = 1 / 10 ** fractionDigits(SHOP_CURRENCY);
  const filtered = Boolean(
    params.get("q") ||
    params.get("category") ||
    params.get("min") ||
    params.get("max") ||
    params.get("in_stock"),
  );

  return (
    <div className="catalog">
      <PageTitle title="Shop">Shop</PageTitle>
      <form
        className="filters"
        role="search"
        aria-label="Products"
        onSubmit={(event) => {
          event.preventDefault();
          update({ q: search.trim() });
        }}
      >
        <Field label="Search" className="search-field">
          {(props) => (
            <input
              {...props}
              type="search"
              name="q"
              value={search}
              onChange={(event) => setSearch(event.target.value)}
              placeholder="Lamp, walnut, linen…"
              autoComplete="off"
            />
          )}
        </Field>
        <Field label="Category">
          {(props) => (
            <select
              {...props}
              value={params.get("category") ?? ""}
              onChange={(e) => update({ category: e.target.value })}
            >
              <option value="">All categories</option>
              {categories.data?.items.map((category) => (
                <option key={category.slug} value={category.slug}>
                  {category.name}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label={`Min price (${currencySymbol})`}>
          {(props) => (
            <input
              {...props}
              type="number"
              min={0}
              step={step}
              inputMode="decimal"
              key={params.get("min") ?? ""}
              defaultValue={params.get("min") ?? ""}
              onBlur={(e) => update({ min: e.target.value })}
              onKeyDown={(e) => e.key === "Enter" && update({ min: e.currentTarget.value })}
            />
          )}
        </Field>
        <Field label={`Max price (${currencySymbol})`}>
          {(props) => (
            <input
              {...props}
              type="number"
              min={0}
              step={step}
              inputMode="decimal"
              key={params.get("max") ?? ""}
              defaultValue={params.get("max") ?? ""}
              onBlur={(e) => update({ max: e.target.value })}
              onKeyDown={(e) => e.key === "Enter" && update({ max: e.currentTarget.value })}
            />
          )}
        </Field>
        <Field label="Sort by">
          {(props) => (
            <select
              {...props}
              value={query.sort}
              onChange={(e) => update({ sort: e.target.value === "newest" ? "" : e.target.value })}
            >
              {SORTS.map((sort) => (
                <option key={sort.value} value={sort.value}>
                  {sort.label}
                </option>
              ))}
            </select>
          )}
        </Field>
        <div className="field checkbox">
          <input
            id="in-stock"
            type="checkbox"
            checked={params.get("in_stock") === "1"}
            onChange={(e) => update({ in_stock: e.target.checked ? "1" : "" })}
          />
          <label htmlFor="in-stock">In stock only</label>
        </div>
        <button type="submit" className="visually-hidden">
          Search
        </button>
      </form>

      <ErrorMessage
        error={error}
        onRetry={() => (items.length ? void loadMore() : setGeneration((n) => n + 1))}
      />
      {loading ? (
        <SkeletonCards />
      ) : items.length === 0 && !error ? (
        <EmptyState title="No products match.">
          {filtered && (
            <button
              type="button"
              className="button secondary"
              onClick={() => {
                setSearch("");
                setParams(new URLSearchParams(), { replace: true });
              }}
            >
              Clear the filters
            </button>
          )}
        </EmptyState>
      ) : (
        <>
          <p className="visually-hidden" role="status">
            {items.length} products shown{cursor ? ", more below" : ""}.
          </p>
          <ul className="product-grid" aria-label="Products">
            {items.map((product) => (
              <li key={product.id} className="card product-card">
                <ProductImage product={product} />
                <h2 className="product-name">
                  <Link to={`/products/${product.slug}`}>{product.name}</Link>
                </h2>
                <p className="product-meta">{product.category.name}</p>
                <p className="price">
                  <Money value={product.price} />
                </p>
                {!product.in_stock && <p className="out-of-stock">Out of stock</p>}
              </li>
            ))}
          </ul>
          <div ref={sentinel} className="sentinel" />
          {cursor && (
            <p className="load-more">
              <button
                type="button"
                className="button secondary"
                onClick={() => void loadMore()}
                disabled={loadingMore}
              >
                {loadingMore ? "Loading…" : "Load more products"}
              </button>
            </p>
          )}
        </>
      )}
    </div>
  );
}
