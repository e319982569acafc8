// My week: entries per day and project, totals, add and delete.

import { badge, el, hours, say } from "./dom.js";
import * as iso from "./isoweek.js";

export async function renderWeek(view, { api, auth, query }) {
  const week = iso.parse(query.get("week")) || iso.weekOf(new Date());
  const label = iso.format(week);
  const dates = iso.days(week);
  const { data: entries } = await api.list({ week_from: label, week_to: label, limit: 200 });
  const canAdd = auth.has("create:timesheets");
  const canDelete = auth.has("delete:timesheets");
  const perDay = Object.fromEntries(dates.map((d) => [d, 0]));
  let total = 0;
  for (const entry of entries) {
    if (entry.status === "rejected") continue; // rejected hours count for nothing
    total += entry.hours;
    if (entry.date in perDay) perDay[entry.date] += entry.hours;
  }
  const go = (by) => history.pushState({}, "", `/week?week=${iso.format(iso.shift(week, by))}`) || dispatchEvent(new PopStateEvent("popstate"));

  const picker = el("div", { class: "weekpicker" },
    el("button", { type: "button", class: "secondary", onclick: () => go(-1), "aria-label": "Previous week", text: "←" }),
    el("h1", { id: "week-title", text: `Week ${label}` }),
    el("button", { type: "button", class: "secondary", onclick: () => go(1), "aria-label": "Next week", text: "→" }),
  );

  const rows = entries.map((entry) => el("tr", { "data-id": entry.id },
    el("td", { "data-label": "Day", text: entry.date || `week ${entry.week}` }),
    el("td", { "data-label": "Project", text: entry.project }),
    el("td", { "data-label": "Hours", class: "num", text: hours(entry.hours) }),
    el("td", { "data-label": "Status" }, badge(entry.status),
      entry.rejection_reason ? el("div", { class: "muted", text: `Reason: ${entry.rejection_reason}` }) : null),
    el("td", { "data-label": "" }, canDelete && entry.status !== "approved"
      ? el("button", { type: "button", class: "danger", "aria-label": `Delete ${entry.project} ${entry.date ? `on ${entry.date}` : `in week ${entry.week}`}`,
          onclick: async () => {
            try { await api.remove(entry.id); say("Entry deleted."); dispatchEvent(new PopStateEvent("popstate")); }
            catch (error) { say(error.message, { error: true }); }
          }, text: "Delete" })
      : null),
  ));

  const table = el("table", { class: "responsive", "aria-describedby": "week-title" },
    el("thead", {}, el("tr", {}, ["Day", "Project", "Hours", "Status", ""].map((h) => el("th", { scope: "col", class: h === "Hours" ? "num" : null, text: h })))),
    el("tbody", {}, rows.length ? rows : [el("tr", {}, el("td", { colspan: 5, class: "muted", text: "No hours logged this week yet." }))]),
    el("tfoot", {}, el("tr", {}, el("td", { colspan: 2, text: "Week total" }), el("td", { class: "num total", id: "week-total", text: hours(total) }), el("td", { colspan: 2 }))),
  );

  const summary = el("p", { class: "muted" }, dates.map((d) => `${new Date(d + "T00:00:00Z").toLocaleDateString(undefined, { weekday: "short", timeZone: "UTC" })} ${hours(perDay[d])}`).join(" · "));

  const form = canAdd ? el("form", { class: "row", id: "add-entry", onsubmit: async (event) => {
    event.preventDefault();
    const data = new FormData(event.target);
    try {
      await api.create({ date: data.get("date"), project: data.get("project").trim(), hours: Number(data.get("hours")) });
      say("Entry added.");
      dispatchEvent(new PopStateEvent("popstate"));
    } catch (error) { say(error.message, { error: true }); }
  } },
    el("label", {}, "Day", el("select", { name: "date", required: true }, dates.map((d) => el("option", { value: d, text: d })))),
    el("label", {}, "Project", el("input", { name: "project", required: true, maxlength: 200, autocomplete: "off" })),
    el("label", {}, "Hours", el("input", { name: "hours", type: "number", min: "0.25", max: "24", step: "0.25", required: true, inputmode: "decimal" })),
    el("button", { type: "submit", text: "Add" }),
  ) : null;

  view.replaceChildren(
    el("section", { class: "panel" }, picker, summary, table),
    form ? el("section", { class: "panel" }, el("h2", { text: "Add hours" }), form) : null,
  );
}
