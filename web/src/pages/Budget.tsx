import { useEffect, useMemo, useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { graphql } from "../gql";
import type { BudgetQuery, BudgetReceiptsQuery, Mode, WalletFieldsFragment } from "../gql/graphql";
import { Alert, AppAvatar, Badge, Button, Card, Field, Meter, Pager, Segmented, Spinner, Stat, usePager } from "../components/ui";
import { toSignIn } from "../components/auth";
import { modeOf } from "../components/mode";
import { FundsSection } from "./BudgetFunds";
import { AlertsSection } from "./BudgetAlerts";
import { errorMessage, stopWrite } from "../lib/client";
import { navigate, useLocation } from "../lib/router";
import { capInput, capLeft, formatDate, formatDateTime, formatUSD, isZero, moneyInput, toNano, validCap } from "../lib/money";

graphql(`
  fragment WalletFields on Wallet {
    mode
    available
    credits
    captured
    held
  }
`);

const BudgetQueryDoc = graphql(`
  query Budget($mode: Mode!) {
    me {
      account {
        id
        email
      }
      wallet(mode: $mode) {
        ...WalletFields
      }
      connections(mode: $mode, first: 50) {
        edges {
          node {
            id
            mode
            appUserId
            status
            monthlyCap
            spentThisPeriod
            held
            remaining
            resetsAt
            createdAt
            revokedAt
            app {
              id
              name
              allowedOrigins
            }
          }
        }
      }
    }
  }
`);

const ReceiptsDoc = graphql(`
  query BudgetReceipts($mode: Mode!, $after: String) {
    me {
      account {
        id
      }
      receipts(mode: $mode, first: 20, after: $after) {
        edges {
          node {
            requestId
            createdAt
            model
            status
            stream
            promptTokens
            completionTokens
            cost
            charged
            durationMs
            app {
              id
              name
            }
          }
        }
        pageInfo {
          hasNextPage
          endCursor
        }
      }
    }
  }
`);

const LedgerDoc = graphql(`
  query WalletLedger($mode: Mode!, $after: String) {
    me {
      account {
        id
      }
      wallet(mode: $mode) {
        mode
        ledger(first: 10, after: $after) {
          edges {
            node {
              id
              kind
              amount
              description
              createdAt
            }
          }
          pageInfo {
            hasNextPage
            endCursor
          }
        }
      }
    }
  }
`);

const AddTestCreditDoc = graphql(`
  mutation AddTestCredit($amount: Money!) {
    addTestCredit(amount: $amount) {
      ...WalletFields
    }
  }
`);

const SetCapDoc = graphql(`
  mutation SetConnectionCap($id: ID!, $cap: Money!) {
    setConnectionCap(connectionId: $id, monthlyCap: $cap) {
      id
      monthlyCap
      remaining
      spentThisPeriod
    }
  }
`);

const RevokeDoc = graphql(`
  mutation RevokeConnection($id: ID!) {
    revokeConnection(connectionId: $id) {
      id
      status
      revokedAt
      remaining
    }
  }
`);

type Conn = NonNullable<BudgetQuery["me"]>["connections"]["edges"][number]["node"];
type Receipt = NonNullable<BudgetReceiptsQuery["me"]>["receipts"]["edges"][number]["node"];

/**
 * BudgetPage is "Your budget": the wallet of each mode, every app connected
 * to it with cap, used, left and reset date, one-click revoke, and the
 * per-request receipts.
 */
export function BudgetPage() {
  const { query } = useLocation();
  const mode = modeOf(query, "LIVE");
  const [res, refetch] = useQuery({ query: BudgetQueryDoc, variables: { mode } });
  const [tick, setTick] = useState(0);
  const [notice, setNotice] = useState<{ mode: Mode; text: string } | null>(null);
  const reload = () => {
    refetch({ requestPolicy: "network-only" });
    setTick((t) => t + 1);
  };
  // A row reports what it did here: a revoked app's row is gone after the
  // refresh, and its notice must outlive it.
  const changed = (msg: string) => {
    setNotice({ mode, text: msg });
    reload();
  };

  if (res.fetching && !res.data) return <Spinner label="Loading your budget" />;
  if (res.error && !res.data) return <Alert>{errorMessage(res.error)}</Alert>;
  const me = res.data?.me;
  if (!me) {
    toSignIn();
    return null;
  }
  const conns = me.connections.edges.map((e) => e.node);
  const active = conns.filter((c) => c.status === "ACTIVE");
  const revoked = conns.filter((c) => c.status !== "ACTIVE");

  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h1>Your budget</h1>
          <p className="muted">What apps may spend on AI for you, and what they spent.</p>
        </div>
        <Segmented
          label="Mode"
          value={mode}
          options={[
            { value: "LIVE", label: "Live" },
            { value: "TEST", label: "Test" },
          ]}
          onChange={(m) => navigate(m === "TEST" ? "/budget?mode=test" : "/budget")}
        />
      </div>

      <WalletCard wallet={me.wallet} mode={mode} onChange={reload} />
      <FundsSection mode={mode} onFunded={reload} />

      <Card title="Connected apps" actions={<Button variant="ghost" onClick={reload}>Refresh</Button>}>
        {notice?.mode === mode && (
          <div className="notice" data-testid="budget-notice">
            <Alert kind="success">{notice.text}</Alert>
          </div>
        )}
        {active.length === 0 ? (
          <p className="empty">No app can charge your {mode === "TEST" ? "test " : ""}budget. Apps ask with a “Connect AI budget” button.</p>
        ) : (
          <ul className="conn-list" aria-label="Connected apps">
            {active.map((c) => (
              <ConnectionRow key={c.id} conn={c} onChange={changed} />
            ))}
          </ul>
        )}
        {revoked.length > 0 && (
          <details className="revoked-list">
            <summary>Revoked ({revoked.length})</summary>
            <ul aria-label="Revoked apps">
              {revoked.map((c) => (
                <li key={c.id}>
                  <strong>{c.app.name}</strong> <Badge tone="red">Revoked</Badge>{" "}
                  <span className="muted">on {formatDate(c.revokedAt)} · {formatUSD(c.spentThisPeriod)} spent this period</span>
                </li>
              ))}
            </ul>
          </details>
        )}
      </Card>

      <AlertsSection key={`alerts-${mode}`} mode={mode} tick={tick} />
      <ReceiptsCard key={`receipts-${mode}`} mode={mode} tick={tick} />
      <LedgerCard key={`ledger-${mode}`} mode={mode} tick={tick} />
    </div>
  );
}

function WalletCard({ wallet, mode, onChange }: { wallet: WalletFieldsFragment; mode: Mode; onChange: () => void }) {
  const [amount, setAmount] = useState("10");
  const [err, setErr] = useState<string | null>(null);
  const [state, add] = useMutation(AddTestCreditDoc);
  async function submit(e: FormEvent) {
    e.preventDefault();
    const v = validCap(amount);
    if (v) {
      setErr(v);
      return;
    }
    setErr(null);
    const r = await add({ amount: moneyInput(amount) });
    if (r.error) setErr(errorMessage(r.error));
    else onChange();
  }
  return (
    <Card title={mode === "TEST" ? "Test wallet" : "Wallet"}>
      <div className="stats">
        <Stat label="Available" value={<span data-testid="wallet-available">{formatUSD(wallet.available)}</span>} />
        <Stat label="Credits" value={formatUSD(wallet.credits)} />
        <Stat label="Spent" value={formatUSD(wallet.captured)} />
        <Stat
          label="Reserved"
          value={<span data-testid="wallet-reserved">{formatUSD(wallet.held)}</span>}
          sub="For requests in progress. Not spent: what they don't use comes back."
        />
      </div>
      {mode === "TEST" && (
        <form className="inline-form" onSubmit={submit} noValidate>
          <Field label="Add test credit" prefix="$" inputMode="decimal" value={amount} onChange={(e) => setAmount(e.target.value)} error={err} />
          <Button type="submit" variant="secondary" busy={state.fetching}>
            Add test credit
          </Button>
        </form>
      )}
    </Card>
  );
}

function ConnectionRow({ conn, onChange }: { conn: Conn; onChange: (notice: string) => void }) {
  const [editing, setEditing] = useState(false);
  const [cap, setCap] = useState(capInput(conn.monthlyCap));
  const [err, setErr] = useState<string | null>(null);
  const [capState, setCapMut] = useMutation(SetCapDoc);
  const [revokeState, revoke] = useMutation(RevokeDoc);

  async function saveCap(e: FormEvent) {
    e.preventDefault();
    const v = validCap(cap);
    if (v) {
      setErr(v);
      return;
    }
    const r = await setCapMut({ id: conn.id, cap: moneyInput(cap) });
    // A lower cap may answer PROPAGATION_PENDING: saved all the same.
    const out = stopWrite(r);
    if (!out.ok) {
      setErr(out.error);
      return;
    }
    setErr(null);
    setEditing(false);
    const saved = r.data?.setConnectionCap.monthlyCap ?? cap;
    onChange([`Cap for ${conn.app.name} (“${conn.appUserId}”) set to ${formatUSD(saved)} a month.`, out.pending].filter(Boolean).join(" "));
  }
  async function doRevoke() {
    setErr(null);
    const r = await revoke({ id: conn.id });
    // PROPAGATION_PENDING means revoked: the data plane's open leases end by stopsBy.
    const out = stopWrite(r);
    if (!out.ok) setErr(out.error);
    else onChange([`Revoked ${conn.app.name} (“${conn.appUserId}”).`, out.pending].filter(Boolean).join(" "));
  }
  const origin = conn.app.allowedOrigins[0];
  // Left reads as cap − used; what is reserved for requests in progress and
  // a wallet that cannot cover the rest are said beside it, not subtracted.
  const left = capLeft(conn.monthlyCap, conn.spentThisPeriod);
  const notes: string[] = [];
  if (!isZero(conn.held)) notes.push(`${formatUSD(conn.held)} reserved for requests in progress`);
  if (toNano(conn.remaining) < toNano(left) - toNano(conn.held)) notes.push(`your wallet covers ${formatUSD(conn.remaining)}`);
  const leftNote = notes.length ? notes.join("; ") : undefined;
  return (
    <li className="conn" aria-label={conn.app.name}>
      <div className="conn-head">
        <AppAvatar name={conn.app.name} small />
        <div className="conn-name">
          <strong>{conn.app.name}</strong>
          {origin && <span className="muted"> · {origin}</span>}
          <div className="muted small">as “{conn.appUserId}” · connected {formatDate(conn.createdAt)}</div>
        </div>
        <div className="conn-actions">
          {!editing && (
            <Button variant="secondary" onClick={() => setEditing(true)}>
              Change cap
            </Button>
          )}
          <Button variant="danger" onClick={doRevoke} busy={revokeState.fetching} aria-label={`Revoke ${conn.app.name}`}>
            Revoke
          </Button>
        </div>
      </div>
      <div className="conn-numbers">
        <Stat label="Monthly cap" value={formatUSD(conn.monthlyCap)} />
        <Stat label="Used this period" value={<span data-testid="conn-spent">{formatUSD(conn.spentThisPeriod)}</span>} />
        <Stat label="Left" value={<span data-testid="conn-left">{formatUSD(left)}</span>} sub={leftNote} />
        <Stat label="Resets" value={formatDate(conn.resetsAt)} />
      </div>
      <Meter label={`${conn.app.name}: share of the cap used`} used={Number(conn.spentThisPeriod)} cap={Number(conn.monthlyCap)} />
      {editing && (
        <form className="inline-form" onSubmit={saveCap} noValidate>
          <Field label={`New monthly cap for ${conn.app.name}`} prefix="$" inputMode="decimal" value={cap} onChange={(e) => setCap(e.target.value)} error={err} autoFocus />
          <Button type="submit" busy={capState.fetching}>
            Save cap
          </Button>
          <Button type="button" variant="ghost" onClick={() => { setEditing(false); setErr(null); setCap(capInput(conn.monthlyCap)); }}>
            Cancel
          </Button>
        </form>
      )}
      {!editing && err && <Alert>{err}</Alert>}
    </li>
  );
}

function ReceiptsCard({ mode, tick }: { mode: Mode; tick: number }) {
  const pager = usePager();
  const [res, refetch] = useQuery({ query: ReceiptsDoc, variables: { mode, after: pager.after } });
  useRefetchOn(tick, refetch);
  const page = res.data?.me?.receipts;
  return (
    <Card title="Usage">
      {res.error && !res.data ? (
        <Alert>{errorMessage(res.error)}</Alert>
      ) : !page ? (
        <Spinner label="Loading receipts" />
      ) : page.edges.length === 0 ? (
        <p className="empty">No requests yet.</p>
      ) : (
        <ReceiptTable receipts={page.edges.map((e) => e.node)} />
      )}
      <Pager label="Receipts pages" pager={pager} pageInfo={page?.pageInfo} />
    </Card>
  );
}

function LedgerCard({ mode, tick }: { mode: Mode; tick: number }) {
  const pager = usePager();
  const [res, refetch] = useQuery({ query: LedgerDoc, variables: { mode, after: pager.after } });
  useRefetchOn(tick, refetch);
  const page = res.data?.me?.wallet.ledger;
  return (
    <Card title={mode === "TEST" ? "Test credits" : "Credits"}>
      {res.error && !res.data ? (
        <Alert>{errorMessage(res.error)}</Alert>
      ) : !page ? (
        <Spinner label="Loading credits" />
      ) : page.edges.length === 0 ? (
        <p className="empty">No credits yet.</p>
      ) : (
        <div className="table-wrap">
          <table className="data-table ledger">
            <caption className="sr-only">Credits and adjustments to your wallet, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Date</th>
                <th scope="col">Description</th>
                <th scope="col">Kind</th>
                <th scope="col" className="num">Amount</th>
              </tr>
            </thead>
            <tbody>
              {page.edges.map(({ node: e }) => (
                <tr key={e.id}>
                  <td>{formatDateTime(e.createdAt)}</td>
                  <td className="wrap">{e.description || "—"}</td>
                  <td>{e.kind === "credit" ? <Badge tone="green">Credit</Badge> : <Badge tone="blue">{e.kind}</Badge>}</td>
                  <td className="num">{formatUSD(e.amount)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager label="Credits pages" pager={pager} pageInfo={page?.pageInfo} />
    </Card>
  );
}

const ModelNamesDoc = graphql(`
  query ModelNames {
    models {
      id
      displayName
    }
  }
`);

/** useModelNames maps catalog ids to the names people read ("Claude Sonnet 4"); an id not in the catalog maps to nothing. */
function useModelNames(): Map<string, string> {
  const [res] = useQuery({ query: ModelNamesDoc });
  return useMemo(() => new Map((res.data?.models ?? []).filter((m) => m.displayName && m.displayName !== m.id).map((m) => [m.id, m.displayName])), [res.data]);
}

function ReceiptTable({ receipts }: { receipts: Receipt[] }) {
  const names = useModelNames();
  return (
    <div className="table-wrap">
      <table className="receipts">
        <caption className="sr-only">Per-request receipts, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">App</th>
            <th scope="col">Model</th>
            <th scope="col" className="num">Tokens (in / out)</th>
            <th scope="col" className="num">Cost</th>
            <th scope="col">Status</th>
          </tr>
        </thead>
        <tbody>
          {receipts.map((r) => (
            <tr key={r.requestId} title={`Request ${r.requestId}`}>
              <td>{formatDateTime(r.createdAt)}</td>
              <td>{r.app.name}</td>
              <td>
                {names.get(r.model) ? (
                  <>
                    <span data-testid="model-name">{names.get(r.model)}</span>
                    <div className="muted small">
                      <code>{r.model}</code>
                    </div>
                  </>
                ) : (
                  <code>{r.model}</code>
                )}
              </td>
              <td className="num">{r.promptTokens} / {r.completionTokens}</td>
              <td className="num">{formatUSD(r.charged)}</td>
              <td>{r.status === "ok" ? <Badge tone="green">ok</Badge> : <Badge tone="amber">{r.status}</Badge>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** useRefetchOn refetches from the network whenever tick changes after the first render. */
function useRefetchOn(tick: number, refetch: (opts: { requestPolicy: "network-only" }) => void) {
  useEffect(() => {
    if (tick > 0) refetch({ requestPolicy: "network-only" });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [tick]);
}
