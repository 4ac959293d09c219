import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from "react";

// A small history-API router: the app has a handful of top-level pages, and
// the control plane answers every unknown path with index.html.

const listeners = new Set<() => void>();

function subscribe(fn: () => void) {
  listeners.add(fn);
  window.addEventListener("popstate", fn);
  return () => {
    listeners.delete(fn);
    window.removeEventListener("popstate", fn);
  };
}

function snapshot() {
  return window.location.pathname + window.location.search;
}

export function navigate(to: string, opts: { replace?: boolean } = {}) {
  if (opts.replace) window.history.replaceState(null, "", to);
  else window.history.pushState(null, "", to);
  listeners.forEach((fn) => fn());
}

/** useLocation returns the current path and query, re-rendering on navigation. */
export function useLocation(): { path: string; query: URLSearchParams } {
  const loc = useSyncExternalStore(subscribe, snapshot);
  const u = new URL(loc, window.location.origin);
  return { path: u.pathname, query: u.searchParams };
}

export function Link({ to, onClick, ...rest }: { to: string } & AnchorHTMLAttributes<HTMLAnchorElement>) {
  function handle(e: MouseEvent<HTMLAnchorElement>) {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  }
  return <a href={to} onClick={handle} {...rest} />;
}

/** withQuery returns the current path with some query parameters changed (null removes one). */
export function withQuery(changes: Record<string, string | null>): string {
  const u = new URL(window.location.href);
  for (const [k, v] of Object.entries(changes)) {
    if (v == null) u.searchParams.delete(k);
    else u.searchParams.set(k, v);
  }
  const q = u.searchParams.toString();
  return u.pathname + (q ? "?" + q : "");
}
