// The page, built by Vite into dist/client. One build runs in every
// environment: import.meta.env.VITE_* in src/ is read from window.__ENV__
// (see vite.config.ts), which page() fills from this server's environment.
// Only VITE_ variables are public, as in Vite itself.
import { readFileSync } from "node:fs";

const html = readFileSync(new URL("../client/index.html", import.meta.url), "utf8");

export function page(): string {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("VITE_")));
  // < is escaped so that no value can close the script element.
  const script = `<script>window.__ENV__ = ${JSON.stringify(env).replace(/</g, "\\u003c")};</script>`;
  return html.replace("</head>", `${script}\n</head>`);
}
