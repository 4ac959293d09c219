/**
 * wattfare/react: the connected state of the signed-in user, for React 18
 * and 19.
 *
 *   <WattfareProvider publishableKey="pk_test_…" session={getToken}>
 *     <App />
 *   </WattfareProvider>
 *
 *   const ai = useChat();
 *   const { connect, connected } = useWattfare(ai);
 *   if (!connected) return <button onClick={connect}>Connect AI budget</button>;
 *
 * Safe to render on a server: the status is read in an effect, in the browser.
 */
import { createContext, createElement, type ReactNode, useCallback, useContext, useEffect, useMemo, useRef, useSyncExternalStore } from "react";
import {
  type ConnectResult,
  createWattfareClient,
  redirectResult,
  type SessionToken,
  type WattfareClient,
  type WattfareClientState,
  type WattfareStatus,
} from "./client";
import type { WattfareError } from "./errors";

export type { ConnectResult, SessionToken, WattfareStatus };

const WattfareContext = createContext<WattfareClient | null>(null);

export interface WattfareProviderProps {
  /** The app's publishable key (pk_test_… or pk_live_…). */
  publishableKey: string;
  /** Fetches a session token for the signed-in user from the app's backend; may change between renders. */
  session: () => Promise<SessionToken> | SessionToken;
  /** The control plane's origin; default the hosted Wattfare. */
  baseURL?: string;
  children?: ReactNode;
}

/** WattfareProvider gives its children one Wattfare client for the signed-in user. */
export function WattfareProvider({ publishableKey, session, baseURL, children }: WattfareProviderProps) {
  // The latest session function, so that an inline arrow does not make a
  // new client (and a new status read) on every render.
  const sessionRef = useRef(session);
  useEffect(() => {
    sessionRef.current = session;
  });
  const client = useMemo(
    () => createWattfareClient({ publishableKey, baseURL, session: () => sessionRef.current() }),
    [publishableKey, baseURL],
  );
  useEffect(() => {
    // Back from a redirect-flow connect: the query is only a hint, the read
    // below says whether the user is connected.
    redirectResult();
    client.status().catch(() => {
      /* kept in the state's error */
    });
  }, [client]);
  return createElement(WattfareContext.Provider, { value: client }, children);
}

/** The part of useChat's result that useWattfare watches. */
export interface ChatLike {
  error?: Error | undefined | null;
}

export interface UseWattfare {
  /** Whether the user has connected a budget to this app; false until the first read. */
  connected: boolean;
  /** Opens Wattfare's consent popup; resolves "approved", "denied" or "closed". Fine as an onClick handler. */
  connect: () => Promise<ConnectResult>;
  /** The latest status (cap, spend, reset), or undefined before the first read. */
  status: WattfareStatus | undefined;
  /** True while the status is being read. */
  loading: boolean;
  /** The latest failure to read the status or to connect. */
  error: unknown;
  /** Reads the status again. */
  refresh: () => Promise<WattfareStatus>;
  /** Takes an error from a chat call: a typed Wattfare error flips connected and refreshes; returns it typed. */
  handleError: (error: unknown) => WattfareError | undefined;
}

const serverState: WattfareClientState = { status: undefined, loading: true, error: undefined };

/**
 * useWattfare reads the connection of the provider's user. Given useChat's
 * result, it watches its error: a Wattfare error that reached the page (a
 * revoke, a spent cap, written by wattfareErrorMessage on the server)
 * flips connected and reads the status again.
 */
export function useWattfare(chat?: ChatLike | null): UseWattfare {
  const client = useContext(WattfareContext);
  if (!client) throw new Error("useWattfare must be used inside <WattfareProvider>");
  const state = useSyncExternalStore(client.subscribe, client.getState, () => serverState);
  const chatError = chat?.error;
  useEffect(() => {
    // Each error once: the effect runs again only when useChat has a new one.
    if (chatError) client.handleError(chatError);
  }, [client, chatError]);
  // Not client.connect itself: onClick={connect} passes the click event.
  const connect = useCallback(() => client.connect(), [client]);
  const refresh = useCallback(() => client.status(), [client]);
  const firstRead = state.status === undefined && state.error === undefined;
  return {
    connected: state.status?.connected ?? false,
    connect,
    status: state.status,
    loading: state.loading || firstRead,
    error: state.error,
    refresh,
    handleError: client.handleError,
  };
}
