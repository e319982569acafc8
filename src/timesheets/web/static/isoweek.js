// ISO 8601 weeks in the browser: the Monday of a week, the week of a date, YYYY-Www.

export function mondayOf(year, week) {
  const jan4 = new Date(Date.UTC(year, 0, 4));
  const monday = new Date(jan4);
  monday.setUTCDate(jan4.getUTCDate() - ((jan4.getUTCDay() + 6) % 7) + (week - 1) * 7);
  return monday;
}

export function weekOf(date) {
  const day = new Date(Date.UTC(date.getFullYear(), date.getMonth(), date.getDate()));
  day.setUTCDate(day.getUTCDate() - ((day.getUTCDay() + 6) % 7) + 3); // that week's Thursday
  const year = day.getUTCFullYear();
  return { year, week: 1 + Math.floor((day - mondayOf(year, 1)) / 604800000) };
}

export function format({ year, week }) {
  return `${year}-W${String(week).padStart(2, "0")}`;
}

export function parse(text) {
  const match = /^(\d{4})-W(\d{2})$/.exec(text || "");
  return match ? { year: Number(match[1]), week: Number(match[2]) } : null;
}

export function shift({ year, week }, by) {
  const monday = mondayOf(year, week);
  monday.setUTCDate(monday.getUTCDate() + 7 * by);
  return weekOf(new Date(monday.getUTCFullYear(), monday.getUTCMonth(), monday.getUTCDate()));
}

export function days({ year, week }) {
  const monday = mondayOf(year, week);
  return Array.from({ length: 7 }, (_, i) => {
    const d = new Date(monday);
    d.setUTCDate(monday.getUTCDate() + i);
    return d.toISOString().slice(0, 10);
  });
}
