import { defineConfig } from "tsdown";

// The browser global `Wattfare`, which the control plane serves at
// GET /v1/connect.js (embed.go embeds browser/connect.js): the same source as
// wattfare/client, as one IIFE script. The bundle is committed so that `go
// build` needs no npm; scripts/check-generated.sh builds it afresh and fails
// when the committed copy differs.
export default defineConfig({
  entry: { connect: "src/browser.ts" },
  format: "iife",
  globalName: "Wattfare",
  platform: "browser",
  target: "es2020",
  outDir: "browser",
  outputOptions: { entryFileNames: "[name].js" },
  clean: false,
  dts: false,
  sourcemap: false,
  minify: true,
  hash: false,
  banner: { js: "/* Wattfare connect.js, built from sdk/js/src/browser.ts by `tsdown -c tsdown.browser.config.ts` in sdk/js. Do not edit. */" },
});
