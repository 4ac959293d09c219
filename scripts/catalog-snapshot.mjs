#!/usr/bin/env node
// Writes openrouter/snapshot.json, the catalog `wattfare dev` and air-gapped
// installs start from, in the shape of OpenRouter's GET /api/v1/models so
// that one parser (openrouter.ParseModels) reads it and the live list.
//
// Source: the price table of the npm package @pydantic/genai-prices (MIT,
// https://github.com/pydantic/genai-prices), whose "openrouter" provider
// lists OpenRouter's model ids with their prices per million tokens. The
// package is fetched with `npm pack` into a temporary directory; its
// version and the date are recorded in the snapshot's "source".
//
//   node scripts/catalog-snapshot.mjs            # @pydantic/genai-prices@0.1.8
//   GENAI_PRICES_VERSION=0.1.9 node scripts/catalog-snapshot.mjs
//
// Prices are carried as decimal strings from the package's number literals
// (String(n) gives back the literal as written) and divided by a million by
// moving the decimal point, never by float arithmetic. Models priced in
// tiers or by condition (a price that depends on the prompt's length or
// the date) cannot be written as one OpenRouter price and are left out,
// as are bare names without OpenRouter's author/ prefix, counted in
// "source.skipped".
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const version = process.env.GENAI_PRICES_VERSION || "0.1.8";
const pkg = `@pydantic/genai-prices@${version}`;
const out = join(dirname(fileURLToPath(import.meta.url)), "..", "openrouter", "snapshot.json");

const dir = mkdtempSync(join(tmpdir(), "genai-prices-"));
try {
  execFileSync("npm", ["pack", pkg, "--silent", "--pack-destination", dir], { stdio: ["ignore", "ignore", "inherit"] });
  const tgz = readdirSync(dir).find((f) => f.endsWith(".tgz"));
  execFileSync("tar", ["xzf", join(dir, tgz), "-C", dir]);
  const mod = await import(pathToFileURL(join(dir, "package", "dist", "index.js")).href);
  const provider = mod.findProvider({ providerId: "openrouter" });
  if (!provider) throw new Error(`${pkg} has no openrouter provider`);

  // genai-prices field → [OpenRouter pricing field, decimal places to move]
  const fields = {
    input_mtok: ["prompt", 6],
    output_mtok: ["completion", 6],
    cache_read_mtok: ["input_cache_read", 6],
    cache_write_mtok: ["input_cache_write", 6],
    output_reasoning_mtok: ["internal_reasoning", 6],
    web_searches_kcount: ["web_search", 3],
  };
  const skipped = { no_author_prefix: 0, conditional: 0, tiered: 0, unknown_price: 0 };
  const data = [];
  for (const m of provider.models) {
    // OpenRouter's ids are author/slug; the table also matches bare names
    // ("claude-3.5-sonnet") that no client sends to OpenRouter.
    if (!m.id.includes("/")) { skipped.no_author_prefix++; continue; }
    if (Array.isArray(m.prices)) { skipped.conditional++; continue; }
    const pricing = { prompt: "0", completion: "0" };
    let ok = true;
    for (const [k, v] of Object.entries(m.prices)) {
      if (v === undefined) continue;
      if (typeof v !== "number") { skipped.tiered++; ok = false; break; }
      if (!fields[k]) { skipped.unknown_price++; ok = false; break; }
      pricing[fields[k][0]] = shift(String(v), fields[k][1]);
    }
    if (!ok) continue;
    data.push({
      id: m.id,
      name: m.name || m.id,
      ...(m.description ? { description: m.description } : {}),
      context_length: m.context_window ?? null,
      architecture: null, // not in the source: unknown, not guessed
      pricing,
      top_provider: { context_length: m.context_window ?? null, max_completion_tokens: null, is_moderated: false },
      per_request_limits: null,
      supported_parameters: [], // not in the source
    });
  }
  data.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const source = {
    package: "@pydantic/genai-prices",
    version,
    license: "MIT",
    url: `https://www.npmjs.com/package/@pydantic/genai-prices/v/${version}`,
    provider: "openrouter",
    generated_at: new Date().toISOString().slice(0, 10),
    generated_by: "scripts/catalog-snapshot.mjs",
    models: data.length,
    skipped,
  };
  writeFileSync(out, JSON.stringify({ source, data }, null, 1) + "\n");
  console.log(`catalog-snapshot: ${data.length} models from ${pkg} → ${out} (skipped ${JSON.stringify(skipped)})`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// shift divides the decimal literal s (as String(number) writes it, maybe
// with an exponent) by 10^places, exactly, as a plain decimal string.
function shift(s, places) {
  const m = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/i.exec(s);
  if (!m) throw new Error(`price ${s} is not a plain non-negative number`);
  const digits = m[1] + (m[2] || "");
  let point = m[1].length + Number(m[3] || 0) - places; // digits before the point
  let d = digits;
  if (point <= 0) { d = "0".repeat(1 - point) + d; point = 1; }
  if (point > d.length) d = d + "0".repeat(point - d.length);
  let whole = d.slice(0, point).replace(/^0+(?=\d)/, "");
  let frac = d.slice(point).replace(/0+$/, "");
  return frac ? `${whole}.${frac}` : whole;
}
