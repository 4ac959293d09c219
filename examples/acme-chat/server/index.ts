// Acme Chat's server: the page, and one chat route that streams from
// OpenAI with the AI SDK.
import { openai } from "@ai-sdk/openai";
import { serve } from "@hono/node-server";
import { serveStatic } from "@hono/node-server/serve-static";
import { convertToModelMessages, streamText, type UIMessage } from "ai";
import { Hono } from "hono";
import { csrf } from "hono/csrf";
import { page } from "./page";
import { signedIn, type SignedIn } from "./auth";

// Each user's conversation, kept for support. In memory: a real app has a database.
const conversations = new Map<string, UIMessage[]>();
const app = new Hono<SignedIn>();
app.use("/assets/*", serveStatic({ root: "./dist/client" }));
app.use(csrf()); // another site's page must not post to our routes in a signed-in user's browser
app.use(signedIn);

app.get("/", (c) => c.html(page()));
app.get("/api/me", (c) => c.json({ userId: c.var.userId }));

app.post("/api/chat", async (c) => {
  const { messages }: { messages: UIMessage[] } = await c.req.json();
  const userId = c.var.userId;
  const result = streamText({
    model: openai("gpt-4o"),
    system: "You are Acme's helpful assistant. Answer briefly.",
    messages: await convertToModelMessages(messages),
    onFinish: ({ totalUsage }) => console.log(`chat: ${userId} used ${totalUsage.totalTokens ?? 0} tokens`),
  });
  return result.toUIMessageStreamResponse({
    originalMessages: messages,
    onFinish: ({ messages }) => {
      conversations.set(userId, messages);
    },
  });
});

const port = Number(process.env.PORT ?? 3000);
serve({ fetch: app.fetch, hostname: process.env.HOST ?? "127.0.0.1", port }, (info) => {
  console.log(`Acme Chat on http://${info.address}:${info.port}`);
});
