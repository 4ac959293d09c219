// The developer dashboard's webhook endpoints for one app and mode: add an
// endpoint (its signing secret shown once), change its URL and events,
// enable or disable it (Wattfare's own disabling after failed deliveries is
// shown with its reason), roll the secret, send a test event, and read the
// delivery log with a resend for each delivery.
import { useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { graphql } from "../gql";
import type { Mode, WebhookEndpointsQuery } from "../gql/graphql";
import { Alert, Badge, Button, Card, CopyBox, Dialog, Field, Spinner } from "../components/ui";
import { modeText } from "../components/mode";
import { errorMessage, fieldErrors } from "../lib/client";
import { formatDateTime } from "../lib/money";

const WebhookEndpointsDoc = graphql(`
  query WebhookEndpoints($id: ID!) {
    webhookEventTypes
    app(id: $id) {
      id
      webhookEndpoints {
        id
        mode
        url
        events
        enabled
        disabledReason
        disabledAt
        previousSecretExpiresAt
        createdAt
        deliveries(first: 10) {
          id
          eventId
          eventType
          status
          attempts
          responseCode
          error
          createdAt
          lastAttemptAt
          nextAttemptAt
        }
      }
    }
  }
`);

const CreateWebhookEndpointDoc = graphql(`
  mutation CreateWebhookEndpoint($input: CreateWebhookEndpointInput!) {
    createWebhookEndpoint(input: $input) {
      endpoint {
        id
        url
      }
      secret
    }
  }
`);

const UpdateWebhookEndpointDoc = graphql(`
  mutation UpdateWebhookEndpoint($input: UpdateWebhookEndpointInput!) {
    updateWebhookEndpoint(input: $input) {
      id
      enabled
    }
  }
`);

const RollWebhookSecretDoc = graphql(`
  mutation RollWebhookSecret($id: ID!) {
    rollWebhookSecret(endpointId: $id) {
      endpoint {
        id
        url
      }
      secret
    }
  }
`);

const DeleteWebhookEndpointDoc = graphql(`
  mutation DeleteWebhookEndpoint($id: ID!) {
    deleteWebhookEndpoint(endpointId: $id)
  }
`);

const SendTestWebhookDoc = graphql(`
  mutation SendTestWebhook($id: ID!) {
    sendTestWebhookEvent(endpointId: $id) {
      id
    }
  }
`);

const ResendWebhookDoc = graphql(`
  mutation ResendWebhook($id: ID!) {
    resendWebhookDelivery(deliveryId: $id) {
      id
    }
  }
`);

type Endpoint = NonNullable<WebhookEndpointsQuery["app"]>["webhookEndpoints"][number];

const statusTone = { SUCCEEDED: "green", PENDING: "blue", RETRYING: "amber", FAILED: "red", SKIPPED: "neutral" } as const;

export function WebhooksCard({ appId, mode, readOnly }: { appId: string; mode: Mode; readOnly: boolean }) {
  const [res, refetch] = useQuery({ query: WebhookEndpointsDoc, variables: { id: appId } });
  const reload = () => refetch({ requestPolicy: "network-only" });
  const [secret, setSecret] = useState<{ url: string; secret: string; rolled: boolean } | null>(null);
  const [adding, setAdding] = useState(false);
  const [err, setErr] = useState<string | null>(null);
  const modeName = modeText(mode);

  if (res.fetching && !res.data) return <Spinner label="Loading webhook endpoints" />;
  const types = res.data?.webhookEventTypes ?? [];
  const endpoints = (res.data?.app?.webhookEndpoints ?? []).filter((e) => e.mode === mode);
  return (
    <Card
      title={`Webhooks · ${modeName} mode`}
      actions={!readOnly && !adding && <Button onClick={() => setAdding(true)}>Add endpoint</Button>}
    >
      <p className="field-hint">
        Wattfare POSTs signed events to your endpoints: verify them with <code>wf.webhooks.verify(rawBody, header)</code> from{" "}
        <code>wattfare/server</code>.
      </p>
      {err && <Alert>{err}</Alert>}
      {secret && (
        <div className="secret-reveal" role="region" aria-label="Webhook signing secret">
          <Alert kind="success" title={secret.rolled ? "Secret rolled: the old one keeps signing for 24 hours" : "Endpoint added"}>
            <strong>Copy the signing secret now: you won't see it again.</strong>
          </Alert>
          <CopyBox label={`Signing secret for ${secret.url}`} value={secret.secret} secret />
          <div>
            <Button variant="secondary" onClick={() => setSecret(null)}>
              I have copied it
            </Button>
          </div>
        </div>
      )}
      {adding && (
        <EndpointForm
          appId={appId}
          mode={mode}
          types={types}
          onDone={(created) => {
            setAdding(false);
            if (created) setSecret({ ...created, rolled: false });
            reload();
          }}
        />
      )}
      {endpoints.length === 0 ? (
        <p className="empty">No {modeName} webhook endpoints yet.</p>
      ) : (
        endpoints.map((e) => (
          <EndpointRow key={e.id} endpoint={e} types={types} readOnly={readOnly} onChange={reload} onSecret={(s) => setSecret({ ...s, rolled: true })} onError={setErr} />
        ))
      )}
    </Card>
  );
}

function EndpointForm({ appId, mode, types, onDone }: { appId: string; mode: Mode; types: string[]; onDone: (created?: { url: string; secret: string }) => void }) {
  const [url, setURL] = useState("");
  // Every type until the developer picks (the types may arrive after the form).
  const [picked, setEvents] = useState<string[] | null>(null);
  const events = picked ?? types;
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [err, setErr] = useState<string | null>(null);
  const [state, create] = useMutation(CreateWebhookEndpointDoc);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setErr(null);
    const r = await create({ input: { appId, mode, url: url.trim(), events } });
    if (!r.data) {
      setErrors(fieldErrors(r.error));
      setErr(errorMessage(r.error));
      return;
    }
    onDone({ url: r.data.createWebhookEndpoint.endpoint.url, secret: r.data.createWebhookEndpoint.secret });
  }
  return (
    <form className="stack-form" onSubmit={submit} aria-label="Add webhook endpoint">
      <Field
        label="Endpoint URL"
        placeholder={mode === "TEST" ? "http://localhost:3000/webhooks/wattfare" : "https://example.com/webhooks/wattfare"}
        value={url}
        onChange={(e) => setURL(e.target.value)}
        error={errors.url}
        hint={mode === "TEST" ? "https, or http to localhost in test mode." : "https to a public address."}
        required
      />
      <EventPicker types={types} value={events} onChange={setEvents} error={errors.events} />
      {err && !errors.url && !errors.events && <Alert>{err}</Alert>}
      <div className="dialog-actions">
        <Button variant="ghost" type="button" onClick={() => onDone()}>
          Cancel
        </Button>
        <Button type="submit" busy={state.fetching} disabled={events.length === 0}>
          Add endpoint
        </Button>
      </div>
    </form>
  );
}

function EventPicker({ types, value, onChange, error }: { types: string[]; value: string[]; onChange: (v: string[]) => void; error?: string }) {
  return (
    <fieldset className="checkbox-group">
      <legend>Events</legend>
      {types.map((t) => (
        <label key={t} className="checkbox">
          <input
            type="checkbox"
            checked={value.includes(t)}
            onChange={(e) => onChange(e.target.checked ? [...value, t] : value.filter((x) => x !== t))}
          />{" "}
          <code>{t}</code>
        </label>
      ))}
      {error && <p className="field-error">{error}</p>}
    </fieldset>
  );
}

function EndpointRow({
  endpoint: e,
  types,
  readOnly,
  onChange,
  onSecret,
  onError,
}: {
  endpoint: Endpoint;
  types: string[];
  readOnly: boolean;
  onChange: () => void;
  onSecret: (s: { url: string; secret: string }) => void;
  onError: (e: string | null) => void;
}) {
  const [editing, setEditing] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [url, setURL] = useState(e.url);
  const [events, setEvents] = useState<string[]>(e.events);
  const [notice, setNotice] = useState<string | null>(null);
  const [, update] = useMutation(UpdateWebhookEndpointDoc);
  const [rollState, roll] = useMutation(RollWebhookSecretDoc);
  const [, remove] = useMutation(DeleteWebhookEndpointDoc);
  const [testState, sendTest] = useMutation(SendTestWebhookDoc);
  const [, resend] = useMutation(ResendWebhookDoc);

  async function run<T extends { error?: unknown; data?: unknown }>(p: Promise<T>, done: string) {
    onError(null);
    const r = await p;
    if (!r.data) {
      onError(errorMessage(r.error as never));
      return null;
    }
    setNotice(done);
    onChange();
    return r;
  }
  return (
    <section className="webhook-endpoint" aria-label={`Endpoint ${e.url}`} data-testid="webhook-endpoint">
      <h3 className="sub-title">
        <code>{e.url}</code>{" "}
        {e.enabled ? <Badge tone="green">Enabled</Badge> : <Badge tone={e.disabledReason ? "red" : "neutral"}>Disabled</Badge>}
      </h3>
      {!e.enabled && e.disabledReason && (
        <Alert title="Wattfare disabled this endpoint">
          {e.disabledReason} Fix the endpoint, enable it, then resend what it missed.
        </Alert>
      )}
      <p className="muted">
        {e.events.join(", ")}
        {e.previousSecretExpiresAt && <> · the previous secret signs too until {formatDateTime(e.previousSecretExpiresAt)}</>}
      </p>
      {notice && <Alert kind="success">{notice}</Alert>}
      {!readOnly && (
        <div className="row-actions">
          <Button variant="secondary" onClick={() => run(sendTest({ id: e.id }), "A webhook.test event is on its way.")} busy={testState.fetching} disabled={!e.enabled}>
            Send test event
          </Button>
          <Button
            variant="secondary"
            onClick={() => run(update({ input: { id: e.id, enabled: !e.enabled } }), e.enabled ? "Endpoint disabled." : "Endpoint enabled.")}
          >
            {e.enabled ? "Disable" : "Enable"}
          </Button>
          <Button variant="secondary" onClick={() => setEditing(!editing)}>
            Edit
          </Button>
          <Button
            variant="secondary"
            busy={rollState.fetching}
            onClick={async () => {
              const r = await run(roll({ id: e.id }), "Secret rolled.");
              if (r?.data) onSecret({ url: e.url, secret: r.data.rollWebhookSecret.secret });
            }}
          >
            Roll secret
          </Button>
          <Button variant="danger" onClick={() => setDeleting(true)}>
            Delete
          </Button>
        </div>
      )}
      {editing && (
        <form
          className="stack-form"
          aria-label={`Edit ${e.url}`}
          onSubmit={async (ev) => {
            ev.preventDefault();
            if (await run(update({ input: { id: e.id, url: url.trim(), events } }), "Endpoint saved.")) setEditing(false);
          }}
        >
          <Field label="Endpoint URL" value={url} onChange={(ev) => setURL(ev.target.value)} required />
          <EventPicker types={types} value={events} onChange={setEvents} />
          <div className="dialog-actions">
            <Button type="submit" disabled={events.length === 0}>
              Save
            </Button>
          </div>
        </form>
      )}
      <div className="table-wrap">
        <table className="data-table" aria-label={`Deliveries to ${e.url}`}>
          <thead>
            <tr>
              <th scope="col">Event</th>
              <th scope="col">Status</th>
              <th scope="col">Response</th>
              <th scope="col">Attempts</th>
              <th scope="col">Last attempt</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {e.deliveries.length === 0 ? (
              <tr>
                <td colSpan={6} className="empty">
                  No deliveries yet.
                </td>
              </tr>
            ) : (
              e.deliveries.map((d) => (
                <tr key={d.id} data-testid="webhook-delivery">
                  <td>
                    <code>{d.eventType}</code>
                  </td>
                  <td>
                    <Badge tone={statusTone[d.status]}>{d.status.toLowerCase()}</Badge>
                  </td>
                  <td title={d.error ?? undefined}>{d.responseCode ?? (d.error ? "no answer" : "—")}</td>
                  <td>{d.attempts}</td>
                  <td>{d.lastAttemptAt ? formatDateTime(d.lastAttemptAt) : d.nextAttemptAt ? `next ${formatDateTime(d.nextAttemptAt)}` : "—"}</td>
                  <td className="row-actions">
                    {!readOnly && e.enabled && (d.status === "FAILED" || d.status === "SKIPPED" || d.status === "SUCCEEDED") && (
                      <Button variant="ghost" onClick={() => run(resend({ id: d.id }), `${d.eventType} resent.`)} aria-label={`Resend ${d.eventType}`}>
                        Resend
                      </Button>
                    )}
                  </td>
                </tr>
              ))
            )}
          </tbody>
        </table>
      </div>
      <Dialog open={deleting} title={`Delete ${e.url}?`} onClose={() => setDeleting(false)}>
        <p>Wattfare stops sending events to it; deliveries not yet made are skipped.</p>
        <div className="dialog-actions">
          <Button variant="ghost" onClick={() => setDeleting(false)}>
            Cancel
          </Button>
          <Button variant="danger" onClick={async () => { setDeleting(false); await run(remove({ id: e.id }), "Endpoint deleted."); }}>
            Delete endpoint
          </Button>
        </div>
      </Dialog>
    </section>
  );
}
