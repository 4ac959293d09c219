// ai 6: the live suite (../live.mjs) with this app's own modules, as an app imports them.
import { createRequire } from "node:module";
import * as ai from "ai";
import * as client from "wattfare/client";
import * as server from "wattfare/server";
import { z } from "zod";
import { liveSuite } from "../live.mjs";

const cjs = createRequire(import.meta.url)("wattfare/server");
liveSuite({ ai, z, server, cjs, client, label: `ai ${(await import("ai/package.json", { with: { type: "json" } })).default.version}, Node ${process.version}` });
