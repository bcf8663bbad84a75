// Shared helpers: building elements (never from HTML strings), calling the API (with the
// CSRF token for changes, sign-in on 401), the live stream, and small widgets.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export const svgNs = "http://www.w3.org/2000/svg";
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(svgNs, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function cookie(name) {
  const found = document.cookie.split(";").map((c) => c.trim()).find((c) => c.startsWith(name + "="));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : null;
}

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// Calls the API; a 401 sends the browser to the sign-in page.
export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") {
    const csrf = cookie("baton_csrf");
    if (csrf) headers["X-CSRF-Token"] = csrf;
  }
  const response = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401 && !location.pathname.startsWith("/ui/login")) {
    location.assign("/ui/login?next=" + encodeURIComponent(location.pathname + location.search));
    throw new ApiError(401, "sign in first");
  }
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (!response.ok) {
    const message = (data && (data.error_description || data.error)) || response.statusText;
    throw new ApiError(response.status, message);
  }
  return data;
}

// One EventSource for the page; handlers by event type. Each time the stream (re)connects
// its `hello` reaches every handler as `{change: "hello"}` (and a `lagged` reaches the run
// handlers as `{change: "lagged"}`): whatever happened before, or while disconnected, was
// not seen, so a page reloads what it shows.
const handlers = {};
let source = null;
export function live(type, handler) {
  (handlers[type] ||= []).push(handler);
  if (source) return;
  source = new EventSource("/api/stream");
  const dispatch = (kind, data) => { for (const fn of handlers[kind] || []) fn(data); };
  source.addEventListener("hello", () => {
    for (const kind of Object.keys(handlers)) dispatch(kind, { change: "hello" });
  });
  for (const kind of ["server", "run", "event", "lagged"]) {
    source.addEventListener(kind, (message) => {
      let data = {};
      try { data = JSON.parse(message.data); } catch { return; }
      dispatch(kind, data);
      if (kind === "lagged") dispatch("run", { change: "lagged" });
    });
  }
}

// Calls `load` now, and again after whatever asked meanwhile: never two at once, so an
// older answer never overwrites a newer one.
export function serialized(load) {
  let running = false;
  let again = false;
  const run = async () => {
    if (running) { again = true; return; }
    running = true;
    try {
      do { again = false; await load().catch(() => {}); } while (again);
    } finally {
      running = false;
    }
  };
  return run;
}

export function announce(text) {
  const status = document.getElementById("status");
  if (status) status.textContent = text;
}

export function badge(state) {
  const name = String(state || "unknown");
  return h("span", { class: "badge state-" + name.replace(/[^a-z_-]/gi, "") }, name);
}

export function time(ms) {
  if (ms === null || ms === undefined) return "";
  const date = new Date(ms);
  return h("time", { datetime: date.toISOString() }, date.toLocaleString());
}

export function duration(from, to) {
  if (!from) return "";
  const ms = (to || Date.now()) - from;
  if (ms < 1000) return ms + " ms";
  if (ms < 60000) return (ms / 1000).toFixed(1) + " s";
  return Math.round(ms / 60000) + " min";
}

// Scrollable blocks take the focus, so keyboard users can scroll them too.
export function json(value) {
  return h("pre", { tabindex: "0" }, JSON.stringify(value, null, 2));
}

// A tiny line chart of `values` (the last minutes).
export function spark(values, label) {
  const width = 120, height = 28;
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / max) * (height - 4)).toFixed(1)}`).join(" ");
  return s("svg", { class: "spark", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label },
    s("title", {}, label), s("polyline", { points: points || `0,${height - 2} ${width},${height - 2}` }));
}

export function table(headers, rows, caption) {
  return h("div", { class: "table-wrap" },
    h("table", {},
      caption ? h("caption", { class: "visually-hidden" }, caption) : null,
      h("thead", {}, h("tr", {}, headers.map((text) => h("th", { scope: "col" }, text)))),
      h("tbody", {}, rows)));
}

export function errorBox(error) {
  return h("p", { class: "error", role: "alert" }, String(error.message || error));
}

// Runs `action` from a button, showing what happened.
export function actionButton(text, action, { danger = false, secondary = false } = {}) {
  const button = h("button", { type: "button", class: danger ? "danger" : secondary ? "secondary" : "" }, text);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await action();
      announce(text + ": done");
    } catch (error) {
      announce(text + " failed: " + error.message);
      button.after(errorBox(error));
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

export function setMain(title, ...children) {
  document.title = title + " · Baton";
  const main = document.getElementById("main");
  main.replaceChildren(h("h1", {}, title), ...children.filter((c) => c !== null && c !== undefined && c !== false));
}
