import { useEffect, useRef, useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { graphql } from "../gql";
import type { FundsQuery, Mode, TopUpStatus } from "../gql/graphql";
import { Alert, Badge, Button, Card, Field, Segmented, Spinner } from "../components/ui";
import { errorMessage, fieldErrors } from "../lib/client";
import { useLocation } from "../lib/router";
import { capInput, formatDateTime, formatUSD, moneyInput, toNano } from "../lib/money";

// Live money on the budget page: Add funds (Stripe Checkout), the top-up
// history with receipts, auto-recharge, and the ledger's CSV export. The
// wallet is credited by Stripe's webhook, not by coming back from Checkout:
// while a top-up is pending the page asks again every two seconds and
// refreshes the balance the moment it lands.

const FundsDoc = graphql(`
  query Funds {
    me {
      account {
        id
      }
      payments {
        configured
        minTopUp
        maxTopUp
      }
      wallet(mode: LIVE) {
        mode
        available
        frozen
        takenBack
      }
      autoRecharge {
        enabled
        threshold
        amount
        cardSaved
        disabledReason
      }
      topUps(first: 10) {
        edges {
          node {
            id
            amount
            status
            source
            checkoutUrl
            receiptUrl
            refunded
            failure
            createdAt
            creditedAt
          }
        }
      }
    }
  }
`);

const StartTopUpDoc = graphql(`
  mutation StartTopUp($amount: Money!) {
    startTopUp(amount: $amount) {
      id
      amount
      status
      checkoutUrl
    }
  }
`);

const SetAutoRechargeDoc = graphql(`
  mutation SetAutoRecharge($enabled: Boolean!, $threshold: Money, $amount: Money) {
    setAutoRecharge(enabled: $enabled, threshold: $threshold, amount: $amount) {
      enabled
      threshold
      amount
      cardSaved
      disabledReason
    }
  }
`);

type TopUp = NonNullable<FundsQuery["me"]>["topUps"]["edges"][number]["node"];

const PRESETS = ["5", "10", "25"];

/**
 * FundsSection is the live budget's money in and out; in test mode only the
 * ledger export (test wallets are funded with test credit above).
 */
export function FundsSection({ mode, onFunded }: { mode: Mode; onFunded: () => void }) {
  if (mode === "TEST") return <LedgerExport mode={mode} />;
  return <LiveFunds onFunded={onFunded} />;
}

function LiveFunds({ onFunded }: { onFunded: () => void }) {
  const { query } = useLocation();
  const [res, refetch] = useQuery({ query: FundsDoc, requestPolicy: "cache-and-network" });
  const me = res.data?.me;
  const topUps = me?.topUps.edges.map((e) => e.node) ?? [];
  const returned = query.get("top_up");
  const pending = topUps.some((t) => t.status === "PENDING");
  // Poll while a top-up waits for its webhook: the balance then updates
  // without a reload.
  useEffect(() => {
    if (!pending) return;
    const id = window.setInterval(() => refetch({ requestPolicy: "network-only" }), 2000);
    return () => window.clearInterval(id);
  }, [pending, refetch]);
  // When a top-up this page watched becomes paid, refresh the wallet above.
  const seen = useRef(new Map<string, TopUpStatus>());
  useEffect(() => {
    let funded = false;
    for (const t of topUps) {
      const before = seen.current.get(t.id);
      if (before === "PENDING" && t.status !== "PENDING") funded = true;
      seen.current.set(t.id, t.status);
    }
    if (funded) onFunded();
  }, [topUps, onFunded]);

  if (!me) return res.fetching ? <Spinner label="Loading payments" /> : null;
  return (
    <>
      {me.wallet.frozen && (
        <Alert title="Your wallet is frozen">
          A payment dispute is open on one of your top-ups, so apps cannot spend from your budget until the dispute is resolved.
        </Alert>
      )}
      {!me.wallet.frozen && toNano(me.wallet.available) < 0n && (
        <Alert title="Your balance is below zero">
          A refund took back money that was already spent. Apps cannot spend from your budget until you add funds.
        </Alert>
      )}
      <AddFunds payments={me.payments} returned={returned} cancelled={query.get("cancelled") === "1"} topUps={topUps} onStarted={() => refetch({ requestPolicy: "network-only" })} />
      <TopUpHistory topUps={topUps} />
      {me.payments.configured && <AutoRechargeCard setting={me.autoRecharge} payments={me.payments} />}
      <LedgerExport mode="LIVE" />
    </>
  );
}

function AddFunds({
  payments,
  returned,
  cancelled,
  topUps,
  onStarted,
}: {
  payments: NonNullable<FundsQuery["me"]>["payments"];
  returned: string | null;
  cancelled: boolean;
  topUps: TopUp[];
  onStarted: () => void;
}) {
  const [choice, setChoice] = useState("10");
  const [custom, setCustom] = useState("");
  const [err, setErr] = useState<string | null>(null);
  const [started, setStarted] = useState<TopUp | { id: string; checkoutUrl?: string | null } | null>(null);
  const [state, start] = useMutation(StartTopUpDoc);

  if (!payments.configured) {
    return (
      <Card title="Add funds">
        <Alert kind="info" title="Payments are not configured here">
          This Wattfare has no payment provider set up, so you cannot add funds by card. An administrator can still grant credit to your wallet.
        </Alert>
      </Card>
    );
  }

  const watching = started?.id ?? returned;
  const watched = topUps.find((t) => t.id === watching);
  const amount = choice === "custom" ? custom : choice;

  async function submit(e: FormEvent) {
    e.preventDefault();
    const s = moneyInput(amount);
    if (!/^\d+(\.\d{1,2})?$/.test(s)) {
      setErr("Enter an amount in dollars, such as 15 or 12.50.");
      return;
    }
    if (toNano(s) < toNano(payments.minTopUp) || toNano(s) > toNano(payments.maxTopUp)) {
      setErr(`Add at least ${formatUSD(payments.minTopUp)} and at most ${formatUSD(payments.maxTopUp)}.`);
      return;
    }
    setErr(null);
    // Open the tab first, in the click's own turn, so no popup blocker
    // stops it; Checkout loads in it once the session exists.
    const tab = window.open("", "_blank");
    const r = await start({ amount: s });
    const tu = r.data?.startTopUp;
    if (r.error || !tu?.checkoutUrl) {
      tab?.close();
      setErr(fieldErrors(r.error).amount ?? errorMessage(r.error) ?? "Could not start the checkout.");
      return;
    }
    setStarted(tu);
    if (tab) tab.location.href = tu.checkoutUrl;
    else window.location.assign(tu.checkoutUrl);
    onStarted();
  }

  return (
    <Card title="Add funds">
      <form onSubmit={submit} noValidate aria-label="Add funds">
        <Segmented
          label="Amount"
          value={choice}
          options={[...PRESETS.map((p) => ({ value: p, label: formatUSD(p) })), { value: "custom", label: "Custom" }]}
          onChange={setChoice}
        />
        {choice === "custom" && (
          <Field
            label="Amount"
            prefix="$"
            inputMode="decimal"
            value={custom}
            onChange={(e) => setCustom(e.target.value)}
            hint={`${formatUSD(payments.minTopUp)} to ${formatUSD(payments.maxTopUp)}`}
            autoFocus
          />
        )}
        {err && <Alert>{err}</Alert>}
        <div className="inline-form">
          <Button type="submit" busy={state.fetching}>
            Add {choice === "custom" ? (custom ? formatUSD(moneyInput(custom)) : "funds") : formatUSD(choice)}
          </Button>
          <span className="muted small">You pay on Stripe's secure checkout. Your card is saved there for auto-recharge.</span>
        </div>
      </form>
      {cancelled && !started && <Alert kind="info">Checkout was cancelled: nothing was charged.</Alert>}
      {watching && (!watched || watched.status === "PENDING") && !(cancelled && !started) && (
        <div className="notice" data-testid="top-up-pending">
          <Alert kind="info" title="Waiting for your payment">
            {watched ? formatUSD(watched.amount) : "Your top-up"} is added to your balance as soon as Stripe confirms the payment.{" "}
            {watched?.checkoutUrl && (
              <a href={watched.checkoutUrl} target="_blank" rel="noopener noreferrer">
                Open the checkout again
              </a>
            )}
          </Alert>
        </div>
      )}
      {watched && watched.status === "SUCCEEDED" && (
        <div className="notice" data-testid="top-up-done">
          <Alert kind="success">{formatUSD(watched.amount)} was added to your balance.</Alert>
        </div>
      )}
      {watched && watched.status === "FAILED" && <Alert>The payment did not go through{watched.failure ? `: ${watched.failure}` : "."}</Alert>}
    </Card>
  );
}

const statusBadge: Record<TopUpStatus, { tone: "neutral" | "green" | "amber" | "red" | "blue"; label: string }> = {
  PENDING: { tone: "amber", label: "Pending" },
  SUCCEEDED: { tone: "green", label: "Paid" },
  FAILED: { tone: "red", label: "Failed" },
  REFUNDED: { tone: "blue", label: "Refunded" },
  PARTIALLY_REFUNDED: { tone: "blue", label: "Partly refunded" },
  DISPUTED: { tone: "red", label: "Disputed" },
};

function TopUpHistory({ topUps }: { topUps: TopUp[] }) {
  if (topUps.length === 0) return null;
  return (
    <Card title="Top-ups">
      <div className="table-wrap">
        <table className="data-table" aria-label="Top-ups">
          <thead>
            <tr>
              <th scope="col">Date</th>
              <th scope="col" className="num">Amount</th>
              <th scope="col">Status</th>
              <th scope="col">Receipt</th>
            </tr>
          </thead>
          <tbody>
            {topUps.map((t) => (
              <tr key={t.id} data-testid="top-up-row">
                <td>
                  {formatDateTime(t.createdAt)}
                  {t.source === "auto_recharge" && <div className="muted small">Auto-recharge</div>}
                </td>
                <td className="num">
                  {formatUSD(t.amount)}
                  {toNano(t.refunded) > 0n && <div className="muted small">{formatUSD(t.refunded)} refunded</div>}
                </td>
                <td>
                  <Badge tone={statusBadge[t.status].tone}>{statusBadge[t.status].label}</Badge>
                  {t.failure && <div className="muted small wrap">{t.failure}</div>}
                </td>
                <td>
                  {t.receiptUrl ? (
                    <a href={t.receiptUrl} target="_blank" rel="noopener noreferrer">
                      Receipt
                    </a>
                  ) : (
                    "—"
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Card>
  );
}

function AutoRechargeCard({
  setting,
  payments,
}: {
  setting: NonNullable<FundsQuery["me"]>["autoRecharge"];
  payments: NonNullable<FundsQuery["me"]>["payments"];
}) {
  const [enabled, setEnabled] = useState(setting.enabled);
  const [threshold, setThreshold] = useState(setting.enabled ? capInput(setting.threshold) : "5");
  const [amount, setAmount] = useState(setting.enabled ? capInput(setting.amount) : "20");
  const [errs, setErrs] = useState<Record<string, string>>({});
  const [saved, setSaved] = useState<string | null>(null);
  const [state, save] = useMutation(SetAutoRechargeDoc);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setSaved(null);
    const r = await save(enabled ? { enabled, threshold: moneyInput(threshold), amount: moneyInput(amount) } : { enabled });
    if (r.error) {
      const f = fieldErrors(r.error);
      setErrs(Object.keys(f).length ? f : { form: errorMessage(r.error) ?? "Could not save." });
      return;
    }
    setErrs({});
    const a = r.data?.setAutoRecharge;
    setSaved(a?.enabled ? `Auto-recharge is on: ${formatUSD(a.amount)} whenever your balance falls under ${formatUSD(a.threshold)}.` : "Auto-recharge is off.");
  }

  return (
    <Card title="Auto-recharge">
      {setting.disabledReason && !saved && <Alert title="Auto-recharge is off">{setting.disabledReason} Turn it on again to retry with your saved card.</Alert>}
      <form onSubmit={submit} noValidate aria-label="Auto-recharge">
        <label className="checkbox">
          <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} /> Recharge automatically when my balance runs low
        </label>
        {enabled && (
          <div className="inline-form">
            <Field label="When the balance falls under" prefix="$" inputMode="decimal" value={threshold} onChange={(e) => setThreshold(e.target.value)} error={errs.threshold} />
            <Field
              label="Add"
              prefix="$"
              inputMode="decimal"
              value={amount}
              onChange={(e) => setAmount(e.target.value)}
              error={errs.amount}
              hint={`${formatUSD(payments.minTopUp)} to ${formatUSD(payments.maxTopUp)}`}
            />
          </div>
        )}
        {enabled && !setting.cardSaved && <p className="muted small">Auto-recharge charges the card you pay with at your next Add funds.</p>}
        {errs.form && <Alert>{errs.form}</Alert>}
        {saved && <Alert kind="success">{saved}</Alert>}
        <Button type="submit" variant="secondary" busy={state.fetching}>
          Save
        </Button>
      </form>
    </Card>
  );
}

function LedgerExport({ mode }: { mode: Mode }) {
  return (
    <p className="muted small">
      <a href={`/budget/ledger.csv?mode=${mode === "TEST" ? "test" : "live"}`} download>
        Download the whole {mode === "TEST" ? "test " : ""}ledger (CSV)
      </a>{" "}
      — every credit, refund and request charge, with its source.
    </p>
  );
}
