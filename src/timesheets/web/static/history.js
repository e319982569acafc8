// History: every entry with filters by status, project and dates.

import { badge, el, hours, say } from "./dom.js";

export async function renderHistory(view, { api, query }) {
  const params = { limit: 50, offset: Number(query.get("offset") || 0) };
  for (const key of ["status", "project", "from", "to"]) if (query.get(key)) params[key] = query.get(key);
  const { data: entries, total } = await api.list(params);
  const apply = (event) => {
    event.preventDefault();
    const data = new URLSearchParams([...new FormData(event.target)].filter(([, v]) => v));
    history.pushState({}, "", `/history?${data}`);
    dispatchEvent(new PopStateEvent("popstate"));
  };
  const filters = el("form", { class: "row", onsubmit: apply, "aria-label": "Filters" },
    el("label", {}, "Status", el("select", { name: "status" }, ["", "submitted", "approved", "rejected"].map((s) => el("option", { value: s, selected: s === (params.status || ""), text: s || "any" })))),
    el("label", {}, "Project", el("input", { name: "project", value: params.project || "" })),
    el("label", {}, "From", el("input", { name: "from", type: "date", value: params.from || "" })),
    el("label", {}, "To", el("input", { name: "to", type: "date", value: params.to || "" })),
    el("button", { type: "submit", text: "Filter" }),
  );
  const table = el("table", { class: "responsive" },
    el("thead", {}, el("tr", {}, ["Week", "Day", "Project", "Hours", "Status"].map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, entries.map((e) => el("tr", {},
      el("td", { "data-label": "Week", text: `${e.year}-W${String(e.week).padStart(2, "0")}` }),
      el("td", { "data-label": "Day", text: e.date || "" }),
      el("td", { "data-label": "Project", text: e.project }),
      el("td", { "data-label": "Hours", class: "num", text: hours(e.hours) }),
      el("td", { "data-label": "Status" }, badge(e.status), e.rejection_reason ? el("div", { class: "muted", text: e.rejection_reason }) : null),
    ))),
  );
  say(total ? "" : "No entries match.");
  view.replaceChildren(el("section", { class: "panel" }, el("h1", { text: "History" }), filters, el("p", { class: "muted", text: `${total} entries` }), table));
}
