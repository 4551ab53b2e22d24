/** The catalog's product pictures: an SVG at a hashed URL, and WebP renditions beside it. */

// The widths the catalog renders (catalog/images/pictures.py WIDTHS); no other exists.
export const RENDITION_WIDTHS = [320, 480, 640] as const;

const PICTURE = /^\/api\/catalog\/images\/[a-z-]+\.[0-9a-f]{12}\.svg$/;

export interface Picture {
  src: string;
  srcSet?: string;
}

/** `src` and, for the catalog's own pictures, a `srcset` of its WebP renditions. */
export function picture(url: string): Picture {
  if (!PICTURE.test(url)) return { src: url };
  const base = url.slice(0, -".svg".length);
  return {
    src: url,
    srcSet: RENDITION_WIDTHS.map((width) => `${base}.${width}w.webp ${width}w`).join(", "),
  };
}
