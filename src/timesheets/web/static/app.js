// The web app: routing between pages, sign-in state, and errors shown in words.

import { Api } from "./api.js";
import { Auth } from "./auth.js";
import { say } from "./dom.js";
import { renderApprovals } from "./approvals.js";
import { renderHistory } from "./history.js";
import { renderWeek } from "./week.js";

const config = await (await fetch("/config.json")).json();
const auth = new Auth(config, () => updateChrome());
const api = new Api(config.api_url, auth);
const routes = { week: renderWeek, history: renderHistory, approvals: renderApprovals };

function updateChrome() {
  const signedIn = auth.signedIn;
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("who").hidden = !signedIn;
  document.getElementById("signed-out").hidden = signedIn;
  document.getElementById("view").hidden = !signedIn;
  document.getElementById("nav-approvals").hidden = !auth.has("approve:timesheets");
  document.getElementById("who-name").textContent = auth.profile.name || auth.profile.email || "";
}

async function render() {
  updateChrome();
  if (!auth.signedIn) return;
  const route = location.pathname.slice(1) || "week";
  const name = route === "approvals" && !auth.has("approve:timesheets") ? "week" : (routes[route] ? route : "week");
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.route === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  try {
    await routes[name](document.getElementById("view"), { api, auth, query: new URLSearchParams(location.search) });
  } catch (error) {
    say(error.message, { error: true });
  }
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[href^='/']");
  if (!link || event.metaKey || event.ctrlKey) return;
  event.preventDefault();
  history.pushState({}, "", link.getAttribute("href"));
  say("");
  render();
});
addEventListener("popstate", () => render());
document.getElementById("login").addEventListener("click", () => auth.signIn());
document.getElementById("logout").addEventListener("click", () => auth.signOut());

// Tokens live in memory only, so a fresh page asks the authorization server once,
// without showing anything (prompt=none), whether the browser is still signed in.
let leaving = false;
try {
  if (location.pathname === "/callback") {
    const next = await auth.completeSignIn();
    history.replaceState({}, "", next || "/");
  } else {
    leaving = true;
    await auth.signIn({ silent: true });
  }
} catch (error) {
  leaving = false;
  history.replaceState({}, "", "/");
  say(error.message, { error: true });
}
if (!leaving) render();
