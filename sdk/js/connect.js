/*
 * Wattfare browser client: the "Connect AI budget" button's half of the
 * consent flow. Load it from the control plane:
 *
 *   <script src="https://wattfare.example/v1/connect.js"></script>
 *
 *   // token: a session token minted by your backend (sdk/go/wattfareapp)
 *   const result = await Wattfare.connect({ sessionToken: token });
 *   // result.status: "approved", "denied" or "closed"
 *   const s = await Wattfare.session({ sessionToken: token });
 *   // s.connected, s.monthly_cap_usd, s.spent_usd, s.remaining_usd, s.resets_at
 *
 * The popup runs on Wattfare's origin and talks to this page only by
 * postMessage: it first says hello to this page's registered origin, this
 * script answers, and only then can the user approve. Messages are accepted
 * only from the control plane's origin and from the popup itself.
 * When the browser blocks the popup, connect() falls back to a redirect and
 * Wattfare sends the user back to this page with ?wattfare_connect=<status>.
 */
(function (global) {
  "use strict";
  var script = document.currentScript;
  var defaultControl = script && script.src ? new URL(script.src).origin : "";

  function controlOrigin(opts) {
    var u = (opts && opts.controlUrl) || defaultControl;
    if (!u) throw new Error("Wattfare: controlUrl is required");
    return new URL(u).origin;
  }

  function connectURL(control, params) {
    return control + "/connect#" + new URLSearchParams(params).toString();
  }

  function connect(opts) {
    if (!opts || !opts.sessionToken) throw new Error("Wattfare.connect: sessionToken is required");
    var control = controlOrigin(opts);
    var popup = global.open(
      connectURL(control, { session: opts.sessionToken, origin: global.location.origin }),
      "wattfare-connect",
      "popup,width=480,height=760"
    );
    if (!popup) {
      if (opts.redirect === false) return Promise.resolve({ type: "wattfare:result", status: "blocked" });
      // A link with referrerpolicy "origin", not location.assign: Wattfare
      // accepts a redirect-flow approval only when the browser says this
      // origin sent it there, whatever this page's own Referrer-Policy.
      var a = document.createElement("a");
      a.href = connectURL(control, { session: opts.sessionToken, return_to: global.location.href });
      a.referrerPolicy = "origin";
      document.body.appendChild(a);
      a.click();
      return new Promise(function () {}); // the page is leaving
    }
    return new Promise(function (resolve) {
      var done = false;
      function finish(result) {
        if (done) return;
        done = true;
        global.removeEventListener("message", onMessage);
        clearInterval(watch);
        resolve(result);
      }
      function onMessage(ev) {
        if (ev.origin !== control || ev.source !== popup) return;
        var d = ev.data || {};
        if (d.type === "wattfare:hello") {
          popup.postMessage({ type: "wattfare:ready", nonce: d.nonce }, control);
        } else if (d.type === "wattfare:result") {
          finish(d);
        }
      }
      global.addEventListener("message", onMessage);
      var watch = setInterval(function () {
        if (popup.closed) finish({ type: "wattfare:result", status: "closed" });
      }, 400);
    });
  }

  function session(opts) {
    if (!opts || !opts.sessionToken) throw new Error("Wattfare.session: sessionToken is required");
    return fetch(controlOrigin(opts) + "/v1/session", {
      headers: { Authorization: "Bearer " + opts.sessionToken },
      credentials: "omit",
    }).then(function (res) {
      return res.json().then(function (body) {
        if (!res.ok) {
          var err = new Error((body.error && body.error.message) || "Wattfare: session request failed");
          err.code = body.error && body.error.code;
          throw err;
        }
        return body;
      });
    });
  }

  // redirectResult reads (and removes) the outcome of a redirect-flow
  // connect from this page's URL: "approved", "denied" or null. Anyone can
  // link to your page with ?wattfare_connect=approved, so it is only a hint
  // for what to say: ask Wattfare.session() whether the user is connected.
  function redirectResult() {
    var u = new URL(global.location.href);
    var status = u.searchParams.get("wattfare_connect");
    if (!status) return null;
    u.searchParams.delete("wattfare_connect");
    global.history.replaceState(null, "", u.toString());
    return status;
  }

  global.Wattfare = { connect: connect, session: session, redirectResult: redirectResult };
})(window);
