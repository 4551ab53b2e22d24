import { describe, expect, it } from "vitest";
import { picture } from "./images";

describe("picture", () => {
  it("lists the WebP renditions of a catalog picture", () => {
    expect(picture("/api/catalog/images/nordic-kite.0123456789ab.svg")).toEqual({
      src: "/api/catalog/images/nordic-kite.0123456789ab.svg",
      srcSet:
        "/api/catalog/images/nordic-kite.0123456789ab.320w.webp 320w, " +
        "/api/catalog/images/nordic-kite.0123456789ab.480w.webp 480w, " +
        "/api/catalog/images/nordic-kite.0123456789ab.640w.webp 640w",
    });
  });

  it("keeps any other picture as it is", () => {
    expect(picture("https://cdn.example/lamp.jpg")).toEqual({ src: "https://cdn.example/lamp.jpg" });
    expect(picture("/api/catalog/images/kite.svg")).toEqual({ src: "/api/catalog/images/kite.svg" });
  });
});
