// Acme Chat's frontend: what an app adds to use Wattfare. It asks its own
// backend for a session token, hands it to Wattfare.connect() when the user
// presses the button, and to Wattfare.session() to show the budget.
(function () {
  "use strict";
  // Who the user is stays on the backend (Acme's session cookie): the
  // frontend never tells it which user to mint a token for or to charge.
  const mode = document.body.dataset.mode;
  const qs = "mode=" + encodeURIComponent(mode);
  const $ = (id) => document.getElementById(id);

  // Tokens live 10 minutes; status checks reuse one for a few minutes.
  // Connect always takes a fresh one: Wattfare refuses an approval whose
  // token is older than the user's last revoke. Minting is one quick
  // request, well within the click's popup allowance.
  let token = null;
  let tokenAt = 0;
  async function sessionToken(fresh) {
    if (!fresh && token && Date.now() - tokenAt < 4 * 60 * 1000) return token;
    const res = await fetch("/api/session?" + qs);
    const body = await res.json();
    if (!res.ok) throw new Error(body.error ? body.error.message : "no session");
    token = body.session_token;
    tokenAt = Date.now();
    return token;
  }

  function money(s) {
    if (s == null) return "—";
    let [w, f = ""] = String(s).split(".");
    f = f.replace(/0+$/, "");
    if (f.length < 2) f = f.padEnd(2, "0");
    return "$" + w + "." + f;
  }

  function render(s) {
    const status = $("status");
    status.dataset.state = s.connected ? "connected" : s.status;
    status.textContent = s.connected ? "Connected" : s.status === "revoked" ? "Not connected (revoked)" : "Not connected";
    $("numbers").hidden = !s.connected;
    $("connect").textContent = s.connected ? "Change AI budget" : "Connect AI budget";
    if (s.connected) {
      $("cap").textContent = money(s.monthly_cap_usd);
      $("spent").textContent = money(s.spent_usd);
      $("remaining").textContent = money(s.remaining_usd);
      $("resets").textContent = new Date(s.resets_at).toLocaleDateString("en-US", { month: "short", day: "numeric", timeZone: "UTC" });
    }
  }

  async function refresh() {
    try {
      render(await Wattfare.session({ sessionToken: await sessionToken() }));
    } catch (err) {
      $("status").dataset.state = "error";
      $("status").textContent = "Could not reach Wattfare: " + err.message;
    }
  }

  $("connect").addEventListener("click", async () => {
    $("note").textContent = "";
    const t = await sessionToken(true);
    const result = await Wattfare.connect({ sessionToken: t });
    $("note").textContent =
      result.status === "approved" ? "Connected: your budget now pays for Acme's AI." :
      result.status === "denied" ? "You did not connect your budget." :
      "The Wattfare window was closed.";
    await refresh();
  });
  $("refresh").addEventListener("click", refresh);

  $("chat").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $("message");
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    const log = $("log");
    const mine = document.createElement("li");
    mine.textContent = "You: " + text;
    log.append(mine);
    const li = document.createElement("li");
    const res = await fetch("/api/chat?" + qs, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ message: text }),
    });
    const body = await res.json();
    if (res.ok) {
      li.className = "reply";
      li.textContent = "Acme AI: " + body.reply;
    } else {
      li.className = "error";
      li.dataset.code = body.error.code;
      li.textContent = "Error " + body.error.code + ": " + body.error.message;
    }
    log.append(li);
    await refresh();
  });

  const back = Wattfare.redirectResult();
  if (back) $("note").textContent = back === "approved" ? "Connected: your budget now pays for Acme's AI." : "You did not connect your budget.";
  refresh();
  window.addEventListener("focus", refresh);
})();
