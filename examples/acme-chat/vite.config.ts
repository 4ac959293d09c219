import react from "@vitejs/plugin-react";
import { defineConfig, type Plugin } from "vite";

// runtimeEnv makes import.meta.env.VITE_* in src/ read window.__ENV__, which
// the server writes into the page from its own environment (server/page.ts):
// one build then runs in every environment, keys included.
function runtimeEnv(): Plugin {
  return {
    name: "acme-runtime-env",
    apply: "build",
    enforce: "pre",
    transform(code, id) {
      if (id.includes("/node_modules/") || !/\.[jt]sx?$/.test(id)) return;
      return code.replace(/\bimport\.meta\.env\.(VITE_\w+)/g, "window.__ENV__.$1");
    },
  };
}

export default defineConfig(({ isSsrBuild }) => ({
  plugins: [react(), runtimeEnv()],
  build: isSsrBuild ? { outDir: "dist/server", emptyOutDir: true } : { outDir: "dist/client", emptyOutDir: true },
}));
