// The integration we show developers: examples/acme-chat/wattfare.patch
// applies to the example as committed, is at most +10 -2 by the product
// page's count, and is what the README's quickstart shows, byte for byte.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { patchSize } from "./patch-size.mjs";

const example = fileURLToPath(new URL("acme-chat/", import.meta.url));
const readme = fileURLToPath(new URL("../README.md", import.meta.url));
const patch = readFileSync(join(example, "wattfare.patch"), "utf8");

/** pristine copies the example's sources to a directory outside any git repository. */
function pristine(t) {
  const dir = mkdtempSync(join(tmpdir(), "acme-chat-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(example, dir, { recursive: true, filter: (src) => !/[/\\](node_modules|dist)$/.test(src) });
  return dir;
}

const git = (dir, ...args) => execFileSync("git", args, { cwd: dir, encoding: "utf8", env: { ...process.env, GIT_CEILING_DIRECTORIES: tmpdir() } });

test("the patch applies to the example as committed and makes the integration", (t) => {
  const dir = pristine(t);
  const server = () => readFileSync(join(dir, "server/index.ts"), "utf8");
  assert.match(server(), /model: openai\("gpt-4o"\)/, "before: the app pays OpenAI");
  git(dir, "apply", "--check", "wattfare.patch");
  git(dir, "apply", "wattfare.patch");
  assert.match(server(), /model: wf\.user\(userId\)\.model\("anthropic\/claude-sonnet-4"\)/, "after: the user's budget pays");
  assert.match(server(), /app\.post\("\/api\/ai-session"/);
  assert.match(readFileSync(join(dir, "src/chat.tsx"), "utf8"), /Connect AI budget/);
  assert.match(readFileSync(join(dir, "src/main.tsx"), "utf8"), /<WattfareProvider /);
  assert.match(readFileSync(join(dir, "package.json"), "utf8"), /"wattfare": /);
});

test("the patch is at most +10 -2, counted like the product page", () => {
  const { added, removed } = patchSize(patch);
  assert.ok(added <= 10 && removed <= 2, `+${added} -${removed}`);
});

test("the README's quickstart shows the patch verbatim", () => {
  const text = readFileSync(readme, "utf8");
  const section = text.split(/^## /m).find((s) => s.startsWith("Quickstart"));
  assert.ok(section, "README.md has a ## Quickstart section");
  const block = /^```diff\n([\s\S]*?)^```$/m.exec(section);
  assert.ok(block, "the quickstart has a ```diff block");
  assert.equal(block[1], patch);
});

test("patchSize leaves out imports and the dependency line, and refuses other package.json changes", () => {
  const diff = (file, ...lines) => [`diff --git a/${file} b/${file}`, `--- a/${file}`, `+++ b/${file}`, "@@ -1,1 +1,1 @@", ...lines].join("\n");
  const src = diff("src/a.tsx", '+import { x } from "wattfare/react";', "+} from \"wattfare/server\";", "+const a = 1;", "-const b = 2;", " context");
  assert.deepEqual(patchSize(src + "\n" + diff("package.json", '+    "wattfare": "^1.0.0",')).added, 1);
  assert.equal(patchSize(src).removed, 1);
  assert.equal(patchSize(diff("README.md", "+prose is not source")).added, 0);
  assert.throws(() => patchSize(diff("package.json", '+    "postinstall": "node setup.js",')), /only the wattfare dependency line/);
});
