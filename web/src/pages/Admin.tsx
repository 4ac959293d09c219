import { useState, type FormEvent } from "react";
import { useClient, useMutation, useQuery } from "urql";
import { graphql } from "../gql";
import type { AdminAppsQuery, AdminCatalogQuery, AdminConsoleQuery, AdminOverrunQuery, CatalogModelFieldsFragment, Mode } from "../gql/graphql";
import { Alert, Badge, Button, Card, Dialog, Field, Pager, Spinner, Stat, TextArea, usePager } from "../components/ui";
import { RangeSelect, UsageSummary, UsageTable, useUsageRange } from "../components/usage";
import { toSignIn, useMe } from "../components/auth";
import { ModeSwitch, modeOf, modeText } from "../components/mode";
import { errorMessage, fieldErrors, stopWrite } from "../lib/client";
import { Link, useLocation } from "../lib/router";
import { capInput, formatDate, formatDateTime, formatUSD, moneyInput, validPrice } from "../lib/money";
import { BackstopCard } from "./AdminBackstop";
import { AccountLedgerCard, ReconciliationCard } from "./AdminPayments";

const ConsoleDoc = graphql(`
  query AdminConsole($mode: Mode!, $from: Time!, $to: Time!) {
    admin {
      usageByDay(mode: $mode, from: $from, to: $to) {
        ...UsageDayFields
      }
      usageByApp(mode: $mode, from: $from, to: $to, first: 20) {
        app {
          id
          name
          suspended
        }
        requests
        promptTokens
        completionTokens
        cost
      }
      usageByModel(mode: $mode, from: $from, to: $to) {
        ...ModelUsageFields
      }
    }
  }
`);

const AdminOverrunDoc = graphql(`
  query AdminOverrun($mode: Mode!) {
    admin {
      overrun(mode: $mode, latest: 10) {
        periodStart
        total
        requests
        latest {
          requestId
          createdAt
          appId
          appUserId
          model
          status
          cost
          charged
          overrun
        }
      }
      abandonedLeases(mode: $mode, latest: 10) {
        requestId
        createdAt
        processId
        appId
        appUserId
        charged
      }
    }
  }
`);

const AdminAppsDoc = graphql(`
  query AdminApps($after: String) {
    admin {
      apps(first: 20, after: $after) {
        edges {
          node {
            id
            name
            allowedOrigins
            suspended
            suspendedAt
            suspendedReason
            createdAt
            owner {
              id
              email
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

const AdminAccountsDoc = graphql(`
  query AdminAccounts($after: String) {
    admin {
      accounts(first: 20, after: $after) {
        edges {
          node {
            id
            email
            displayName
            isAdmin
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
`);

graphql(`
  fragment CatalogModelFields on Model {
    id
    displayName
    upstream
    upstreamModel
    kind
    enabled
    disabledReason
    promptPerMillion
    completionPerMillion
    upstreamPromptPerMillion
    upstreamCompletionPerMillion
    markupBps
    ownMarkupBps
    contextLength
    maxOutputTokens
  }
`);

const AdminCatalogDoc = graphql(`
  query AdminCatalog($search: String!) {
    admin {
      globalMarkupBps
      catalog(search: $search, first: 50) {
        total
        models {
          ...CatalogModelFields
        }
      }
      lastCatalogSync {
        id
        source
        startedAt
        finishedAt
        error
        listed
        added
        changed
        disabled
        changes {
          modelId
          kind
          field
          old
          new
        }
      }
    }
  }
`);

const SetModelEnabledDoc = graphql(`
  mutation SetModelEnabled($modelId: ID!, $enabled: Boolean!) {
    setModelEnabled(modelId: $modelId, enabled: $enabled) {
      ...CatalogModelFields
    }
  }
`);

const SetModelMarkupDoc = graphql(`
  mutation SetModelMarkup($modelId: ID!, $markupBps: Int) {
    setModelMarkup(modelId: $modelId, markupBps: $markupBps) {
      ...CatalogModelFields
    }
  }
`);

const SetGlobalMarkupDoc = graphql(`
  mutation SetGlobalMarkup($markupBps: Int!) {
    setGlobalMarkup(markupBps: $markupBps)
  }
`);

const SuspendDoc = graphql(`
  mutation SuspendApp($appId: ID!, $reason: String!) {
    suspendApp(appId: $appId, reason: $reason) {
      id
      suspended
      suspendedAt
      suspendedReason
    }
  }
`);

const UnsuspendDoc = graphql(`
  mutation UnsuspendApp($appId: ID!) {
    unsuspendApp(appId: $appId) {
      id
      suspended
      suspendedAt
      suspendedReason
    }
  }
`);

const UpdatePriceDoc = graphql(`
  mutation UpdateModelPrice($input: UpdateModelPriceInput!) {
    updateModelPrice(input: $input) {
      id
      promptPerMillion
      completionPerMillion
    }
  }
`);

type AdminApp = AdminAppsQuery["admin"]["apps"]["edges"][number]["node"];
type Usage = AdminConsoleQuery["admin"];

/** AdminPage is the platform admin console. Only admins get past the door. */
export function AdminPage() {
  const { account, loading } = useMe();
  if (loading) return <Spinner />;
  if (!account) {
    toSignIn();
    return null;
  }
  if (!account.isAdmin) {
    return (
      <div className="page">
        <h1>Not authorized</h1>
        <Alert title="This page is for Wattfare platform admins">
          You are signed in as {account.email}, which is not an admin account. Your apps are in the <a href="/dashboard">developer dashboard</a>.
        </Alert>
      </div>
    );
  }
  return <Console />;
}

function Console() {
  const { query } = useLocation();
  const mode = modeOf(query, "LIVE");
  const { range, bounds } = useUsageRange();
  const [res] = useQuery({ query: ConsoleDoc, variables: { mode, ...bounds } });
  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h1>Admin console</h1>
          <p className="muted">Usage across apps, users and models; overrun; app suspension; the model catalog, its prices and markup.</p>
        </div>
        <ModeSwitch mode={mode} fallback="LIVE" />
      </div>
      <Card title={`Platform usage · ${modeText(mode)} mode`} actions={<RangeSelect value={range} />}>
        {res.error && !res.data ? <Alert>{errorMessage(res.error)}</Alert> : !res.data ? <Spinner label="Loading usage" /> : <PlatformUsage usage={res.data.admin} mode={mode} />}
      </Card>
      <OverrunCard mode={mode} />
      <BackstopCard />
      <ReconciliationCard />
      <AppsCard />
      <CatalogCard />
      <AccountsCard />
      <AccountLedgerCard />
    </div>
  );
}

function PlatformUsage({ usage, mode }: { usage: Usage; mode: Mode }) {
  return (
    <>
      <UsageSummary days={usage.usageByDay} label={`Platform cost per day, ${modeText(mode)} mode`} />
      <div className="usage-tables">
        <UsageTable
          caption="By app"
          head="App"
          rows={usage.usageByApp}
          rowKey={(r) => r.app.id}
          cell={(r) => (
            <>
              {r.app.name} {r.app.suspended && <Badge tone="red">Suspended</Badge>}
            </>
          )}
          empty="No app was used in this range."
        />
        <UsageTable
          caption="By model"
          head="Model"
          rows={usage.usageByModel}
          rowKey={(r) => r.modelId}
          cell={(r) => <code title={r.model?.displayName}>{r.modelId}</code>}
          empty="No model was used in this range."
        />
      </div>
    </>
  );
}

type Overrun = AdminOverrunQuery["admin"];

const monthText = (iso: string) => new Date(iso).toLocaleDateString("en-US", { year: "numeric", month: "long", timeZone: "UTC" });

/**
 * OverrunCard shows what Wattfare bore this month: requests that cost more
 * than could be captured for them, and the leases of lost data-plane spools
 * that an operator captured in full (wattfare spool abandon).
 */
function OverrunCard({ mode }: { mode: Mode }) {
  const [res] = useQuery({ query: AdminOverrunDoc, variables: { mode } });
  const data = res.data?.admin;
  return (
    <Card title={`Overrun this month · ${modeText(mode)} mode`}>
      <p className="muted small card-intro">What settled requests cost beyond what their cap or wallet let Wattfare capture: nobody is charged past a cap, so Wattfare bears it.</p>
      {res.error && !res.data ? <Alert>{errorMessage(res.error)}</Alert> : !data ? <Spinner label="Loading overrun" /> : <OverrunTables data={data} />}
    </Card>
  );
}

function OverrunTables({ data }: { data: Overrun }) {
  const { overrun, abandonedLeases } = data;
  return (
    <>
      <div className="stats">
        <Stat label="Overrun" value={<span data-testid="overrun-total">{formatUSD(overrun.total)}</span>} sub={monthText(overrun.periodStart)} />
        <Stat label="Requests" value={<span data-testid="overrun-requests">{overrun.requests}</span>} sub="cost more than was captured" />
      </div>
      {overrun.latest.length === 0 ? (
        <p className="empty">No request has cost more than was captured for it.</p>
      ) : (
        <div className="table-wrap">
          <table className="data-table">
            <caption>Latest overruns</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">App · user</th>
                <th scope="col">Model</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">Cost</th>
                <th scope="col" className="num">Charged</th>
                <th scope="col" className="num">Overrun</th>
              </tr>
            </thead>
            <tbody>
              {overrun.latest.map((e) => (
                <tr key={e.requestId} aria-label={e.requestId}>
                  <td>
                    {formatDateTime(e.createdAt)}
                    <div className="muted small">
                      <code>{e.requestId}</code>
                    </div>
                  </td>
                  <td>
                    <code>{e.appId}</code>
                    <div className="muted small">{e.appUserId}</div>
                  </td>
                  <td>
                    <code>{e.model}</code>
                  </td>
                  <td>{e.status}</td>
                  <td className="num">{formatUSD(e.cost)}</td>
                  <td className="num">{formatUSD(e.charged)}</td>
                  <td className="num">{formatUSD(e.overrun)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h3 className="sub-title">Abandoned spools</h3>
      <p className="muted small">Leases of data-plane processes whose spool was lost, captured in full by <code>wattfare spool abandon</code>: what their requests consumed is unknown.</p>
      {abandonedLeases.length === 0 ? (
        <p className="empty">No spool was abandoned this month.</p>
      ) : (
        <div className="table-wrap">
          <table className="data-table">
            <caption className="sr-only">Abandoned spools this month</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Process</th>
                <th scope="col">App · user</th>
                <th scope="col" className="num">Captured</th>
              </tr>
            </thead>
            <tbody>
              {abandonedLeases.map((l) => (
                <tr key={l.requestId} aria-label={l.requestId}>
                  <td>{formatDateTime(l.createdAt)}</td>
                  <td>
                    <code>{l.processId || "—"}</code>
                  </td>
                  <td>
                    <code>{l.appId}</code>
                    <div className="muted small">{l.appUserId}</div>
                  </td>
                  <td className="num">{formatUSD(l.charged)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function AppsCard() {
  const pager = usePager();
  const [res, refetch] = useQuery({ query: AdminAppsDoc, variables: { after: pager.after } });
  const [suspending, setSuspending] = useState<AdminApp | null>(null);
  const [unsuspending, setUnsuspending] = useState<AdminApp | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const page = res.data?.admin.apps;
  const done = (msg: string) => {
    setNotice(msg);
    refetch({ requestPolicy: "network-only" });
  };
  return (
    <Card title="Apps">
      {notice && <Alert kind="success">{notice}</Alert>}
      {res.error && !res.data ? (
        <Alert>{errorMessage(res.error)}</Alert>
      ) : !page ? (
        <Spinner label="Loading apps" />
      ) : page.edges.length === 0 ? (
        <p className="empty">No apps yet.</p>
      ) : (
        <div className="table-wrap">
          <table className="data-table">
            <caption className="sr-only">All apps</caption>
            <thead>
              <tr>
                <th scope="col">App</th>
                <th scope="col">Owner</th>
                <th scope="col">Status</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {page.edges.map(({ node: a }) => (
                <tr key={a.id} aria-label={a.name}>
                  <td>
                    <Link to={`/dashboard/apps/${encodeURIComponent(a.id)}`} className="strong-link">
                      {a.name}
                    </Link>
                    <div className="muted small">{a.allowedOrigins.join(", ") || "No allowed origins"}</div>
                  </td>
                  <td>{a.owner.email}</td>
                  <td className="wrap">
                    {a.suspended ? (
                      <>
                        <Badge tone="red">Suspended</Badge>
                        <div className="muted small">
                          {formatDate(a.suspendedAt)}: {a.suspendedReason}
                        </div>
                      </>
                    ) : (
                      <Badge tone="green">Active</Badge>
                    )}
                  </td>
                  <td>{formatDate(a.createdAt)}</td>
                  <td className="row-actions">
                    {a.suspended ? (
                      <Button variant="secondary" onClick={() => setUnsuspending(a)} aria-label={`Unsuspend ${a.name}`}>
                        Unsuspend
                      </Button>
                    ) : (
                      <Button variant="danger" onClick={() => setSuspending(a)} aria-label={`Suspend ${a.name}`}>
                        Suspend
                      </Button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager label="Apps pages" pager={pager} pageInfo={page?.pageInfo} />
      <SuspendDialog app={suspending} onClose={() => setSuspending(null)} onDone={done} />
      <UnsuspendDialog app={unsuspending} onClose={() => setUnsuspending(null)} onDone={done} />
    </Card>
  );
}

function SuspendDialog({ app, onClose, onDone }: { app: AdminApp | null; onClose: () => void; onDone: (msg: string) => void }) {
  const [reason, setReason] = useState("");
  const [err, setErr] = useState<string | null>(null);
  const [state, suspend] = useMutation(SuspendDoc);
  const close = () => {
    setReason("");
    setErr(null);
    onClose();
  };
  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!app) return;
    if (!reason.trim()) {
      setErr("Say why: the developer sees this reason.");
      return;
    }
    const r = await suspend({ appId: app.id, reason: reason.trim() });
    // PROPAGATION_PENDING means suspended: some data-plane lease was still open.
    const out = stopWrite(r);
    if (!out.ok) {
      setErr(fieldErrors(r.error).reason ?? out.error);
      return;
    }
    close();
    onDone(out.pending ? `Suspended ${app.name}. ${out.pending}` : `${app.name} is suspended: the data plane refuses its requests.`);
  }
  return (
    <Dialog open={!!app} title={`Suspend ${app?.name ?? "app"}?`} onClose={close}>
      <form className="stack-form" onSubmit={submit} noValidate>
        <p>Every request with this app's keys is refused with <code>app_suspended</code>, and streams in progress end.</p>
        <TextArea label="Reason" rows={3} value={reason} onChange={(e) => setReason(e.target.value)} error={err} hint="Shown to the app's developer." autoFocus />
        <div className="dialog-actions">
          <Button type="button" variant="ghost" onClick={close}>
            Cancel
          </Button>
          <Button type="submit" variant="danger" busy={state.fetching}>
            Suspend app
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

function UnsuspendDialog({ app, onClose, onDone }: { app: AdminApp | null; onClose: () => void; onDone: (msg: string) => void }) {
  const [err, setErr] = useState<string | null>(null);
  const [state, unsuspend] = useMutation(UnsuspendDoc);
  const close = () => {
    setErr(null);
    onClose();
  };
  async function confirm() {
    if (!app) return;
    const r = await unsuspend({ appId: app.id });
    if (!r.data) {
      setErr(errorMessage(r.error));
      return;
    }
    close();
    onDone(`${app.name} is active again.`);
  }
  return (
    <Dialog open={!!app} title={`Unsuspend ${app?.name ?? "app"}?`} onClose={close}>
      <p>Its keys work again at once.{app?.suspendedReason ? ` It was suspended for: “${app.suspendedReason}”.` : ""}</p>
      {err && <Alert>{err}</Alert>}
      <div className="dialog-actions">
        <Button variant="ghost" onClick={close}>
          Cancel
        </Button>
        <Button onClick={confirm} busy={state.fetching}>
          Unsuspend app
        </Button>
      </div>
    </Dialog>
  );
}

/** percent formats basis points as a percentage: 1250 → "12.5 %". */
function percent(bps: number): string {
  const whole = Math.trunc(bps / 100);
  const frac = String(bps % 100).padStart(2, "0").replace(/0+$/, "");
  return `${whole}${frac ? "." + frac : ""} %`;
}

/** markupInput reads a percentage with at most two decimals ("12.5") as basis points, without floats. */
function markupInput(input: string): number | string {
  const m = /^\s*(\d{1,4})(?:\.(\d{1,2}))?\s*%?\s*$/.exec(input);
  if (!m) return "Enter a percentage like 12.5, with at most two decimals";
  const bps = Number(m[1]) * 100 + Number((m[2] ?? "").padEnd(2, "0"));
  if (bps > 100000) return "At most 1000 %";
  return bps;
}

type CatalogModel = CatalogModelFieldsFragment;

function CatalogCard() {
  const [search, setSearch] = useState("");
  const [res] = useQuery({ query: AdminCatalogDoc, variables: { search } });
  const client = useClient();
  const [editing, setEditing] = useState<{ id: string; what: "price" | "markup" } | null>(null);
  const [toggleState, toggle] = useMutation(SetModelEnabledDoc);
  const [toggleErr, setToggleErr] = useState<string | null>(null);
  const admin = res.data?.admin;
  const models = admin?.catalog.models;
  // reload resolves once the table holds what the server has now: editors
  // close, and buttons settle, only then.
  const reload = async () => {
    await client.query(AdminCatalogDoc, { search }, { requestPolicy: "network-only" }).toPromise();
  };
  async function setEnabled(m: CatalogModel, enabled: boolean) {
    setToggleErr(null);
    const r = await toggle({ modelId: m.id, enabled });
    if (r.error) setToggleErr(errorMessage(r.error));
    else await reload();
  }
  return (
    <>
      <Card title="Model catalog" actions={admin && <GlobalMarkup bps={admin.globalMarkupBps} onSaved={reload} />}>
        <p className="muted small card-intro">
          Users pay the upstream's cost plus the markup, per million tokens. The data plane picks up a change within seconds; requests already admitted keep
          their price.
        </p>
        <form className="inline-form" role="search" onSubmit={(e) => e.preventDefault()}>
          <Field label="Search models" type="search" placeholder="gpt-4o, anthropic/…" value={search} onChange={(e) => setSearch(e.target.value)} />
        </form>
        {toggleErr && <Alert>{toggleErr}</Alert>}
        {res.error && !res.data ? (
          <Alert>{errorMessage(res.error)}</Alert>
        ) : !admin || !models ? (
          <Spinner label="Loading models" />
        ) : (
          <>
            <p className="muted small" data-testid="catalog-count">
              {admin.catalog.total === models.length
                ? `${models.length} ${models.length === 1 ? "model" : "models"}`
                : `First ${models.length} of ${admin.catalog.total} models: search to narrow`}
            </p>
            <div className="table-wrap">
              <table className="data-table prices">
                <caption className="sr-only">Model catalog with prices per million tokens</caption>
                <thead>
                  <tr>
                    <th scope="col">Model</th>
                    <th scope="col">Upstream</th>
                    <th scope="col" className="num">Prompt / M</th>
                    <th scope="col" className="num">Completion / M</th>
                    <th scope="col" className="num">Markup</th>
                    <th scope="col" className="num">Context</th>
                    <th scope="col">
                      <span className="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {models.map((m) =>
                    editing?.id === m.id && editing.what === "price" ? (
                      <PriceEditor key={m.id} model={m} onClose={() => setEditing(null)} onSaved={() => reload().then(() => setEditing(null))} />
                    ) : editing?.id === m.id && editing.what === "markup" ? (
                      <MarkupEditor key={m.id} model={m} globalBps={admin.globalMarkupBps} onClose={() => setEditing(null)} onSaved={() => reload().then(() => setEditing(null))} />
                    ) : (
                      <tr key={m.id} aria-label={m.id}>
                        <td>
                          <code>{m.id}</code> {!m.enabled && <Badge tone="amber">Disabled</Badge>}
                          <div className="muted small">
                            {m.displayName} · {m.kind}
                          </div>
                          {!m.enabled && m.disabledReason && (
                            <div className="muted small" data-testid="disabled-reason">
                              {m.disabledReason}
                            </div>
                          )}
                        </td>
                        <td>{m.upstream}</td>
                        <td className="num">
                          <span data-testid="prompt-price">{formatUSD(m.promptPerMillion)}</span>
                          {m.markupBps > 0 && <div className="muted small" data-testid="upstream-prompt-price">cost {formatUSD(m.upstreamPromptPerMillion)}</div>}
                        </td>
                        <td className="num">
                          <span data-testid="completion-price">{formatUSD(m.completionPerMillion)}</span>
                          {m.markupBps > 0 && <div className="muted small">cost {formatUSD(m.upstreamCompletionPerMillion)}</div>}
                        </td>
                        <td className="num" data-testid="markup">
                          {percent(m.markupBps)}
                          {m.ownMarkupBps == null && <div className="muted small">global</div>}
                        </td>
                        <td className="num">{m.contextLength.toLocaleString("en-US")}</td>
                        <td className="row-actions">
                          <Button variant="secondary" onClick={() => setEditing({ id: m.id, what: "price" })} aria-label={`Edit prices of ${m.id}`}>
                            Edit
                          </Button>
                          <Button variant="secondary" onClick={() => setEditing({ id: m.id, what: "markup" })} aria-label={`Markup of ${m.id}`}>
                            Markup
                          </Button>
                          {m.enabled ? (
                            <Button variant="ghost" busy={toggleState.fetching} onClick={() => setEnabled(m, false)} aria-label={`Disable ${m.id}`}>
                              Disable
                            </Button>
                          ) : (
                            <Button variant="ghost" busy={toggleState.fetching} onClick={() => setEnabled(m, true)} aria-label={`Enable ${m.id}`}>
                              Enable
                            </Button>
                          )}
                        </td>
                      </tr>
                    ),
                  )}
                </tbody>
              </table>
            </div>
          </>
        )}
      </Card>
      {admin && <LastSyncCard sync={admin.lastCatalogSync} />}
    </>
  );
}

function GlobalMarkup({ bps, onSaved }: { bps: number; onSaved: () => Promise<void> }) {
  const [value, setValue] = useState<string | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const [state, save] = useMutation(SetGlobalMarkupDoc);
  const shown = value ?? percent(bps).replace(" %", "");
  async function submit(e: FormEvent) {
    e.preventDefault();
    const v = markupInput(shown);
    if (typeof v === "string") {
      setErr(v);
      return;
    }
    const r = await save({ markupBps: v });
    if (r.error) {
      setErr(fieldErrors(r.error).markupBps ?? errorMessage(r.error));
      return;
    }
    await onSaved();
    setErr(null);
    setValue(null);
  }
  return (
    <form className="inline-form markup-form" onSubmit={submit} noValidate aria-label="Global markup">
      <Field label="Global markup (%)" inputMode="decimal" value={shown} onChange={(e) => setValue(e.target.value)} error={err} />
      <Button type="submit" variant="secondary" busy={state.fetching}>
        Save markup
      </Button>
    </form>
  );
}

function MarkupEditor({ model, globalBps, onClose, onSaved }: { model: CatalogModel; globalBps: number; onClose: () => void; onSaved: () => Promise<void> }) {
  const [value, setValue] = useState(model.ownMarkupBps == null ? "" : percent(model.ownMarkupBps).replace(" %", ""));
  const [err, setErr] = useState<string | null>(null);
  const [state, save] = useMutation(SetModelMarkupDoc);
  const [reloading, setReloading] = useState(false);
  async function submit(e: FormEvent) {
    e.preventDefault();
    let bps: number | null = null;
    if (value.trim() !== "") {
      const v = markupInput(value);
      if (typeof v === "string") {
        setErr(v);
        return;
      }
      bps = v;
    }
    const r = await save({ modelId: model.id, markupBps: bps });
    if (r.error) {
      setErr(fieldErrors(r.error).markupBps ?? errorMessage(r.error));
      return;
    }
    setReloading(true);
    await onSaved();
  }
  return (
    <tr aria-label={model.id} className="editing">
      <td colSpan={7}>
        <form className="inline-form price-form" onSubmit={submit} noValidate aria-label={`Markup of ${model.id}`}>
          <strong className="price-model">
            <code>{model.id}</code>
          </strong>
          <Field
            label="Markup (%)"
            hint={`Empty follows the global markup (${percent(globalBps)}).`}
            inputMode="decimal"
            value={value}
            onChange={(e) => setValue(e.target.value)}
            error={err}
            autoFocus
          />
          <Button type="submit" busy={state.fetching || reloading}>
            Save markup
          </Button>
          <Button type="button" variant="ghost" onClick={onClose}>
            Cancel
          </Button>
        </form>
      </td>
    </tr>
  );
}

type Sync = NonNullable<AdminCatalogQuery["admin"]["lastCatalogSync"]>;

function LastSyncCard({ sync }: { sync: Sync | null | undefined }) {
  return (
    <Card title="Last catalog sync">
      {!sync ? (
        <p className="muted">No sync yet. `wattfare catalog sync` reads OpenRouter's model list; the control plane syncs every hour when OpenRouter is configured.</p>
      ) : (
        <>
          <p data-testid="last-sync">
            {formatDateTime(sync.finishedAt)} from <code>{sync.source}</code>:{" "}
            {sync.error ? (
              <Badge tone="red">Failed, nothing changed</Badge>
            ) : (
              `${sync.listed} listed, ${sync.added} added, ${sync.changed} changed, ${sync.disabled} disabled`
            )}
          </p>
          {sync.error && <Alert>{sync.error}</Alert>}
          {sync.changes.length > 0 && (
            <details className="table-wrap" open={sync.changes.length <= 20}>
              <summary>
                {sync.changes.length} {sync.changes.length === 1 ? "change" : "changes"}
              </summary>
              <table className="data-table">
                <caption className="sr-only">Changes of the last sync</caption>
                <thead>
                  <tr>
                    <th scope="col">Model</th>
                    <th scope="col">Change</th>
                    <th scope="col">Old</th>
                    <th scope="col">New</th>
                  </tr>
                </thead>
                <tbody>
                  {sync.changes.slice(0, 200).map((c, i) => (
                    <tr key={`${c.modelId}-${c.kind}-${c.field}-${i}`}>
                      <td>
                        <code>{c.modelId}</code>
                      </td>
                      <td>
                        {c.kind}
                        {c.field && ` (${c.field})`}
                      </td>
                      <td>{c.old}</td>
                      <td>{c.new}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {sync.changes.length > 200 && <p className="muted small">and {sync.changes.length - 200} more</p>}
            </details>
          )}
        </>
      )}
    </Card>
  );
}

function PriceEditor({ model, onClose, onSaved }: { model: CatalogModel; onClose: () => void; onSaved: () => Promise<void> }) {
  // An admin edits the upstream's cost; users pay it plus the markup.
  const [prompt, setPrompt] = useState(capInput(model.upstreamPromptPerMillion));
  const [completion, setCompletion] = useState(capInput(model.upstreamCompletionPerMillion));
  const [errs, setErrs] = useState<Record<string, string>>({});
  const [state, update] = useMutation(UpdatePriceDoc);
  const [reloading, setReloading] = useState(false);
  async function save(e: FormEvent) {
    e.preventDefault();
    const local: Record<string, string> = {};
    const pe = validPrice(prompt);
    const ce = validPrice(completion);
    if (pe) local.promptPerMillion = pe;
    if (ce) local.completionPerMillion = ce;
    if (pe || ce) {
      setErrs(local);
      return;
    }
    const r = await update({ input: { modelId: model.id, promptPerMillion: moneyInput(prompt), completionPerMillion: moneyInput(completion) } });
    if (r.error || !r.data) {
      setErrs(fieldErrors(r.error));
      return;
    }
    // Close the editor only once the table holds the new prices.
    setReloading(true);
    await onSaved();
  }
  return (
    <tr aria-label={model.id} className="editing">
      <td colSpan={7}>
        <form className="inline-form price-form" onSubmit={save} noValidate aria-label={`Prices of ${model.id}`}>
          <strong className="price-model">
            <code>{model.id}</code>
          </strong>
          <Field label="Prompt per million tokens" prefix="$" inputMode="decimal" value={prompt} onChange={(e) => setPrompt(e.target.value)} error={errs.promptPerMillion} autoFocus />
          <Field label="Completion per million tokens" prefix="$" inputMode="decimal" value={completion} onChange={(e) => setCompletion(e.target.value)} error={errs.completionPerMillion} />
          <Button type="submit" busy={state.fetching || reloading}>
            Save prices
          </Button>
          <Button type="button" variant="ghost" onClick={onClose}>
            Cancel
          </Button>
          {errs[""] && <Alert>{errs[""]}</Alert>}
        </form>
      </td>
    </tr>
  );
}

function AccountsCard() {
  const pager = usePager();
  const [res] = useQuery({ query: AdminAccountsDoc, variables: { after: pager.after } });
  const page = res.data?.admin.accounts;
  return (
    <Card title="Accounts">
      {res.error && !res.data ? (
        <Alert>{errorMessage(res.error)}</Alert>
      ) : !page ? (
        <Spinner label="Loading accounts" />
      ) : (
        <div className="table-wrap">
          <table className="data-table">
            <caption className="sr-only">All accounts</caption>
            <thead>
              <tr>
                <th scope="col">Email</th>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {page.edges.map(({ node: a }) => (
                <tr key={a.id}>
                  <td>{a.email}</td>
                  <td>{a.displayName}</td>
                  <td>{a.isAdmin ? <Badge tone="blue">Admin</Badge> : <span className="muted">Member</span>}</td>
                  <td>{formatDate(a.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager label="Accounts pages" pager={pager} pageInfo={page?.pageInfo} />
    </Card>
  );
}
