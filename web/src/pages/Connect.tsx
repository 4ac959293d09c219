import { useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import { AuthForm, useSignOut } from "../components/auth";
import { Alert, AppAvatar, Badge, Button, Field, Spinner } from "../components/ui";
import { capInput, formatDate, formatUSD, moneyInput, validCap } from "../lib/money";
import {
  ConsentError,
  approve,
  consentParams,
  fetchContext,
  forgetAddress,
  returnURL,
  tellOpener,
  verifyOpener,
  type ConsentContext,
  type ConsentResult,
} from "../lib/consent";

type Phase =
  | { kind: "loading" }
  | { kind: "refused"; message: string }
  | { kind: "verifying"; ctx: ConsentContext }
  | { kind: "unverified"; ctx: ConsentContext }
  | { kind: "ready"; ctx: ConsentContext }
  | { kind: "approving"; ctx: ConsentContext }
  | { kind: "done"; ctx: ConsentContext; status: "approved" | "denied"; cap?: string };

/**
 * ConnectPage is the consent popup at /connect: an app asks to charge AI to
 * the user's budget. It shows the app's name, its verified origin and the
 * requested cap; the user signs in if needed, sets the cap, and approves or
 * denies. Test-mode requests approve on their own once the opener is verified.
 */
export function ConnectPage() {
  const params = consentParams();
  const [phase, setPhase] = useState<Phase>({ kind: "loading" });
  const [cap, setCap] = useState("");
  const [capError, setCapError] = useState<string | null>(null);
  const [approveError, setApproveError] = useState<string | null>(null);
  const verified = useRef(false);
  const { signOut, busy: signingOut } = useSignOut();

  const finish = useCallback(
    (ctx: ConsentContext, result: ConsentResult) => {
      setPhase({ kind: "done", ctx, status: result.status, cap: result.monthly_cap_usd });
      if (params.returnTo) {
        // Back to the return URL as the server checked it, never the
        // address's own: the server's answer is the one that matched a
        // registered origin.
        const back = returnURL(ctx.target, result.status);
        if (back) window.location.assign(back);
        return;
      }
      tellOpener(result, ctx.target.origin);
      setTimeout(() => window.close(), 1200);
    },
    [params.returnTo],
  );

  const doApprove = useCallback(
    async (ctx: ConsentContext, amount: string) => {
      setApproveError(null);
      setPhase({ kind: "approving", ctx });
      try {
        const result = await approve(params, amount);
        finish(ctx, result);
      } catch (err) {
        setPhase({ kind: "ready", ctx });
        setApproveError(err instanceof Error ? err.message : "Approval failed.");
      }
    },
    [params, finish],
  );

  const load = useCallback(async () => {
    let ctx: ConsentContext;
    try {
      ctx = await fetchContext(params);
    } catch (err) {
      const message =
        err instanceof ConsentError && err.code === "invalid_session"
          ? "This connection request has expired or is not valid. Close this window and press Connect in the app again."
          : err instanceof Error
            ? err.message
            : "This request could not be loaded.";
      setPhase({ kind: "refused", message });
      return;
    }
    setCap((c) => c || capInput(ctx.proposed_cap_usd));
    // The redirect flow's return URL was checked by the server; a popup
    // must prove its opener is at the registered origin before anything.
    if (!params.returnTo && !verified.current) {
      setPhase({ kind: "verifying", ctx });
      verified.current = await verifyOpener(ctx.target.origin);
      if (!verified.current) {
        setPhase({ kind: "unverified", ctx });
        return;
      }
    }
    if (ctx.auto_approve) {
      await doApprove(ctx, capInput(ctx.proposed_cap_usd));
      return;
    }
    setPhase({ kind: "ready", ctx });
  }, [params, doApprove]);

  // The session token stays in memory only: once read, it leaves the
  // address bar and this history entry.
  useEffect(forgetAddress, []);

  useEffect(() => {
    if (!params.session) {
      setPhase({ kind: "refused", message: "This page opens from an app's “Connect AI budget” button." });
      return;
    }
    void load();
  }, [params.session, load]);

  function submit(e: FormEvent) {
    e.preventDefault();
    if (phase.kind !== "ready") return;
    const err = validCap(cap);
    setCapError(err);
    if (err) return;
    void doApprove(phase.ctx, moneyInput(cap));
  }

  function deny() {
    if (phase.kind !== "ready") return;
    finish(phase.ctx, { type: "wattfare:result", status: "denied", mode: phase.ctx.mode, target: phase.ctx.target });
  }

  return (
    <main className="popup" aria-live="polite">
      <div className="popup-brand">
        <span className="logo" aria-hidden="true">⚡</span> Wattfare
      </div>
      {phase.kind === "loading" && <Spinner label="Loading the request" />}
      {phase.kind === "refused" && (
        <Alert title="Nothing was connected">{phase.message}</Alert>
      )}
      {phase.kind === "verifying" && <Spinner label={`Checking the page at ${phase.ctx.target.origin}`} />}
      {phase.kind === "unverified" && (
        <Alert title="Nothing was connected">
          This window was not opened by {phase.ctx.app.name} at {phase.ctx.target.origin}. Close it and press Connect in the app again.
        </Alert>
      )}
      {(phase.kind === "ready" || phase.kind === "approving") && (
        <ConsentForm
          ctx={phase.ctx}
          busy={phase.kind === "approving"}
          cap={cap}
          setCap={(v) => {
            setCap(v);
            setCapError(null);
          }}
          capError={capError}
          approveError={approveError}
          onSubmit={submit}
          onDeny={deny}
          onSignedIn={load}
          onSignOut={async () => {
            await signOut();
            await load();
          }}
          signingOut={signingOut}
        />
      )}
      {phase.kind === "done" && (
        <div className="done" role="status">
          {phase.status === "approved" ? (
            <>
              <div className="done-icon ok" aria-hidden="true">✓</div>
              <h1>Connected</h1>
              <p>
                {phase.ctx.app.name} can now charge AI to your budget, up to {formatUSD(phase.cap)} a month.
                You can change the cap or revoke it any time from <a href="/budget" target="_blank" rel="noopener">Your budget</a>.
              </p>
            </>
          ) : (
            <>
              <div className="done-icon" aria-hidden="true">✕</div>
              <h1>Not connected</h1>
              <p>{phase.ctx.app.name} was not given access to your budget.</p>
            </>
          )}
          <p className="muted">You can close this window.</p>
        </div>
      )}
    </main>
  );
}

function ConsentForm(props: {
  ctx: ConsentContext;
  busy: boolean;
  cap: string;
  setCap: (v: string) => void;
  capError: string | null;
  approveError: string | null;
  onSubmit: (e: FormEvent) => void;
  onDeny: () => void;
  onSignedIn: () => void;
  onSignOut: () => void;
  signingOut: boolean;
}) {
  const { ctx } = props;
  const existing = ctx.connection && ctx.connection.status === "active" && ctx.connection.yours ? ctx.connection : null;
  return (
    <div className="consent">
      <div className="app-id">
        <AppAvatar name={ctx.app.name} />
        <div>
          <h1>
            Allow <strong>{ctx.app.name}</strong> to charge AI to your budget?
          </h1>
          <p className="origin">
            <span className="verified" title="Wattfare checked this origin against the app's registration">✓ Verified</span>{" "}
            <span data-testid="app-origin">{ctx.target.origin}</span>{" "}
            <Badge tone={ctx.mode === "live" ? "green" : "amber"}>{ctx.mode === "live" ? "Live" : "Test mode"}</Badge>
          </p>
          <AppAccount ctx={ctx} />
        </div>
      </div>

      {!ctx.account ? (
        <div className="consent-auth">
          <p>Sign in to Wattfare to connect your budget.</p>
          <AuthForm onDone={props.onSignedIn} />
        </div>
      ) : (
        <form onSubmit={props.onSubmit} noValidate>
          <ul className="consent-points">
            <li>{ctx.app.name} sends AI requests on your behalf; Wattfare charges them to your budget.</li>
            <li>It can never spend more than your monthly cap. Caps reset on the 1st of each month (UTC).</li>
            <li>Wattfare never stores your prompts or replies. You can revoke access any time.</li>
          </ul>
          {existing && (
            <Alert kind="info">
              Already connected with a cap of {formatUSD(existing.monthly_cap_usd)} ({formatUSD(existing.spent_usd)} used, resets {formatDate(existing.resets_at)}).
              Approving again updates the cap.
            </Alert>
          )}
          <Field
            label="Monthly cap"
            prefix="$"
            inputMode="decimal"
            autoComplete="off"
            value={props.cap}
            onChange={(e) => props.setCap(e.target.value)}
            error={props.capError}
            hint={
              ctx.requested_cap_usd
                ? `${ctx.app.name} asked for ${formatUSD(ctx.requested_cap_usd)} a month. You can change it.`
                : "The most this app may spend from your budget each month."
            }
          />
          {props.approveError && <Alert>{props.approveError}</Alert>}
          <div className="consent-actions">
            <Button type="button" variant="secondary" onClick={props.onDeny} disabled={props.busy}>
              Deny
            </Button>
            <Button type="submit" busy={props.busy}>
              Approve
            </Button>
          </div>
          <p className="signed-in muted">
            Signed in as <strong>{ctx.account.email}</strong> ·{" "}
            <button type="button" className="link" onClick={props.onSignOut} disabled={props.signingOut}>
              Not you?
            </button>
          </p>
        </form>
      )}
    </div>
  );
}

/**
 * AppAccount says which of the app's accounts is being connected: the app
 * user id its session token names. Someone who sends a person a link with a
 * token for another account at the app shows up here as a name that is not
 * theirs.
 */
function AppAccount({ ctx }: { ctx: ConsentContext }) {
  return (
    <p className="app-account" data-testid="app-account">
      Connecting {ctx.app.name} account <code data-testid="app-user-id">{ctx.app_user_id}</code>
      <span className="app-account-hint muted">Not your account at {ctx.app.name}? {ctx.account ? "Deny" : "Close this window"}, and nothing is connected.</span>
    </p>
  );
}
