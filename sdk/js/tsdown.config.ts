import { defineConfig } from "tsdown";

// One build, three entry points, each as ESM (.mjs), CommonJS (.cjs) and
// declarations for both (.d.mts, .d.cts), which package.json's exports map.
// Peers and dependencies stay external: the app's own copy of `ai`, `react`
// and the provider packages is the one its code sees.
export default defineConfig({
  entry: ["src/server.ts", "src/client.ts", "src/react.tsx"],
  format: ["esm", "cjs"],
  platform: "node",
  target: "es2022",
  dts: true,
  fixedExtension: true,
  clean: true,
  sourcemap: false,
});
