// import.meta.env.VITE_* is read at run time (vite.config.ts, runtimeEnv).
interface Window {
  __ENV__: Record<string, string | undefined>;
}
