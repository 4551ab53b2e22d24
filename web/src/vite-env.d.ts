/// <reference types="vite/client" />

interface ImportMetaEnv {
  readonly VITE_SHOP_CURRENCY?: string;
}
