import type { Product } from "../api/types";
import { picture } from "../shop/images";

// How wide the picture is drawn (styles.css): a grid cell, or half the product page.
const SIZES = {
  card: "(min-width: 60rem) 15rem, (min-width: 40rem) 33vw, 50vw",
  large: "(min-width: 60rem) 36rem, 100vw",
};

/** The product's picture (with renditions for the screen's width), or its initial on a tint. */
export function ProductImage({
  product,
  large = false,
}: {
  product: Pick<Product, "id" | "name" | "image_url">;
  large?: boolean;
}) {
  const className = large ? "product-image large" : "product-image";
  if (product.image_url) {
    const { src, srcSet } = picture(product.image_url);
    return (
      <img
        className={className}
        src={src}
        srcSet={srcSet}
        sizes={srcSet ? SIZES[large ? "large" : "card"] : undefined}
        alt={product.name}
        width={400}
        height={400}
        loading={large ? "eager" : "lazy"}
        decoding="async"
      />
    );
  }
  const hue = (product.id * 47) % 360;
  return (
    <div
      className={`${className} placeholder`}
      style={{ backgroundColor: `hsl(${hue} 45% 88%)` }}
      aria-hidden="true"
    >
      {product.name.charAt(0)}
    </div>
  );
}
