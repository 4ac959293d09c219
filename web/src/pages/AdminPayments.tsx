import { useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { graphql } from "../gql";
import type { AdminReconciliationQuery } from "../gql/graphql";
import { Alert, Badge, Button, Card, Field, Select, Spinner, Stat } from "../components/ui";
import { errorMessage, fieldErrors } from "../lib/client";
import { formatDateTime, formatUSD, moneyInput } from "../lib/money";

// The admin console's live money: the reconciliation of the ledger with
// Stripe (every payment on which they differ, and the verified events the
// ledger refused), and one account's live wallet and ledger, where support
// grants credit.

const AdminReconciliationDoc = graphql(`
  query AdminReconciliation {
    admin {
      reconciliation {
        checkedAt
        payments
        ledgerNet
        stripeNet
        lines {
          topUpId
          chargeId
          accountId
          ledger
          stripe
          problem
        }
        refusedEvents {
          eventId
          type
          topUpId
          outcome
          receivedAt
        }
      }
    }
  }
`);

const AdminAccountChoicesDoc = graphql(`
  query AdminAccountChoices {
    admin {
      accounts(first: 100) {
        edges {
          node {
            id
            email
          }
        }
      }
    }
  }
`);

const AdminAccountWalletDoc = graphql(`
  query AdminAccountWallet($id: ID!) {
    admin {
      accountWallet(accountId: $id) {
        mode
        available
        credits
        captured
        held
        takenBack
        frozen
        ledger(first: 50) {
          edges {
            node {
              id
              kind
              source
              amount
              description
              topUpId
              createdAt
            }
          }
        }
      }
    }
  }
`);

const GrantCreditDoc = graphql(`
  mutation GrantCredit($id: ID!, $amount: Money!, $reason: String!) {
    grantCredit(accountId: $id, amount: $amount, reason: $reason) {
      mode
      available
      credits
    }
  }
`);

type Reconciliation = AdminReconciliationQuery["admin"]["reconciliation"];

/** ReconciliationCard compares the ledger with Stripe over the last 30 days. */
export function ReconciliationCard() {
  const [res, refetch] = useQuery({ query: AdminReconciliationDoc, requestPolicy: "network-only" });
  const notConfigured = res.error?.graphQLErrors.some((e) => e.extensions?.code === "PAYMENTS_NOT_CONFIGURED");
  const rec = res.data?.admin.reconciliation;
  return (
    <Card title="Payments · reconciliation with Stripe" actions={<Button variant="ghost" onClick={() => refetch({ requestPolicy: "network-only" })}>Check again</Button>}>
      {notConfigured ? (
        <Alert kind="info" title="Payments are not configured here">
          With no Stripe key there is nothing to reconcile; grants below still work.
        </Alert>
      ) : res.error && !res.data ? (
        <Alert>{errorMessage(res.error)}</Alert>
      ) : !rec ? (
        <Spinner label="Comparing the ledger with Stripe" />
      ) : (
        <ReconciliationTable rec={rec} />
      )}
    </Card>
  );
}

function ReconciliationTable({ rec }: { rec: Reconciliation }) {
  return (
    <>
      <div className="stats">
        <Stat label="Stripe payments (30 days)" value={rec.payments} />
        <Stat label="Ledger, net" value={formatUSD(rec.ledgerNet)} sub="Credited for top-ups, less refunds" />
        <Stat label="Stripe, net" value={formatUSD(rec.stripeNet)} sub="Collected, less refunds" />
        <Stat label="Checked" value={formatDateTime(rec.checkedAt)} />
      </div>
      {rec.lines.length === 0 && rec.refusedEvents.length === 0 ? (
        <Alert kind="success">The ledger and Stripe agree.</Alert>
      ) : null}
      {rec.lines.length > 0 && (
        <div className="table-wrap">
          <table className="data-table" aria-label="Differences with Stripe">
            <thead>
              <tr>
                <th scope="col">Problem</th>
                <th scope="col">Top-up</th>
                <th scope="col">Charge</th>
                <th scope="col">Account</th>
                <th scope="col" className="num">Ledger</th>
                <th scope="col" className="num">Stripe</th>
              </tr>
            </thead>
            <tbody>
              {rec.lines.map((l) => (
                <tr key={`${l.topUpId}/${l.chargeId}`}>
                  <td>
                    <Badge tone="red">{l.problem}</Badge>
                  </td>
                  <td>{l.topUpId ? <code>{l.topUpId}</code> : "—"}</td>
                  <td>{l.chargeId ? <code>{l.chargeId}</code> : "—"}</td>
                  <td>{l.accountId ? <code>{l.accountId}</code> : "—"}</td>
                  <td className="num">{formatUSD(l.ledger)}</td>
                  <td className="num">{formatUSD(l.stripe)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {rec.refusedEvents.length > 0 && (
        <div className="table-wrap">
          <table className="data-table" aria-label="Refused Stripe events">
            <caption>Verified events the ledger refused: refund or credit them by hand</caption>
            <thead>
              <tr>
                <th scope="col">Received</th>
                <th scope="col">Event</th>
                <th scope="col">Top-up</th>
                <th scope="col">Why</th>
              </tr>
            </thead>
            <tbody>
              {rec.refusedEvents.map((e) => (
                <tr key={e.eventId}>
                  <td>{formatDateTime(e.receivedAt)}</td>
                  <td>
                    <code>{e.eventId}</code>
                    <div className="muted small">{e.type}</div>
                  </td>
                  <td>{e.topUpId ? <code>{e.topUpId}</code> : "—"}</td>
                  <td className="wrap">{e.outcome}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

/** AccountLedgerCard shows one account's live wallet and ledger, and grants credit to it. */
export function AccountLedgerCard() {
  const [choices] = useQuery({ query: AdminAccountChoicesDoc });
  const [account, setAccount] = useState("");
  const accounts = choices.data?.admin.accounts.edges.map((e) => e.node) ?? [];
  return (
    <Card title="Account ledger · live">
      <Select label="Account" value={account} onChange={(e) => setAccount(e.target.value)}>
        <option value="">Choose an account…</option>
        {accounts.map((a) => (
          <option key={a.id} value={a.id}>
            {a.email}
          </option>
        ))}
      </Select>
      {account && <AccountLedger key={account} accountId={account} />}
    </Card>
  );
}

function AccountLedger({ accountId }: { accountId: string }) {
  const [res, refetch] = useQuery({ query: AdminAccountWalletDoc, variables: { id: accountId }, requestPolicy: "network-only" });
  const [amount, setAmount] = useState("");
  const [reason, setReason] = useState("");
  const [errs, setErrs] = useState<Record<string, string>>({});
  const [done, setDone] = useState<string | null>(null);
  const [state, grant] = useMutation(GrantCreditDoc);
  const w = res.data?.admin.accountWallet;

  async function submit(e: FormEvent) {
    e.preventDefault();
    setDone(null);
    const r = await grant({ id: accountId, amount: moneyInput(amount), reason });
    if (r.error) {
      const f = fieldErrors(r.error);
      setErrs(Object.keys(f).length ? f : { "": errorMessage(r.error) ?? "Could not grant." });
      return;
    }
    setErrs({});
    setDone(`Granted ${formatUSD(moneyInput(amount))}. The wallet has ${formatUSD(r.data?.grantCredit.available)} available.`);
    setAmount("");
    setReason("");
    refetch({ requestPolicy: "network-only" });
  }

  if (res.error && !res.data) return <Alert>{errorMessage(res.error)}</Alert>;
  if (!w) return <Spinner label="Loading the ledger" />;
  return (
    <>
      {w.frozen && <Alert title="Frozen">A payment dispute is open: no request is admitted on this wallet.</Alert>}
      <div className="stats">
        <Stat label="Available" value={<span data-testid="admin-wallet-available">{formatUSD(w.available)}</span>} />
        <Stat label="Credits" value={formatUSD(w.credits)} />
        <Stat label="Spent" value={formatUSD(w.captured)} />
        <Stat label="Taken back" value={formatUSD(w.takenBack)} sub="Refunds and lost disputes" />
      </div>
      <form className="inline-form" onSubmit={submit} noValidate aria-label="Grant credit">
        <Field label="Amount to grant" prefix="$" inputMode="decimal" value={amount} onChange={(e) => setAmount(e.target.value)} error={errs.amount} />
        <Field label="Reason" value={reason} onChange={(e) => setReason(e.target.value)} error={errs.reason} placeholder="Support: outage on 3 Dec" />
        <Button type="submit" variant="secondary" busy={state.fetching}>
          Grant
        </Button>
      </form>
      {errs[""] && <Alert>{errs[""]}</Alert>}
      {done && <Alert kind="success">{done}</Alert>}
      {w.ledger.edges.length === 0 ? (
        <p className="empty">No entries yet.</p>
      ) : (
        <div className="table-wrap">
          <table className="data-table" aria-label="Live ledger">
            <thead>
              <tr>
                <th scope="col">Date</th>
                <th scope="col">Source</th>
                <th scope="col">Description</th>
                <th scope="col" className="num">Amount</th>
              </tr>
            </thead>
            <tbody>
              {w.ledger.edges.map(({ node: e }) => (
                <tr key={e.id}>
                  <td>{formatDateTime(e.createdAt)}</td>
                  <td>
                    <Badge tone={e.kind === "credit" ? "green" : "amber"}>{e.source.replace("_", " ")}</Badge>
                  </td>
                  <td className="wrap">
                    {e.description || "—"}
                    {e.topUpId && <div className="muted small">{e.topUpId}</div>}
                  </td>
                  <td className="num">{formatUSD(e.amount)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
