import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The control plane serves the built app from dist/app (embedded with
// go:embed); dist/.gitkeep stays because only dist/app is emptied.
// `npm run dev` proxies the API to a running `wattfare dev`.
const control = process.env.WATTFARE_CONTROL_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist/app",
    emptyOutDir: true,
    sourcemap: false,
  },
  server: {
    proxy: {
      "/graphql": control,
      "/connect/api": control,
      "/v1": control,
    },
  },
});
