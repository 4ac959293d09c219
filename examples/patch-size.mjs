// patch-size counts a patch the way the product page counts an
// integration: lines added and removed in source files, leaving out import
// lines and the dependency line that `npm install wattfare` writes into
// package.json. Any other change to package.json is an error: the patch
// may not hide work there.
//
//   node examples/patch-size.mjs examples/acme-chat/wattfare.patch   # prints "+9 -2"
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const source = /\.(ts|tsx|js|jsx|mjs|cjs|css|html)$/;
// An import, or the tail of one that spans lines (`} from "x";`).
const importLine = /^\s*(import\b|export\s+(\*|\{[^}]*\})\s+from\b|\}\s+from\s+["'])/;

/** patchSize returns { added, removed, files } of a unified diff's text, by the rule above. */
export function patchSize(text) {
  let file = null;
  let added = 0;
  let removed = 0;
  const files = {};
  for (const line of text.split("\n")) {
    const header = /^diff --git a\/(\S+) b\/(\S+)$/.exec(line);
    if (header) {
      file = header[2];
      continue;
    }
    if (file === null || line.startsWith("+++ ") || line.startsWith("--- ")) continue;
    const sign = line[0];
    if (sign !== "+" && sign !== "-") continue;
    const body = line.slice(1);
    if (file.endsWith("package.json")) {
      if (!(sign === "+" && /^\s*"wattfare":\s*"[^"]+",?$/.test(body))) {
        throw new Error(`${file}: only the wattfare dependency line may change, not ${JSON.stringify(line)}`);
      }
      continue;
    }
    if (!source.test(file) || importLine.test(body)) continue;
    const f = (files[file] ??= { added: 0, removed: 0 });
    if (sign === "+") (added++, f.added++);
    else (removed++, f.removed++);
  }
  return { added, removed, files };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const path = process.argv[2] ?? fileURLToPath(new URL("acme-chat/wattfare.patch", import.meta.url));
  const { added, removed, files } = patchSize(readFileSync(path, "utf8"));
  for (const [f, n] of Object.entries(files)) console.log(`  ${f}: +${n.added} -${n.removed}`);
  console.log(`+${added} -${removed}`);
}
