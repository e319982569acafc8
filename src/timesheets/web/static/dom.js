// Small DOM helpers: elements built from data (never from HTML strings), and status text.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

export function say(text, { error = false } = {}) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.classList.toggle("error", error);
  status.hidden = !text;
}

export function hours(value) {
  return Number(value).toLocaleString(undefined, { maximumFractionDigits: 2 });
}

export function badge(status) {
  return el("span", { class: `badge ${status}`, text: status });
}
