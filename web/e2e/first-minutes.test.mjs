// A newcomer's first minutes: the curl `make dev` prints, pasted as is, and
// the one in README.md, run as written (with `set -u`, so a variable that
// nothing sets fails), each stream an answer charged to the demo user.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { dataURL, dev } from "./harness.mjs";

const devLog = process.env.WATTFARE_E2E_DEV_LOG;
const readme = readFileSync(fileURLToPath(new URL("../../README.md", import.meta.url)), "utf8");

/** spent is what the connected demo user has spent this month through the seeded app's test key. */
async function spent() {
  const res = await fetch(`${dataURL}/v1/budget`, { headers: { Authorization: `Bearer ${dev.app.secret_key}`, "Wattfare-User": dev.connected_user_id } });
  assert.equal(res.status, 200, await res.clone().text());
  return Number((await res.json()).spent_usd);
}

/** paste runs script in bash from dir and checks that it streamed an answer that was charged. */
async function paste(script, dir) {
  const before = await spent();
  const out = execFileSync("bash", ["-euo", "pipefail", "-c", script], { cwd: dir, encoding: "utf8", timeout: 30_000 });
  const chunks = out.split("\n").filter((l) => l.startsWith("data: {"));
  assert.ok(chunks.length >= 2, `a stream of several events, got:\n${out}`);
  assert.match(out, /^data: \[DONE\]$/m);
  const text = chunks.map((l) => JSON.parse(l.slice(6)).choices?.[0]?.delta?.content ?? "").join("");
  assert.ok(text.trim().length > 0, "an answer");
  assert.ok((await spent()) > before, "charged to the demo user");
}

test("the curl the dev banner prints streams a charged answer as pasted", async () => {
  assert.ok(devLog, "WATTFARE_E2E_DEV_LOG is set by scripts/test-web.sh");
  const banner = readFileSync(devLog, "utf8");
  const at = banner.indexOf("Try it:");
  assert.ok(at >= 0, "the banner has Try it:");
  const lines = banner.slice(at).split("\n").slice(1);
  const start = lines.findIndex((l) => l.trimStart().startsWith("curl "));
  const end = lines.findIndex((l, i) => i >= start && !l.endsWith("\\"));
  const curl = lines.slice(start, end + 1).join("\n");
  assert.ok(curl.includes(dev.app.secret_key) && curl.includes(dev.connected_user_id), `the seeded key and user in:\n${curl}`);
  await paste(curl, process.cwd());
});

test("the README's curl runs as written, on the keys make dev wrote", async () => {
  const block = /^```sh\n(SECRET_KEY=[\s\S]*?)^```$/m.exec(readme);
  assert.ok(block, "README.md has the curl block that reads .wattfare/dev.json");
  // The README names the default data plane address; this dev runs on a free port.
  const script = block[1].replaceAll("http://127.0.0.1:8787", dataURL);
  // `make dev` runs in the repository's root, where it writes .wattfare/dev.json.
  await paste(script, dirname(dirname(process.env.WATTFARE_E2E_DEV_JSON)));
});
