import { useQuery } from "urql";
import { graphql } from "../gql";
import type { AdminUpstreamKeysQuery } from "../gql/graphql";
import { Alert, Badge, Card, Spinner, Stat } from "../components/ui";
import { errorMessage } from "../lib/client";
import { formatDateTime, formatUSD } from "../lib/money";

const AdminUpstreamKeysDoc = graphql(`
  query AdminUpstreamKeys {
    admin {
      upstreamKeys(latest: 50) {
        enabled
        checks {
          connectionId
          period
          checkedAt
          metered
          upstream
          drift
          limit
          disabled
        }
      }
    }
  }
`);

type Report = AdminUpstreamKeysQuery["admin"]["upstreamKeys"];

/**
 * BackstopCard shows the upstream backstop: each live connection's own
 * OpenRouter key, reconciled nightly against what Wattfare metered. Drift
 * above zero means requests went out on a key that Wattfare did not meter.
 */
export function BackstopCard() {
  const [res] = useQuery({ query: AdminUpstreamKeysDoc });
  const report = res.data?.admin.upstreamKeys;
  return (
    <Card title="Upstream backstop · OpenRouter keys">
      {res.error && !res.data ? <Alert>{errorMessage(res.error)}</Alert> : !report ? <Spinner label="Loading upstream keys" /> : <BackstopTable report={report} />}
    </Card>
  );
}

/** sign reads a decimal amount's sign from its digits, never through a float. */
function sign(amount: string): -1 | 0 | 1 {
  if (!/[1-9]/.test(amount)) return 0;
  return amount.trim().startsWith("-") ? -1 : 1;
}

function driftBadge(drift: string) {
  switch (sign(drift)) {
    case 1:
      return <Badge tone="red">unmetered spend</Badge>;
    case -1:
      return <Badge tone="neutral">not yet counted upstream</Badge>;
    default:
      return <Badge tone="green">in line</Badge>;
  }
}

function BackstopTable({ report }: { report: Report }) {
  if (!report.enabled) {
    return (
      <p className="empty" data-testid="backstop-off">
        Off: live requests share one OpenRouter key with no ceiling. Set <code>WATTFARE_OPENROUTER_MANAGEMENT_KEY</code> and <code>WATTFARE_ENCRYPTION_KEY</code> to give each live connection its own key, limited to its cap.
      </p>
    );
  }
  const drifting = report.checks.filter((c) => sign(c.drift) > 0).length;
  return (
    <>
      <div className="stats">
        <Stat label="Keys reconciled" value={<span data-testid="backstop-keys">{report.checks.length}</span>} sub="newest check of each" />
        <Stat label="Drifting" value={<span data-testid="backstop-drifting">{drifting}</span>} sub="spent more upstream than metered" />
      </div>
      {report.checks.length === 0 ? (
        <p className="empty">No key has been reconciled yet: the reconciliation runs nightly.</p>
      ) : (
        <div className="table-wrap">
          <table className="data-table">
            <caption>Reconciliation, largest drift first</caption>
            <thead>
              <tr>
                <th scope="col">Connection</th>
                <th scope="col">Checked</th>
                <th scope="col" className="num">Metered</th>
                <th scope="col" className="num">OpenRouter</th>
                <th scope="col" className="num">Drift</th>
                <th scope="col" className="num">Limit</th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {report.checks.map((c) => (
                <tr key={c.connectionId} aria-label={c.connectionId}>
                  <td>
                    <code>{c.connectionId}</code>
                  </td>
                  <td>{formatDateTime(c.checkedAt)}</td>
                  <td className="num">{formatUSD(c.metered)}</td>
                  <td className="num">{formatUSD(c.upstream)}</td>
                  <td className="num">
                    {formatUSD(c.drift)} {driftBadge(c.drift)}
                  </td>
                  <td className="num">{c.limit == null ? "none" : formatUSD(c.limit)}</td>
                  <td>{c.disabled ? "disabled" : "enabled"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
