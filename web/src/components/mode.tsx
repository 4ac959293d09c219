import type { Mode } from "../gql/graphql";
import { navigate, withQuery } from "../lib/router";
import { Segmented } from "./ui";

// A page shows one mode at a time. The address names the mode only when it
// is not the page's default: ?mode=test or ?mode=live.

/** modeText is a mode as the pages write it in a sentence: "test" or "live". */
export function modeText(mode: Mode): "test" | "live" {
  return mode === "TEST" ? "test" : "live";
}

function other(mode: Mode): Mode {
  return mode === "TEST" ? "LIVE" : "TEST";
}

/** modeOf reads ?mode= from query: fallback, unless the address names the other mode. */
export function modeOf(query: URLSearchParams, fallback: Mode): Mode {
  return query.get("mode") === modeText(other(fallback)) ? other(fallback) : fallback;
}

/** ModeSwitch sets ?mode= in the address; the page's default mode comes first and leaves it out. */
export function ModeSwitch({ mode, fallback }: { mode: Mode; fallback: Mode }) {
  return (
    <Segmented
      label="Mode"
      value={mode}
      options={[fallback, other(fallback)].map((m) => ({ value: m, label: m === "TEST" ? "Test" : "Live" }))}
      onChange={(m) => navigate(withQuery({ mode: m === fallback ? null : modeText(m) }))}
    />
  );
}
