/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// `npm run dev` serves the app on :5173 and sends /api to the gateway, so the refresh cookie
// (Path=/api/auth) and every call stay same-origin, as they are when the gateway serves dist/.
const gateway = process.env.BAZAAR_GATEWAY_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  build: {
    target: "es2022",
    // The budget script reads this to find what index.html loads first.
    manifest: true,
    sourcemap: false,
  },
  server: {
    proxy: { "/api": { target: gateway, changeOrigin: false } },
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
  },
});
