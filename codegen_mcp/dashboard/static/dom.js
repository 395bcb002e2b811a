// Building DOM safely: every piece of data becomes a text node or a checked attribute.
// Results, errors and logs are agent-written text: nothing here ever parses HTML.

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) {
      if (typeof value !== "function") throw new TypeError(`${name} must be a function`);
      node.addEventListener(name.slice(2), value);
    } else if (name === "href") node.setAttribute("href", value); // only from safeUrl()
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// Only http(s) links: a javascript: or data: URL from upstream must never become clickable.
export function safeUrl(value) {
  if (typeof value !== "string") return null;
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch {
    return null;
  }
}

export function link(url, text, className) {
  const href = safeUrl(url);
  if (!href) return el("span", { class: className, text });
  return el("a", {
    class: className, href, text, target: "_blank", rel: "noopener noreferrer", title: href,
  });
}

export function statePill(state) {
  return el("span", { class: `pill state-${state}`, "data-field": "state", text: state });
}

export function prNumber(pr) {
  const match = /\/pull\/(\d+)/.exec(pr.url || "");
  return match ? `#${match[1]}` : "PR";
}

export function age(timestamp, now = Date.now()) {
  const then = Date.parse(timestamp);
  if (Number.isNaN(then)) return "";
  const seconds = Math.max(0, Math.round((now - then) / 1000));
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h`;
  return `${Math.floor(seconds / 86400)} d`;
}

export function duration(start, end) {
  const from = Date.parse(start);
  const to = Date.parse(end);
  if (Number.isNaN(from) || Number.isNaN(to)) return null;
  return age(start, to);
}

// Every time on the page reads the same way, whatever the browser's locale: a 24-hour clock
// (13:05:09) in the browser's time zone, and the date as YYYY-MM-DD where it is shown.
export function clock(timestamp) {
  const then = Date.parse(timestamp);
  if (Number.isNaN(then)) return "";
  const at = new Date(then);
  return [at.getHours(), at.getMinutes(), at.getSeconds()].map(twoDigits).join(":");
}

export function localTime(timestamp) {
  const then = Date.parse(timestamp);
  if (Number.isNaN(then)) return "";
  const at = new Date(then);
  const date = [at.getFullYear(), twoDigits(at.getMonth() + 1), twoDigits(at.getDate())];
  return `${date.join("-")} ${clock(timestamp)}`;
}

function twoDigits(number) {
  return String(number).padStart(2, "0");
}

// Refresh every age cell in place, so ticking clocks never re-render a table.
export function refreshAges(root) {
  const now = Date.now();
  for (const cell of root.querySelectorAll("[data-since]")) {
    cell.textContent = age(cell.dataset.since, now);
  }
}
