import { useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { graphql } from "../gql";
import type { ApiKeyFieldsFragment, DashboardAppQuery, Mode } from "../gql/graphql";
import { Alert, AppAvatar, Badge, Button, Card, CopyBox, Dialog, Field, Pager, Select, Spinner, TextArea, usePager } from "../components/ui";
import { RangeSelect, UsageSummary, UsageTable, useUsageRange } from "../components/usage";
import { toSignIn, useMe } from "../components/auth";
import { ModeSwitch, modeOf, modeText } from "../components/mode";
import { errorMessage, fieldErrors, stopWrite } from "../lib/client";
import { Link, navigate, useLocation } from "../lib/router";
import { formatDate, formatDateTime, formatUSD } from "../lib/money";
import { WebhooksCard } from "./Webhooks";

graphql(`
  fragment ApiKeyFields on ApiKey {
    id
    mode
    hint
    createdAt
    expiresAt
    revokedAt
    active
  }
`);

const AppsDoc = graphql(`
  query DashboardApps($after: String) {
    me {
      account {
        id
      }
      apps(first: 20, after: $after) {
        edges {
          node {
            id
            name
            allowedOrigins
            suspended
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

const CreateAppDoc = graphql(`
  mutation CreateApp($input: CreateAppInput!) {
    createApp(input: $input) {
      id
      name
      allowedOrigins
    }
  }
`);

const AppDoc = graphql(`
  query DashboardApp($id: ID!, $mode: Mode!, $from: Time!, $to: Time!) {
    app(id: $id) {
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
      publishableKeys {
        mode
        key
      }
      keys(mode: $mode) {
        ...ApiKeyFields
      }
      usageByDay(mode: $mode, from: $from, to: $to) {
        ...UsageDayFields
      }
      usageByModel(mode: $mode, from: $from, to: $to) {
        ...ModelUsageFields
      }
      usageByUser(mode: $mode, from: $from, to: $to, first: 20) {
        connectionId
        appUserId
        requests
        promptTokens
        completionTokens
        cost
      }
    }
  }
`);

const AppConnectionsDoc = graphql(`
  query AppConnections($id: ID!, $mode: Mode!, $after: String) {
    app(id: $id) {
      id
      connections(mode: $mode, first: 10, after: $after) {
        edges {
          node {
            id
            appUserId
            status
            monthlyCap
            spentThisPeriod
            createdAt
            revokedAt
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

const UpdateAppDoc = graphql(`
  mutation UpdateApp($input: UpdateAppInput!) {
    updateApp(input: $input) {
      id
      name
      allowedOrigins
    }
  }
`);

const CreateKeyDoc = graphql(`
  mutation CreateKey($appId: ID!, $mode: Mode!) {
    createKey(appId: $appId, mode: $mode) {
      secret
      key {
        ...ApiKeyFields
      }
    }
  }
`);

const RollKeyDoc = graphql(`
  mutation RollKey($keyId: ID!, $overlapSeconds: Int!) {
    rollKey(keyId: $keyId, overlapSeconds: $overlapSeconds) {
      secret
      key {
        ...ApiKeyFields
      }
    }
  }
`);

const RevokeKeyDoc = graphql(`
  mutation RevokeKey($keyId: ID!) {
    revokeKey(keyId: $keyId) {
      id
      active
      revokedAt
    }
  }
`);

type App = NonNullable<DashboardAppQuery["app"]>;
type Key = ApiKeyFieldsFragment;

/** DashboardPage is the developer dashboard: the app list, and one page per app. */
export function DashboardPage() {
  const { path } = useLocation();
  const { account, loading } = useMe();
  if (loading) return <Spinner />;
  if (!account) {
    toSignIn();
    return null;
  }
  const m = path.match(/^\/dashboard\/apps\/([^/]+)\/?$/);
  if (m) return <AppPage key={m[1]} id={decodeURIComponent(m[1])} />;
  return <AppList />;
}

function originsOf(text: string): string[] {
  return text
    .split(/[\n,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

const originHint = "One exact origin per line, such as https://app.example.com (http only for localhost). No paths or wildcards.";

function AppList() {
  const pager = usePager();
  const [res] = useQuery({ query: AppsDoc, variables: { after: pager.after } });
  const apps = res.data?.me?.apps;
  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h1>Developer dashboard</h1>
          <p className="muted">Your apps, their keys and allowed origins, and what your users spend through them.</p>
        </div>
      </div>
      <Card title="Your apps">
        {res.error && !res.data ? (
          <Alert>{errorMessage(res.error)}</Alert>
        ) : !apps ? (
          <Spinner label="Loading your apps" />
        ) : apps.edges.length === 0 ? (
          <p className="empty">No apps yet. Create one below to get keys.</p>
        ) : (
          <ul className="app-list" aria-label="Your apps">
            {apps.edges.map(({ node: a }) => (
              <li key={a.id}>
                <AppAvatar name={a.name} small />
                <div className="app-list-name">
                  <Link to={`/dashboard/apps/${encodeURIComponent(a.id)}`}>{a.name}</Link>
                  {a.suspended && <> <Badge tone="red">Suspended</Badge></>}
                  <div className="muted small">{a.allowedOrigins.length ? a.allowedOrigins.join(", ") : "No allowed origins"}</div>
                </div>
                <span className="muted small">Created {formatDate(a.createdAt)}</span>
              </li>
            ))}
          </ul>
        )}
        <Pager label="Apps pages" pager={pager} pageInfo={apps?.pageInfo} />
      </Card>
      <CreateAppCard />
    </div>
  );
}

function CreateAppCard() {
  const [name, setName] = useState("");
  const [origins, setOrigins] = useState("");
  const [errs, setErrs] = useState<Record<string, string>>({});
  const [state, create] = useMutation(CreateAppDoc);
  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!name.trim()) {
      setErrs({ name: "Give the app a name your users will recognize." });
      return;
    }
    const r = await create({ input: { name: name.trim(), allowedOrigins: originsOf(origins) } });
    if (r.error || !r.data) {
      setErrs(fieldErrors(r.error));
      return;
    }
    navigate(`/dashboard/apps/${encodeURIComponent(r.data.createApp.id)}`);
  }
  return (
    <Card title="Create an app">
      <form className="stack-form" onSubmit={submit} noValidate aria-label="Create an app">
        {errs[""] && <Alert>{errs[""]}</Alert>}
        <Field label="App name" value={name} onChange={(e) => setName(e.target.value)} error={errs.name} hint="Shown to users in the consent popup." />
        <TextArea label="Allowed origins" rows={3} value={origins} onChange={(e) => setOrigins(e.target.value)} error={errs.allowedOrigins} hint={originHint} />
        <div>
          <Button type="submit" busy={state.fetching}>
            Create app
          </Button>
        </div>
      </form>
    </Card>
  );
}

function AppPage({ id }: { id: string }) {
  const { query } = useLocation();
  const { account } = useMe();
  const mode = modeOf(query, "TEST");
  const { range, bounds } = useUsageRange();
  const [res, refetch] = useQuery({ query: AppDoc, variables: { id, mode, ...bounds } });
  const reload = () => refetch({ requestPolicy: "network-only" });

  if (res.fetching && !res.data) return <Spinner label="Loading the app" />;
  const app = res.data?.app;
  if (!app) {
    return (
      <div className="page">
        <Link to="/dashboard">← All apps</Link>
        <Alert title="This app could not be loaded">{errorMessage(res.error) ?? "It does not exist or is not yours."}</Alert>
      </div>
    );
  }
  const pk = app.publishableKeys.find((k) => k.mode === mode)?.key ?? "";
  // An admin may look at any app; only its owner changes keys and settings.
  const owner = app.owner.id === account?.id;
  const modeName = modeText(mode);
  return (
    <div className="page">
      <div>
        <Link to="/dashboard">← All apps</Link>
      </div>
      <div className="page-head">
        <div>
          <h1>
            {app.name} {app.suspended && <Badge tone="red">Suspended</Badge>}
          </h1>
          <p className="muted">Created {formatDate(app.createdAt)} · showing {modeName} mode</p>
        </div>
        <ModeSwitch mode={mode} fallback="TEST" />
      </div>
      {app.suspended && (
        <Alert title="Wattfare suspended this app">
          Every request with its keys is refused with <code>app_suspended</code>
          {app.suspendedReason ? <> — reason: “{app.suspendedReason}”</> : null}. Contact support to have it reinstated.
        </Alert>
      )}
      {!owner && <Alert kind="info" title="Read-only">You are viewing an app of {app.owner.email} as a platform admin. Only its owner can change its keys and settings.</Alert>}
      <IntegrateCard mode={mode} publishableKey={pk} />
      <ModelsCard mode={mode} />
      <KeysCard key={mode} app={app} mode={mode} publishableKey={pk} onChange={reload} readOnly={!owner} />
      <Card title="Usage" actions={<RangeSelect value={range} />}>
        <UsageSummary days={app.usageByDay} label={`${app.name}: cost per day, ${modeName} mode`} />
        <div className="usage-tables">
          <UsageTable
            caption="By model"
            head="Model"
            rows={app.usageByModel}
            rowKey={(r) => r.modelId}
            cell={(r) => <code title={r.model?.displayName}>{r.modelId}</code>}
            empty="No model was used in this range."
          />
          <UsageTable
            caption="By user"
            head="User (your id)"
            rows={app.usageByUser}
            rowKey={(r) => r.connectionId}
            cell={(r) => <code>{r.appUserId}</code>}
            empty="No user made requests in this range."
          />
        </div>
      </Card>
      <ConnectionsCard key={`connections-${mode}`} appId={app.id} mode={mode} />
      <WebhooksCard key={`webhooks-${mode}`} appId={app.id} mode={mode} readOnly={!owner} />
      {owner && <SettingsCard app={app} />}
    </div>
  );
}

/**
 * dataPlaneURL is where app backends send model requests. The API does not
 * say yet, so a page the server annotates with <meta name="wattfare-data-url">
 * wins, else the default address of `wattfare dev`.
 */
function dataPlaneURL(): { url: string; guessed: boolean } {
  const meta = document.querySelector<HTMLMetaElement>('meta[name="wattfare-data-url"]')?.content;
  if (meta) return { url: meta.replace(/\/$/, "") + "/v1", guessed: false };
  return { url: `${window.location.protocol}//${window.location.hostname}:8787/v1`, guessed: true };
}

function IntegrateCard({ mode, publishableKey }: { mode: Mode; publishableKey: string }) {
  const { url: base, guessed } = dataPlaneURL();
  const prefix = secretPrefix(mode);
  const snippet = `import OpenAI from "openai";

// On your backend. Keep the secret key out of the browser.
const wattfare = new OpenAI({
  baseURL: "${base}",
  apiKey: process.env.WATTFARE_SECRET_KEY, // ${prefix}…
});

const reply = await wattfare.chat.completions.create(
  { model: "${mode === "TEST" ? "sandbox/echo" : "openai/gpt-4o-mini"}", messages: [{ role: "user", content: "Hello" }] },
  // Your own id for the signed-in user: their Wattfare budget pays.
  { headers: { "Wattfare-User": user.id } },
);`;
  return (
    <Card title="Integrate in 5 minutes">
      <ol className="steps">
        <li>
          Add a <strong>Connect AI budget</strong> button with your publishable key <code>{publishableKey}</code> and the connect script
          (<code>{window.location.origin}/v1/connect.js</code>). Your users approve a monthly cap once.
        </li>
        <li>
          Call any model from your backend through the OpenAI-compatible data plane with a secret key and the <code>Wattfare-User</code> header.
          Errors such as <code>not_connected</code> or <code>cap_reached</code> come back typed, in OpenAI's error format.
        </li>
      </ol>
      <CopyBox label="Data-plane URL" value={base} />
      {guessed && <p className="field-hint">The data plane's default address under <code>wattfare dev</code>; a deployment may serve it elsewhere.</p>}
      <pre className="code" aria-label="Example request with the OpenAI client">
        <code>{snippet}</code>
      </pre>
      {mode === "TEST" && <p className="muted small">Test mode uses the free sandbox models and auto-approves consent, so you can try every path without spending.</p>}
    </Card>
  );
}

const DashboardModelsDoc = graphql(`
  query DashboardModels {
    models {
      id
      displayName
      kind
      upstream
      enabled
      promptPerMillion
      completionPerMillion
      markupBps
      contextLength
      maxOutputTokens
    }
  }
`);

/** ModelsCard lists the catalog's models an app can call, with what its users pay per million tokens and each model's context window. */
function ModelsCard({ mode }: { mode: Mode }) {
  const [res] = useQuery({ query: DashboardModelsDoc });
  const [search, setSearch] = useState("");
  const q = search.trim().toLowerCase();
  const all = (res.data?.models ?? []).filter((m) => m.enabled);
  const found = all.filter((m) => !q || m.id.toLowerCase().includes(q) || m.displayName.toLowerCase().includes(q));
  const shown = found.slice(0, 25);
  return (
    <Card title="Models">
      <p className="muted small card-intro">
        What your users pay per million tokens, charged to their budget{mode === "TEST" ? " in test money: test keys get the sandbox's simulation of each model" : ""}. Send the id as{" "}
        <code>model</code>.
      </p>
      <form className="inline-form" role="search" onSubmit={(e) => e.preventDefault()}>
        <Field label="Search models" type="search" placeholder="gpt-4o, claude, llama…" value={search} onChange={(e) => setSearch(e.target.value)} />
      </form>
      {res.error && !res.data ? (
        <Alert>{errorMessage(res.error)}</Alert>
      ) : !res.data ? (
        <Spinner label="Loading models" />
      ) : (
        <>
          <p className="muted small" data-testid="models-count">
            {found.length === shown.length ? `${found.length} of ${all.length} models` : `First ${shown.length} of ${found.length} matching, ${all.length} models in all`}
          </p>
          <div className="table-wrap">
            <table className="data-table prices">
              <caption className="sr-only">Models with prices per million tokens and context length</caption>
              <thead>
                <tr>
                  <th scope="col">Model</th>
                  <th scope="col" className="num">Prompt / M</th>
                  <th scope="col" className="num">Completion / M</th>
                  <th scope="col" className="num">Context</th>
                  <th scope="col" className="num">Max output</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((m) => (
                  <tr key={m.id} aria-label={m.id}>
                    <td>
                      <code>{m.id}</code>
                      <div className="muted small">
                        {m.displayName} · {m.kind}
                        {m.markupBps > 0 && ` · prices include a ${m.markupBps / 100} % markup over the upstream's cost`}
                      </div>
                    </td>
                    <td className="num">{formatUSD(m.promptPerMillion)}</td>
                    <td className="num">{formatUSD(m.completionPerMillion)}</td>
                    <td className="num">{m.contextLength.toLocaleString("en-US")}</td>
                    <td className="num">{m.maxOutputTokens.toLocaleString("en-US")}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </Card>
  );
}

const overlapChoices = [
  { value: "0", label: "No overlap: the old key stops now" },
  { value: "3600", label: "1 hour" },
  { value: "86400", label: "24 hours" },
  { value: "604800", label: "7 days" },
];

/** secretPrefix is how a secret key of mode begins ("sk_test_"). */
function secretPrefix(mode: Mode) {
  return `sk_${modeText(mode)}_`;
}

function keyLabel(k: Key) {
  return `${secretPrefix(k.mode)}…${k.hint}`;
}

function keyStatus(k: Key) {
  if (k.revokedAt) return <Badge tone="red">Revoked {formatDate(k.revokedAt)}</Badge>;
  if (!k.active) return <Badge tone="neutral">Expired {formatDate(k.expiresAt)}</Badge>;
  if (k.expiresAt) return <Badge tone="amber">Rolled: works until {formatDateTime(k.expiresAt)}</Badge>;
  return <Badge tone="green">Active</Badge>;
}

function KeysCard({ app, mode, publishableKey, onChange, readOnly }: { app: App; mode: Mode; publishableKey: string; onChange: () => void; readOnly: boolean }) {
  const [created, setCreated] = useState<{ secret: string; label: string; rolled: boolean } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const [rolling, setRolling] = useState<Key | null>(null);
  const [revoking, setRevoking] = useState<Key | null>(null);
  const [overlap, setOverlap] = useState("86400");
  const [createState, createKey] = useMutation(CreateKeyDoc);
  const [rollState, rollKey] = useMutation(RollKeyDoc);
  const [revokeState, revokeKey] = useMutation(RevokeKeyDoc);
  const modeName = modeText(mode);


  async function onCreate() {
    setErr(null);
    setNotice(null);
    const r = await createKey({ appId: app.id, mode });
    if (!r.data) {
      setErr(errorMessage(r.error));
      return;
    }
    setCreated({ secret: r.data.createKey.secret, label: keyLabel(r.data.createKey.key), rolled: false });
    onChange();
  }
  async function onRoll() {
    if (!rolling) return;
    setErr(null);
    const r = await rollKey({ keyId: rolling.id, overlapSeconds: Number(overlap) });
    const old = keyLabel(rolling);
    setRolling(null);
    // With no overlap a roll stops the old key: PROPAGATION_PENDING still means rolled.
    const out = stopWrite(r);
    if (!out.ok || !r.data) {
      setErr(out.error ?? errorMessage(r.error));
      return;
    }
    setCreated({ secret: r.data.rollKey.secret, label: keyLabel(r.data.rollKey.key), rolled: true });
    setNotice(
      overlap === "0"
        ? [`${old} stopped working.`, out.pending].filter(Boolean).join(" ")
        : `${old} keeps working for ${overlapChoices.find((o) => o.value === overlap)?.label}.`,
    );
    onChange();
  }
  async function onRevoke() {
    if (!revoking) return;
    setErr(null);
    const r = await revokeKey({ keyId: revoking.id });
    const old = keyLabel(revoking);
    setRevoking(null);
    // PROPAGATION_PENDING means revoked: some data-plane lease was still open.
    const out = stopWrite(r);
    if (!out.ok) {
      setErr(out.error);
      return;
    }
    setNotice(out.pending ? `Revoked ${old}. ${out.pending}` : `${old} is revoked. Requests with it are refused.`);
    onChange();
  }

  return (
    <Card
      title={`API keys · ${modeName} mode`}
      actions={
        !readOnly && (
          <Button onClick={onCreate} busy={createState.fetching} disabled={app.suspended}>
            Create {modeName} secret key
          </Button>
        )
      }
    >
      <div className="key-grid">
        <CopyBox label={`Publishable key (${modeName})`} value={publishableKey} />
        <p className="field-hint">Safe in a browser: it only names your app and mode for the Connect button.</p>
      </div>
      {err && <Alert>{err}</Alert>}
      {created && (
        <div className="secret-reveal" role="region" aria-label="New secret key">
          <Alert kind="success" title={created.rolled ? "Key rolled: here is the replacement" : "Secret key created"}>
            <strong>Copy it now: you won't see this secret again.</strong> Wattfare keeps only a hash, so it cannot show it to you later.
          </Alert>
          <CopyBox label={`Secret key ${created.label}`} value={created.secret} secret />
          <div>
            <Button variant="secondary" onClick={() => setCreated(null)}>
              I have copied it
            </Button>
          </div>
        </div>
      )}
      {notice && <Alert kind="success">{notice}</Alert>}
      <h3 className="sub-title">Secret keys</h3>
      {app.keys.length === 0 ? (
        <p className="empty">No {modeName} secret keys yet.</p>
      ) : (
        <div className="table-wrap">
          <table className="data-table keys">
            <caption className="sr-only">Secret keys, {modeName} mode</caption>
            <thead>
              <tr>
                <th scope="col">Key</th>
                <th scope="col">Created</th>
                <th scope="col">Status</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {app.keys.map((k) => (
                <tr key={k.id} data-testid="key-row">
                  <td>
                    <code>{keyLabel(k)}</code>
                  </td>
                  <td>{formatDate(k.createdAt)}</td>
                  <td>{keyStatus(k)}</td>
                  <td className="row-actions">
                    {!readOnly && !k.revokedAt && k.active && (
                      <>
                        {!k.expiresAt && (
                          <Button variant="secondary" onClick={() => { setOverlap("86400"); setRolling(k); }} aria-label={`Roll ${keyLabel(k)}`}>
                            Roll
                          </Button>
                        )}
                        <Button variant="danger" onClick={() => setRevoking(k)} aria-label={`Revoke ${keyLabel(k)}`}>
                          Revoke
                        </Button>
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Dialog open={!!rolling} title={`Roll ${rolling ? keyLabel(rolling) : "key"}?`} onClose={() => setRolling(null)}>
        <p>Wattfare makes a new secret key. Deploy it, then let the old one expire.</p>
        <Select label="Keep the old key working for" value={overlap} onChange={(e) => setOverlap(e.target.value)}>
          {overlapChoices.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </Select>
        <div className="dialog-actions">
          <Button variant="ghost" onClick={() => setRolling(null)}>
            Cancel
          </Button>
          <Button onClick={onRoll} busy={rollState.fetching}>
            Roll key
          </Button>
        </div>
      </Dialog>
      <Dialog open={!!revoking} title={`Revoke ${revoking ? keyLabel(revoking) : "key"}?`} onClose={() => setRevoking(null)}>
        <p>Requests with this key are refused at once, including streams in progress. This cannot be undone.</p>
        <div className="dialog-actions">
          <Button variant="ghost" onClick={() => setRevoking(null)}>
            Cancel
          </Button>
          <Button variant="danger" onClick={onRevoke} busy={revokeState.fetching}>
            Revoke key
          </Button>
        </div>
      </Dialog>
    </Card>
  );
}

function ConnectionsCard({ appId, mode }: { appId: string; mode: Mode }) {
  const pager = usePager();
  const [res] = useQuery({ query: AppConnectionsDoc, variables: { id: appId, mode, after: pager.after } });
  const page = res.data?.app?.connections;
  return (
    <Card title="Connected users">
      {res.error && !res.data ? (
        <Alert>{errorMessage(res.error)}</Alert>
      ) : !page ? (
        <Spinner label="Loading connections" />
      ) : page.edges.length === 0 ? (
        <p className="empty">No user has connected their budget in {modeText(mode)} mode yet.</p>
      ) : (
        <div className="table-wrap">
          <table className="data-table">
            <caption className="sr-only">Users who connected this app</caption>
            <thead>
              <tr>
                <th scope="col">User (your id)</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">Monthly cap</th>
                <th scope="col" className="num">Used this period</th>
                <th scope="col">Connected</th>
              </tr>
            </thead>
            <tbody>
              {page.edges.map(({ node: c }) => (
                <tr key={c.id}>
                  <td>
                    <code>{c.appUserId}</code>
                  </td>
                  <td>{c.status === "ACTIVE" ? <Badge tone="green">Active</Badge> : <Badge tone="red">Revoked {formatDate(c.revokedAt)}</Badge>}</td>
                  <td className="num">{formatUSD(c.monthlyCap)}</td>
                  <td className="num">{formatUSD(c.spentThisPeriod)}</td>
                  <td>{formatDate(c.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager label="Connected users pages" pager={pager} pageInfo={page?.pageInfo} />
    </Card>
  );
}

function SettingsCard({ app }: { app: App }) {
  const [name, setName] = useState(app.name);
  const [origins, setOrigins] = useState(app.allowedOrigins.join("\n"));
  const [errs, setErrs] = useState<Record<string, string>>({});
  const [saved, setSaved] = useState(false);
  const [state, update] = useMutation(UpdateAppDoc);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setSaved(false);
    if (!name.trim()) {
      setErrs({ name: "Give the app a name your users will recognize." });
      return;
    }
    const r = await update({ input: { id: app.id, name: name.trim(), allowedOrigins: originsOf(origins) } });
    if (r.error || !r.data) {
      setErrs(fieldErrors(r.error));
      return;
    }
    setErrs({});
    setOrigins(r.data.updateApp.allowedOrigins.join("\n"));
    setSaved(true);
  }
  return (
    <Card title="Settings">
      <form className="stack-form" onSubmit={submit} noValidate aria-label="App settings">
        {errs[""] && <Alert>{errs[""]}</Alert>}
        <Field label="App name" value={name} onChange={(e) => { setName(e.target.value); setSaved(false); }} error={errs.name} />
        <TextArea
          label="Allowed origins"
          rows={Math.max(3, origins.split("\n").length + 1)}
          value={origins}
          onChange={(e) => { setOrigins(e.target.value); setSaved(false); }}
          error={errs.allowedOrigins}
          hint={`${originHint} The consent popup answers only these origins.`}
        />
        <div className="form-actions">
          <Button type="submit" busy={state.fetching}>
            Save settings
          </Button>
          {saved && (
            <span className="saved" role="status">
              Saved
            </span>
          )}
        </div>
      </form>
    </Card>
  );
}
