// Sign-in, who the caller is (/whoami), and hash routing between the three pages:
// #/fleet, #/chargers/{id}, #/sessions/{id}.
"use strict";
(function () {
  const OC = window.OC;
  const view = document.getElementById("view");
  const signIn = document.getElementById("sign-in");
  const who = document.getElementById("who");
  let leave = null;
  let generation = 0;

  OC.onUnauthorized = function (reason) {
    OC.clearToken();
    OC.whoami = null;
    showSignIn("Signed out: " + reason);
  };

  function showSignIn(message) {
    if (leave) { leave(); leave = null; }
    view.textContent = "";
    view.hidden = true;
    who.hidden = true;
    signIn.hidden = false;
    document.getElementById("sign-in-error").textContent = message || "";
    document.title = "Sign in – ocpp-server console";
    document.getElementById("token-input").focus();
  }

  async function identify() {
    OC.whoami = await OC.api("/whoami");
    const w = OC.whoami;
    document.getElementById("who-text").textContent = "Signed in as " + w.name + " (" + w.role +
      (w.company_id ? ", company " + w.company_id : "") + ")";
    who.hidden = false;
  }

  async function route() {
    const current = ++generation;
    if (leave) { leave(); leave = null; }
    if (!OC.token()) { showSignIn(""); return; }
    if (!OC.whoami) {
      try { await identify(); } catch (error) { if (OC.token()) showSignIn("The API did not accept the token: " + error.message); return; }
    }
    signIn.hidden = true;
    view.hidden = false;
    view.textContent = "";
    const hash = location.hash || "#/fleet";
    let match;
    document.getElementById("nav-fleet").setAttribute("aria-current", hash === "#/fleet" ? "page" : "false");
    try {
      let stop;
      if ((match = /^#\/chargers\/(\d+)$/.exec(hash))) stop = await OC.chargerPage(view, match[1]);
      else if ((match = /^#\/sessions\/(\d+)$/.exec(hash))) stop = await OC.sessionPage(view, match[1]);
      else { document.title = "Fleet – ocpp-server console"; stop = OC.fleetPage(view); }
      if (current !== generation) { if (stop) stop(); return; }
      leave = stop;
    } catch (error) {
      if (current !== generation || !OC.token()) return;
      view.appendChild(OC.el("h1", {}, "Not available"));
      view.appendChild(OC.notice(error.status === 404 ? "Nothing here: it does not exist, or your token may not see it." : error.message, true));
    }
    view.focus();
  }

  document.getElementById("sign-in-form").addEventListener("submit", async function (event) {
    event.preventDefault();
    const input = document.getElementById("token-input");
    const token = input.value.trim();
    if (!token) return;
    OC.setToken(token);
    input.value = "";
    OC.whoami = null;
    try {
      await identify();
    } catch (error) {
      OC.clearToken();
      showSignIn(error.status === 401 ? "The token was not accepted (unknown, expired or revoked)." : "Sign-in failed: " + error.message);
      return;
    }
    route();
  });
  document.getElementById("sign-out").addEventListener("click", function () {
    OC.clearToken();
    OC.whoami = null;
    showSignIn("Signed out.");
  });
  // The hash is the route: the skip link moves the focus instead of changing it.
  document.querySelector(".skip").addEventListener("click", function (event) {
    event.preventDefault();
    view.focus();
  });
  window.addEventListener("hashchange", route);
  route();
})();
