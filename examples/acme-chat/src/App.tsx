import { useEffect, useState } from "react";
import { Chat } from "./chat";

export function App() {
  const [userId, setUserId] = useState<string>();
  useEffect(() => {
    fetch("/api/me")
      .then((r) => r.json())
      .then((me) => setUserId(me.userId));
  }, []);
  return (
    <div className="app">
      <header>
        <span className="logo" aria-hidden="true">A</span>
        <h1>Acme Chat</h1>
        <span className="who">{userId && <>Signed in as <strong>{userId}</strong></>}</span>
      </header>
      <main>
        <Chat />
      </main>
    </div>
  );
}
