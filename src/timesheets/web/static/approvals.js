// Approvals (managers): approve, or reject with a reason.

import { el, hours, say } from "./dom.js";

export async function renderApprovals(view, { api }) {
  const { data: entries } = await api.pending();
  const refresh = () => dispatchEvent(new PopStateEvent("popstate"));
  const rows = entries.map((e) => {
    // The name the person's own token gave when they logged the hours; entries an import
    // stored for someone have only their id.
    const who = e.user_name || e.user_id;
    const reason = el("input", { name: "reason", "aria-label": `Reason to reject ${who}'s ${e.project}`, placeholder: "Reason (to reject)", maxlength: 2000 });
    return el("tr", { "data-id": e.id },
      el("td", { "data-label": "Person", title: e.user_id },
        e.user_name ? [el("span", { text: e.user_name }), " ", el("span", { class: "muted", text: `(${e.user_id})` })] : e.user_id),
      el("td", { "data-label": "Week", text: `${e.year}-W${String(e.week).padStart(2, "0")}${e.date ? ` (${e.date})` : ""}` }),
      el("td", { "data-label": "Project", text: e.project }),
      el("td", { "data-label": "Hours", class: "num", text: hours(e.hours) }),
      el("td", { "data-label": "Decision" },
        el("button", { type: "button", onclick: async () => {
          try { await api.decide(e.id, undefined); say("Approved."); refresh(); } catch (error) { say(error.message, { error: true }); }
        }, text: "Approve" }), " ",
        reason, " ",
        el("button", { type: "button", class: "danger", onclick: async () => {
          if (!reason.value.trim()) { say("Give a reason to reject.", { error: true }); reason.focus(); return; }
          try { await api.decide(e.id, { decision: "reject", reason: reason.value.trim() }); say("Rejected."); refresh(); }
          catch (error) { say(error.message, { error: true }); }
        }, text: "Reject" })),
    );
  });
  view.replaceChildren(el("section", { class: "panel" }, el("h1", { text: "Waiting for approval" }),
    rows.length ? el("table", { class: "responsive" },
      el("thead", {}, el("tr", {}, ["Person", "Week", "Project", "Hours", "Decision"].map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, rows)) : el("p", { class: "muted", text: "Nothing is waiting for approval." })));
}
