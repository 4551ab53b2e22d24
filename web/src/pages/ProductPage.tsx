import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { api, ApiError } from "../api";
import { EmptyState, ErrorMessage, Skeleton } from "../components/Feedback";
import { Field } from "../components/Field";
import { Money } from "../components/Money";
import { PageTitle } from "../components/PageTitle";
import { ProductImage } from "../components/ProductImage";
import { useAsync } from "../hooks/useAsync";
import { MAX_QUANTITY } from "../shop/cart";
import { cartStore, useCart } from "../state/cart";
import { useSession } from "../state/session";

export function ProductPage() {
  const { slug = "" } = useParams();
  const product = useAsync((signal) => api.catalog.productBySlug(slug, signal), [slug]);
  const { status } = useSession();
  const { cart } = useCart();
  const navigate = useNavigate();
  const [quantity, setQuantity] = useState(1);
  const [adding, setAdding] = useState(false);
  const [added, setAdded] = useState(false);
  const [error, setError] = useState<unknown>(null);

  if (product.loading) return <Skeleton lines={6} label="Loading the product…" />;
  if (product.error instanceof ApiError && product.error.status === 404) {
    return (
      <section className="narrow">
        <PageTitle>Product not found</PageTitle>
        <EmptyState title="This product does not exist or is no longer for sale.">
          <Link to="/">Back to the shop</Link>
        </EmptyState>
      </section>
    );
  }
  if (!product.data) return <ErrorMessage error={product.error} onRetry={product.reload} />;
  const item = product.data;
  const inCart = cart?.items.find((line) => line.product_id === item.id)?.quantity ?? 0;
  const maximum = Math.max(1, Math.min(MAX_QUANTITY, item.stock));

  async function add() {
    if (status !== "signed-in") {
      navigate(`/login?next=${encodeURIComponent(`/products/${slug}`)}`);
      return;
    }
    setAdding(true);
    setError(null);
    setAdded(false);
    try {
      await cartStore.setQuantity(item.id, Math.min(MAX_QUANTITY, inCart + quantity));
      setAdded(true);
    } catch (failure) {
      setError(failure);
    } finally {
      setAdding(false);
    }
  }

  return (
    <article className="product-page">
      <ProductImage product={item} large />
      <div className="product-details">
        <p className="product-meta">
          <Link to={`/?category=${item.category.slug}`}>{item.category.name}</Link>
        </p>
        <PageTitle title={item.name}>{item.name}</PageTitle>
        <p className="price large">
          <Money value={item.price} />
        </p>
        <p className={item.in_stock ? "stock" : "out-of-stock"}>
          {item.in_stock ? `${item.stock} in stock` : "Out of stock"}
        </p>
        {item.description && <p className="description">{item.description}</p>}
        <form
          className="add-to-cart"
          onSubmit={(event) => {
            event.preventDefault();
            void add();
          }}
        >
          <Field label="Quantity">
            {(props) => (
              <input
                {...props}
                type="number"
                min={1}
                max={maximum}
                value={quantity}
                onChange={(e) => setQuantity(Math.max(1, Math.min(maximum, Number(e.target.value) || 1)))}
              />
            )}
          </Field>
          <button type="submit" className="button" disabled={!item.in_stock || adding}>
            {adding ? "Adding…" : "Add to cart"}
          </button>
        </form>
        <div role="status" className="status-line">
          {added && (
            <p className="success">
              Added to your cart. <Link to="/cart">View cart</Link>
            </p>
          )}
        </div>
        <ErrorMessage error={error} />
      </div>
    </article>
  );
}
