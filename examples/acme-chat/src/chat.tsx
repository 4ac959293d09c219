import { useChat } from "@ai-sdk/react";
import { useState } from "react";

export function Chat() {
  const [input, setInput] = useState("");
  const ai = useChat();
  const busy = ai.status === "submitted" || ai.status === "streaming";
  return (
    <section className="chat" aria-label="Chat">
      <ol className="messages" aria-label="Conversation" aria-live="polite">
        {ai.messages.map((m) => (
          <li key={m.id} className={m.role} data-testid={`message-${m.role}`}>
            {m.parts.map((p, i) => (p.type === "text" ? <span key={i}>{p.text}</span> : null))}
          </li>
        ))}
      </ol>
      {ai.error && <p role="alert" className="error">{ai.error.message}</p>}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (!input.trim() || busy) return;
          ai.sendMessage({ text: input });
          setInput("");
        }}
      >
        <label htmlFor="message">Message</label>
        <input id="message" value={input} onChange={(e) => setInput(e.target.value)} placeholder="Ask Acme anything" autoComplete="off" />
        <button type="submit" disabled={busy}>Send</button>
      </form>
    </section>
  );
}
