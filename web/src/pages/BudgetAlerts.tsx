import { useEffect, useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { graphql } from "../gql";
import type { BudgetAlertsQuery, Mode } from "../gql/graphql";
import { Alert, Badge, Button, Card, Field, Spinner } from "../components/ui";
import { errorMessage } from "../lib/client";
import { capInput, formatCents, formatDateTime, formatUSD, moneyInput, validCap } from "../lib/money";

// The budget page's alerts: which thresholds of each connection's cap
// (50, 80, 100 %) and which wallet balance alert the user, and the alerts
// fired, each until dismissed. The server fires each once (a threshold once
// a period, the wallet once per crossing) and emails it when SMTP is set up.

const BudgetAlertsDoc = graphql(`
  query BudgetAlerts($mode: Mode!) {
    me {
      account {
        id
      }
      alertSettings(mode: $mode) {
        mode
        email
        emailAddress
        connections {
          connectionId
          appName
          status
          monthlyCap
          percents
          isDefault
        }
        wallet {
          mode
          below
          armed
          balance
        }
      }
      alerts(mode: $mode, first: 20) {
        id
        kind
        appName
        percent
        monthlyCap
        spent
        below
        balance
        createdAt
        emailStatus
        emailedAt
      }
    }
  }
`);

const UpdateConnectionAlertsDoc = graphql(`
  mutation UpdateConnectionAlerts($input: UpdateConnectionAlertsInput!) {
    updateConnectionAlerts(input: $input) {
      connectionId
      percents
      isDefault
    }
  }
`);

const UpdateWalletAlertDoc = graphql(`
  mutation UpdateWalletAlert($input: UpdateWalletAlertInput!) {
    updateWalletAlert(input: $input) {
      mode
      below
      armed
      balance
    }
  }
`);

const DismissAlertDoc = graphql(`
  mutation DismissAlert($id: ID!) {
    dismissAlert(id: $id) {
      id
      dismissedAt
    }
  }
`);

type Settings = NonNullable<BudgetAlertsQuery["me"]>["alertSettings"];
type Fired = NonNullable<BudgetAlertsQuery["me"]>["alerts"][number];

const PERCENTS = [50, 80, 100];

export function AlertsSection({ mode, tick }: { mode: Mode; tick: number }) {
  const [res, refetch] = useQuery({ query: BudgetAlertsDoc, variables: { mode } });
  const reload = () => refetch({ requestPolicy: "network-only" });
  // The budget page's Refresh, and anything it changed (a cap, a revoke),
  // may have fired alerts or changed the connections listed here.
  useEffect(() => {
    if (tick > 0) reload();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [tick]);

  let body;
  if (res.fetching && !res.data) body = <Spinner label="Loading your alerts" />;
  else if (res.error && !res.data) body = <Alert>{errorMessage(res.error)}</Alert>;
  else if (res.data?.me) {
    const { alertSettings: s, alerts } = res.data.me;
    body = (
      <>
        <p className="muted" data-testid="alerts-delivery">
          {s.email ? (
            <>Alerts are emailed to {s.emailAddress} and listed here.</>
          ) : (
            <>Email is not set up on this server: alerts are listed here only.</>
          )}
        </p>
        <FiredList alerts={alerts} mode={mode} onChange={reload} />
        <ConnectionChoices settings={s} onChange={reload} />
        <WalletChoice settings={s} mode={mode} onChange={reload} />
      </>
    );
  }
  return (
    <Card title="Alerts" actions={<Button variant="ghost" onClick={reload}>Refresh</Button>}>
      {body}
    </Card>
  );
}

function describe(a: Fired, mode: Mode): string {
  if (a.kind === "WALLET") {
    return `Your ${mode === "TEST" ? "test " : ""}wallet fell under ${formatCents(a.below)} (balance ${formatCents(a.balance)}).`;
  }
  if ((a.percent ?? 0) >= 100) {
    return `${a.appName} reached its ${formatCents(a.monthlyCap)} monthly cap (${formatCents(a.spent)} spent or reserved): its requests are refused until the cap resets or you raise it.`;
  }
  return `${a.appName} used ${a.percent} % of its ${formatCents(a.monthlyCap)} monthly cap (${formatCents(a.spent)} spent).`;
}

function emailBadge(a: Fired) {
  switch (a.emailStatus) {
    case "SENT":
      return <Badge tone="green">Emailed {formatDateTime(a.emailedAt)}</Badge>;
    case "PENDING":
      return <Badge tone="blue">Sending email</Badge>;
    case "FAILED":
      return <Badge tone="red">Email failed</Badge>;
    default:
      return <Badge>Not emailed</Badge>;
  }
}

function FiredList({ alerts, mode, onChange }: { alerts: Fired[]; mode: Mode; onChange: () => void }) {
  const [state, dismiss] = useMutation(DismissAlertDoc);
  const [err, setErr] = useState<string | null>(null);
  if (alerts.length === 0) return <p className="empty">No alerts have fired.</p>;
  async function doDismiss(id: string) {
    const r = await dismiss({ id });
    if (r.error) setErr(errorMessage(r.error));
    else {
      setErr(null);
      onChange();
    }
  }
  return (
    <>
      <ul className="alert-list" aria-label="Fired alerts">
        {alerts.map((a) => {
          const text = describe(a, mode);
          return (
            <li key={a.id} className="alert-item">
              <div>
                <span>{text}</span>
                <div className="muted small">
                  {formatDateTime(a.createdAt)} {emailBadge(a)}
                </div>
              </div>
              <Button variant="ghost" busy={state.fetching} onClick={() => doDismiss(a.id)} aria-label={`Dismiss: ${text}`}>
                Dismiss
              </Button>
            </li>
          );
        })}
      </ul>
      {err && <Alert>{err}</Alert>}
    </>
  );
}

function ConnectionChoices({ settings, onChange }: { settings: Settings; onChange: () => void }) {
  const active = settings.connections.filter((c) => c.status === "ACTIVE");
  if (active.length === 0) return null;
  return (
    <div className="alert-choices">
      <h3>Alert me when an app has used</h3>
      {active.map((c) => (
        <ConnectionChoice key={c.connectionId} conn={c} onChange={onChange} />
      ))}
    </div>
  );
}

function ConnectionChoice({ conn, onChange }: { conn: Settings["connections"][number]; onChange: () => void }) {
  const [state, update] = useMutation(UpdateConnectionAlertsDoc);
  const [err, setErr] = useState<string | null>(null);
  // Shown at once, put back if the server refuses it.
  const [percents, setPercents] = useState(conn.percents);
  const saved = conn.percents.join(",");
  useEffect(() => setPercents(conn.percents), [saved]); // eslint-disable-line react-hooks/exhaustive-deps
  async function toggle(p: number, on: boolean) {
    const next = on ? [...percents, p].sort((a, b) => a - b) : percents.filter((x) => x !== p);
    setPercents(next);
    const r = await update({ input: { connectionId: conn.connectionId, percents: next } });
    if (r.error) {
      setPercents(conn.percents);
      setErr(errorMessage(r.error));
    } else {
      setErr(null);
      onChange();
    }
  }
  return (
    <fieldset className="alert-choice" aria-busy={state.fetching}>
      <legend>
        {conn.appName} <span className="muted">({formatUSD(conn.monthlyCap)} a month)</span>
      </legend>
      {PERCENTS.map((p) => (
        <label key={p} className="check">
          <input
            type="checkbox"
            checked={percents.includes(p)}
            disabled={state.fetching}
            onChange={(e) => toggle(p, e.target.checked)}
            aria-label={`${conn.appName}: alert at ${p} % of the cap`}
          />{" "}
          {p} %
        </label>
      ))}
      {conn.isDefault && <span className="muted small"> (the default)</span>}
      {err && <Alert>{err}</Alert>}
    </fieldset>
  );
}

function WalletChoice({ settings, mode, onChange }: { settings: Settings; mode: Mode; onChange: () => void }) {
  const w = settings.wallet;
  const [amount, setAmount] = useState(w.below ? capInput(w.below) : "5");
  const [err, setErr] = useState<string | null>(null);
  const [state, update] = useMutation(UpdateWalletAlertDoc);
  async function save(below: string | null) {
    const r = await update({ input: { mode, below } });
    if (r.error) setErr(errorMessage(r.error));
    else {
      setErr(null);
      onChange();
    }
  }
  function submit(e: FormEvent) {
    e.preventDefault();
    const v = validCap(amount);
    if (v) {
      setErr(v);
      return;
    }
    save(moneyInput(amount));
  }
  return (
    <div className="alert-choices">
      <h3>Wallet</h3>
      <p className="muted" data-testid="wallet-alert-state">
        {w.below
          ? w.armed
            ? `On: you hear when the balance (${formatCents(w.balance)}) falls under ${formatCents(w.below)}.`
            : `Fired: the balance (${formatCents(w.balance)}) is under ${formatCents(w.below)}; it fires again once the balance is back at or above it.`
          : "Off."}
      </p>
      <form className="inline-form" onSubmit={submit} noValidate>
        <Field
          label="Alert me when the wallet is under"
          prefix="$"
          inputMode="decimal"
          value={amount}
          onChange={(e) => setAmount(e.target.value)}
          error={err}
        />
        <Button type="submit" variant="secondary" busy={state.fetching}>
          Save wallet alert
        </Button>
        {w.below && (
          <Button type="button" variant="ghost" onClick={() => save(null)}>
            Turn off
          </Button>
        )}
      </form>
    </div>
  );
}
