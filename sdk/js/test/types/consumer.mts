// A TypeScript app's imports of all three entry points, checked with tsc
// --noEmit (module nodenext) against the package's own .d.mts, as an
// editor would check them.
import { generateText, streamText } from "ai";
import { createWattfareClient } from "wattfare/client";
import { useWattfare, WattfareProvider } from "wattfare/react";
import {
  type Budget,
  isWattfareError,
  type Session,
  Wattfare,
  WattfareCapReachedError,
  WattfareError,
  wattfareErrorMessage,
  type WattfareEvent,
  WattfareSignatureVerificationError,
  WattfareWebhooks,
} from "wattfare/server";

const wf = new Wattfare({ secretKey: "sk_test_x", publishableKey: "pk_test_x", baseURL: "http://127.0.0.1:8787/v1" });
const session: Session = wf.createSession("user_1", { requestLimit: { monthlyUsd: 10 } });
const token: string = session.token;
const user = wf.user("user_1");

export async function route(): Promise<Response> {
  try {
    await generateText({ model: user.model("openai/gpt-4o-mini"), prompt: "hi" });
  } catch (e) {
    if (e instanceof WattfareCapReachedError) {
      const cap: string | undefined = e.capUsd;
      console.log(cap, e.resetsAt, e.connectUrl, e.requestId);
    }
    if (isWattfareError(e)) {
      const err: WattfareError = e;
      console.log(err.code, err.status, err.limitSource, err.spentUsd);
    }
  }
  const budget: Budget = await user.budget();
  console.log(budget.connected, budget.remainingUsd, token);
  return streamText({ model: user.model("openai/gpt-4o-mini"), prompt: "hi" }).toUIMessageStreamResponse({ onError: wattfareErrorMessage });
}

export const consumers = [createWattfareClient, useWattfare, WattfareProvider];

// Webhooks: the event union narrows on type.
async function onWebhook(req: Request): Promise<Response> {
  let ev: WattfareEvent;
  try {
    ev = await wf.webhooks.verifyRequest(req);
  } catch (e) {
    if (e instanceof WattfareSignatureVerificationError) return new Response(e.reason, { status: 400 });
    throw e;
  }
  switch (ev.type) {
    case "connection.cap_changed": {
      const previous: string = ev.data.previous_monthly_cap;
      const cap: string = ev.data.connection.monthly_cap;
      void previous, cap;
      break;
    }
    case "connection.revoked": {
      const user: string = ev.data.connection.app_user_id;
      void user;
      break;
    }
    case "key.revoked": {
      const hint: string = ev.data.key.hint;
      void hint;
      break;
    }
  }
  return new Response(null, { status: 204 });
}
const standalone = new WattfareWebhooks({ secret: ["whsec_new", "whsec_old"], toleranceSeconds: 60 });
const ev2: WattfareEvent = standalone.verify("{}", "t=1,v1=00");
void onWebhook, ev2;
