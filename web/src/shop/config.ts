/** The currency the price filters are typed in (the demo catalog's). Build with
 * VITE_SHOP_CURRENCY=USD for another. Prices themselves always carry their own currency. */
export const SHOP_CURRENCY: string = import.meta.env.VITE_SHOP_CURRENCY ?? "EUR";
