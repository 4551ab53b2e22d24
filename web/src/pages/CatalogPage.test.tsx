// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Product, ProductPage, ProductQuery } from "../api/types";

interface Pending {
  query: ProductQuery;
  signal?: AbortSignal;
  resolve: (page: ProductPage) => void;
}

const pending: Pending[] = [];

vi.mock("../api", () => ({
  api: {
    catalog: {
      categories: () =>
        Promise.resolve({
          items: [
            { slug: "lamps", name: "Lamps" },
            { slug: "chairs", name: "Chairs" },
          ],
        }),
      products: (query: ProductQuery, signal?: AbortSignal) =>
        new Promise<ProductPage>((resolve, reject) => {
          pending.push({ query, signal, resolve });
          signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
        }),
    },
  },
}));

const { CatalogPage } = await import("./CatalogPage");

function product(id: number, name: string, category: string): Product {
  return {
    id,
    slug: name.toLowerCase().replace(/ /g, "-"),
    name,
    price: { amount: 1000, currency: "EUR" },
    in_stock: true,
    image_url: null,
    category: { slug: category, name: category },
  } as unknown as Product;
}

function page(items: Product[], next_cursor: string | null): ProductPage {
  return { items, next_cursor } as unknown as ProductPage;
}

function call(index: number): Pending {
  const found = pending[index];
  if (!found) throw new Error(`no products request #${index}`);
  return found;
}

async function settle(index: number, answer: ProductPage) {
  await act(async () => {
    call(index).resolve(answer);
    await Promise.resolve();
  });
}

afterEach(() => {
  cleanup();
  pending.length = 0;
});

describe("the catalog page", () => {
  it("never appends a page of the old filter after the filter changed", async () => {
    render(
      <MemoryRouter initialEntries={["/"]}>
        <CatalogPage />
      </MemoryRouter>,
    );
    await settle(0, page([product(1, "Brass lamp", "lamps")], "c1"));
    fireEvent.click(await screen.findByRole("button", { name: "Load more products" }));
    expect(call(1).query.cursor).toBe("c1");

    // The filter changes while the second page of the unfiltered list is still on its way.
    await act(async () => {
      fireEvent.change(screen.getByLabelText("Category"), { target: { value: "chairs" } });
      await Promise.resolve();
    });
    const firstChairs = pending.findIndex((call) => call.query.category === "chairs");
    expect(firstChairs).toBeGreaterThan(1);
    await settle(firstChairs, page([product(2, "Oak chair", "chairs")], null));
    await settle(1, page([product(3, "Paper lamp", "lamps")], null));

    const grid = screen.getByRole("list", { name: "Products" });
    const names = within(grid)
      .getAllByRole("heading")
      .map((heading) => heading.textContent);
    expect(names).toEqual(["Oak chair"]);
    expect(call(1).signal?.aborted).toBe(true);
  });
});
