// The dashboard's pages. Each address under /ui serves this same shell; the page for the
// address is drawn from the JSON API (docs/API.md) and kept current by /api/stream.
import { h, api, live, serialized, badge, time, json, table, errorBox, actionButton, setMain, spark } from "./core.js";
import { schemaForm } from "./forms.js";
import { runsPage, runPage, workflowsPage, workflowPage } from "./runs.js";

const routes = [
  [/^\/ui\/?$/, overviewPage],
  [/^\/ui\/login\/?$/, loginPage],
  [/^\/ui\/servers\/([^/]+)\/?$/, serverPage],
  [/^\/ui\/tools\/?$/, toolsPage],
  [/^\/ui\/runs\/?$/, runsPage],
  [/^\/ui\/runs\/([^/]+)\/?$/, runPage],
  [/^\/ui\/workflows\/?$/, workflowsPage],
  [/^\/ui\/workflows\/([^/]+)\/?$/, workflowPage],
  [/^\/ui\/schedules\/?$/, schedulesPage],
  [/^\/ui\/events\/?$/, eventsPage],
  [/^\/ui\/agent\/?$/, agentPage],
];

async function start() {
  for (const link of document.querySelectorAll(".top nav a")) {
    const path = new URL(link.href).pathname;
    if (path === location.pathname || (path !== "/ui" && location.pathname.startsWith(path))) link.setAttribute("aria-current", "page");
  }
  if (!location.pathname.startsWith("/ui/login")) showWho();
  for (const [pattern, page] of routes) {
    const match = location.pathname.match(pattern);
    if (match) {
      try {
        await page(...match.slice(1).map(decodeURIComponent));
      } catch (error) {
        if (error.status !== 401) setMain("Something went wrong", errorBox(error));
      }
      return;
    }
  }
  setMain("Not found", h("p", {}, "No page here. ", h("a", { href: "/ui" }, "Go to the overview.")));
}

async function showWho() {
  const who = document.getElementById("who");
  const session = await fetch("/api/session", { credentials: "same-origin" }).then((r) => r.json()).catch(() => null);
  if (!session || !session.auth || !session.principal) return;
  who.replaceChildren("Signed in as ", h("strong", {}, session.principal),
    actionButton("Sign out", async () => { await api("/api/session", { method: "DELETE" }); location.assign("/ui/login"); }, { secondary: true }));
}

// ---- overview and servers ----------------------------------------------------------

function serverRows(servers) {
  return servers.map((server) => {
    const stats = server.stats || {};
    const latency = stats.latency_ms || {};
    const name = String(server.name).split("#")[0];
    const history = server.history || [];
    return h("tr", { "data-server": server.name },
      h("td", {}, h("a", { href: "/ui/servers/" + encodeURIComponent(name) }, server.name)),
      h("td", {}, badge(server.state), server.error ? h("div", { class: "error" }, server.error) : null,
        server.stderr_tail && server.stderr_tail.length ? h("details", {}, h("summary", {}, "stderr"), h("pre", { tabindex: "0" }, server.stderr_tail.join("\n"))) : null),
      h("td", {}, server.breaker ? badge(server.breaker.state) : "—"),
      h("td", {}, `${stats.calls ?? 0} / ${stats.errors ?? 0}`),
      h("td", {}, latency.p50 != null ? `${latency.p50} / ${latency.p99} ms` : "—"),
      h("td", {}, spark(history.map((s) => s.calls), `${server.name}: calls per 5 s over the last ${Math.round(history.length * 5 / 60)} min`)));
  });
}

const serverHeaders = ["Server", "State", "Breaker", "Calls / errors", "p50 / p99", "Last minutes"];

async function overviewPage() {
  const box = h("div", {});
  setMain("Overview", box);
  const draw = async () => {
    const data = await api("/api/overview");
    const next = (data.schedules || []).filter((s) => s.next_fire || s.next).slice(0, 8);
    box.replaceChildren(
      h("h2", {}, "Servers"),
      table(serverHeaders, serverRows(data.servers), "Servers"),
      h("div", { class: "grid" },
        h("section", { class: "panel", "aria-labelledby": "inflight" }, h("h2", { id: "inflight" }, "Runs in flight"),
          data.runs_in_flight.length ? h("ul", {}, data.runs_in_flight.map((r) => h("li", {}, h("a", { href: "/ui/runs/" + encodeURIComponent(r.id) }, r.workflow), " ", badge(r.status), " since ", time(r.started_at || r.created_at))))
            : h("p", { class: "muted" }, "None.")),
        h("section", { class: "panel", "aria-labelledby": "nextfires" }, h("h2", { id: "nextfires" }, "Next schedule fires"),
          next.length ? h("ul", {}, next.map((s) => h("li", {}, s.name, " — ", s.next_fire || s.next))) : h("p", { class: "muted" }, "None.")),
        h("section", { class: "panel", "aria-labelledby": "latest" }, h("h2", { id: "latest" }, "Latest events"),
          (data.events || []).length ? h("ul", {}, data.events.slice().reverse().map((e) => h("li", {}, h("code", {}, e.type), " ", time(e.at)))) : h("p", { class: "muted" }, "None."))));
  };
  await draw();
  const soon = serialized(draw);
  live("server", soon);
  live("run", soon);
  live("event", soon);
  // The numbers and charts move with every call, which sends no event.
  setInterval(soon, 5000);
}

async function serverPage(name) {
  const data = await api("/api/servers/" + encodeURIComponent(name)).catch((e) => ({ error: e }));
  if (data.error) return setMain(name, errorBox(data.error));
  const restarts = data.replicas.reduce((n, r) => n + ((r.stats && r.stats.restarts) || 0), 0);
  setMain("Server " + name,
    table(serverHeaders, serverRows(data.replicas), "Replicas"),
    h("p", {}, `Restarts: ${restarts}`),
    h("div", { class: "actions" },
      actionButton("Restart", () => api(`/api/servers/${encodeURIComponent(name)}/restart`, { method: "POST" }).then(() => setTimeout(() => location.reload(), 800))),
      actionButton("Reset breaker", () => api(`/api/servers/${encodeURIComponent(name)}/reset_breaker`, { method: "POST" }).then(() => location.reload()), { secondary: true })),
    h("h2", {}, `Tools (${data.tools.length})`),
    data.tools.length ? table(["Tool", "Description"], data.tools.map((t) => h("tr", {},
      h("td", {}, h("a", { href: "/ui/tools?tool=" + encodeURIComponent(t.name) }, t.name)), h("td", {}, t.description || ""))), "Tools") : h("p", { class: "muted" }, "None."),
    h("h2", {}, `Prompts (${data.prompts.length})`),
    data.prompts.length ? h("ul", {}, data.prompts.map((p) => h("li", {}, h("code", {}, p.name), " ", p.description || ""))) : h("p", { class: "muted" }, "None."),
    h("h2", {}, `Resources (${data.resources.length})`),
    data.resources.length ? h("ul", {}, data.resources.map((r) => h("li", {}, h("code", {}, r.uri), " ", r.name || ""))) : h("p", { class: "muted" }, "None."));
  live("server", (event) => { if (String(event.server).split("#")[0] === name) setTimeout(() => location.reload(), 500); });
}

// ---- tools and the try-it console ---------------------------------------------------

async function toolsPage() {
  const params = new URLSearchParams(location.search);
  const search = h("input", { type: "search", id: "tool-search", value: params.get("q") || "", autocomplete: "off" });
  const list = h("ul", { class: "tool-list", "aria-label": "Tools" });
  const panel = h("section", { class: "tool-panel", "aria-live": "polite" }, h("p", { class: "muted" }, "Choose a tool."));
  setMain("Tools", h("div", { class: "filters", role: "search" }, h("div", {}, h("label", { for: "tool-search" }, "Search"), search)),
    h("div", { class: "console" }, list, panel));
  let tools = [];
  const show = (tool) => {
    for (const b of list.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.dataset.tool === tool.name));
    const form = schemaForm(tool.inputSchema, { idPrefix: "arg" });
    const result = h("div", { class: "result", id: "result" });
    const run = h("form", {}, form.element, h("button", { type: "submit", id: "call" }, "Call"));
    run.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      result.replaceChildren(h("p", { class: "muted" }, "Calling…"));
      try {
        const answer = await api(`/api/tools/${encodeURIComponent(tool.name)}/call`, { method: "POST", body: { arguments: form.value() } });
        result.replaceChildren(renderResult(answer));
      } catch (error) {
        result.replaceChildren(errorBox(error));
      }
    });
    const hints = tool.annotations || {};
    panel.replaceChildren(h("h2", {}, tool.name), h("p", {}, tool.description || ""),
      h("p", {}, Object.entries(hints).filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => h("span", { class: "badge" }, `${k}: ${v}`)), " "),
      run, result);
  };
  const draw = () => {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const shown = tools.filter((t) => words.every((w) => `${t.name} ${t.description || ""}`.toLowerCase().includes(w)));
    list.replaceChildren(...shown.map((t) => h("li", {}, h("button", { type: "button", "data-tool": t.name, "aria-pressed": "false", onclick: () => show(t) }, t.name))));
  };
  tools = (await api("/api/tools")).tools;
  search.addEventListener("input", draw);
  draw();
  const wanted = tools.find((t) => t.name === params.get("tool"));
  if (wanted) show(wanted);
}

function renderResult(answer) {
  const parts = [h("p", {}, answer.ok ? "Done" : "The tool reported an error", ` in ${answer.duration_ms} ms`)];
  for (const block of answer.content || []) {
    if (block.type === "text") parts.push(h("pre", { tabindex: "0", class: answer.ok ? "" : "error" }, block.text));
    else if (block.type === "image") parts.push(h("img", { src: `data:${block.mimeType};base64,${block.data}`, alt: "Image returned by the tool" }));
    else parts.push(json(block));
  }
  if (answer.structuredContent !== undefined && answer.structuredContent !== null) parts.push(h("h3", {}, "Structured content"), json(answer.structuredContent));
  if (answer.error) parts.push(h("p", { class: "error" }, answer.error));
  return h("div", {}, parts);
}

// ---- schedules, events, agent state, sign-in -----------------------------------------

async function schedulesPage() {
  const data = await api("/api/schedules").catch((e) => ({ error: e }));
  if (data.error) return setMain("Schedules", errorBox(data.error));
  const act = (name, action) => () => api(`/api/schedules/${encodeURIComponent(name)}/${action}`, { method: "POST" }).then(() => location.reload());
  setMain("Schedules",
    (data.schedules || []).length ? table(["Schedule", "Timing", "Target", "Next fire", "Last", "State", "Actions"], data.schedules.map((s) => h("tr", {},
      h("td", {}, s.name), h("td", {}, s.timing || ""), h("td", {}, s.target || ""), h("td", {}, s.next_fire || s.next || "—"),
      h("td", {}, s.last_result ? JSON.stringify(s.last_result) : (s.last_fired || s.last || "—")),
      h("td", {}, badge(s.paused ? "paused" : (s.error ? "failed" : "active"))),
      h("td", {}, h("div", { class: "actions" },
        s.paused ? actionButton("Resume", act(s.name, "resume")) : actionButton("Pause", act(s.name, "pause"), { secondary: true }),
        actionButton("Trigger now", act(s.name, "trigger"), { secondary: true }))))), "Schedules") : h("p", { class: "muted" }, "No schedules."),
    h("h2", {}, "Triggers"),
    (data.triggers || []).length ? table(["Trigger", "On", "Target", "State"], data.triggers.map((t) => h("tr", {},
      h("td", {}, t.name), h("td", {}, t.on), h("td", {}, t.target), h("td", {}, badge(t.disabled ? "disabled" : "active")))), "Triggers") : h("p", { class: "muted" }, "No triggers."));
}

async function eventsPage() {
  const params = new URLSearchParams(location.search);
  const type = h("input", { type: "text", id: "event-type", value: params.get("type") || "", placeholder: "e.g. run_failed" });
  const form = h("form", { class: "filters", role: "search" }, h("div", {}, h("label", { for: "event-type" }, "Type"), type), h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (ev) => { ev.preventDefault(); location.assign("/ui/events" + (type.value ? "?type=" + encodeURIComponent(type.value) : "")); });
  const body = h("tbody", {});
  setMain("Events", form, h("div", { class: "table-wrap" }, h("table", {}, h("caption", { class: "visually-hidden" }, "Events, newest first"),
    h("thead", {}, h("tr", {}, ["Time", "Type", "Data"].map((t) => h("th", { scope: "col" }, t)))), body)));
  const row = (e) => h("tr", {}, h("td", {}, time(e.at)), h("td", {}, h("code", {}, e.type)), h("td", {}, h("code", {}, JSON.stringify(e.data))));
  const query = new URLSearchParams({ limit: "200" });
  if (params.get("type")) query.set("type", params.get("type"));
  const data = await api("/api/events?" + query).catch((e) => ({ error: e }));
  if (data.error) return body.replaceChildren(h("tr", {}, h("td", { colspan: "3" }, errorBox(data.error))));
  body.replaceChildren(...data.events.slice().reverse().map(row));
  live("event", (e) => { if (!params.get("type") || e.type === params.get("type")) body.prepend(row(e)); });
}

async function agentPage() {
  const data = await api("/api/state").catch((e) => ({ error: e }));
  if (data.error) return setMain("Agent loop", errorBox(data.error));
  const parts = [];
  if (data.time) {
    const entries = (data.time.by_mode || []).map((m) => [m.name, Math.round((m.total_ms || 0) / 600) / 100, m.count, m.open]);
    const max = Math.max(0.01, ...entries.map(([, minutes]) => minutes));
    parts.push(h("h2", {}, "Time by mode"), entries.length
      ? h("div", { class: "chart", role: "img", "aria-label": entries.map(([m, v]) => `${m}: ${v} min`).join(", ") },
        entries.map(([mode, minutes, count, open]) => {
          const bar = h("div", { class: "bar" });
          bar.style.height = `${Math.max(2, Math.round((minutes / max) * 100))}px`;
          return h("figure", {}, bar, h("figcaption", {}, `${mode}: ${minutes} min, ${count} tasks${open ? `, ${open} open` : ""}`));
        }))
      : h("p", { class: "muted" }, "No time tracked yet."),
    h("details", {}, h("summary", {}, "All time tracking"), json(data.time)));
  }
  if (data.todo) {
    const todo = data.todo;
    const sections = todo.sections || [];
    parts.push(h("h2", {}, "TODO progress"),
      todo.error ? errorBox(todo.error) : [
        h("p", {}, h("progress", { max: String(todo.total || 1), value: String(todo.done || 0), "aria-label": "Items done" }), ` ${todo.done || 0} of ${todo.total || 0} done, ${todo.in_progress || 0} in progress`),
        sections.length ? table(["Section", "Done", "In progress", "Total"], sections.map((sec) => h("tr", {},
          h("td", {}, sec.heading || "(top)"), h("td", {}, String(sec.done)), h("td", {}, String(sec.in_progress)), h("td", {}, String(sec.total)))), "TODO sections") : null,
      ]);
  }
  if (data.memory) parts.push(h("h2", {}, "Persistent memory"), data.memory.error ? errorBox(data.memory.error) : json(data.memory));
  setMain("Agent loop", ...(parts.length ? parts : [h("p", { class: "muted" }, "Nothing to show for you.")]));
}

async function loginPage() {
  const session = await fetch("/api/session", { credentials: "same-origin" }).then((r) => r.json()).catch(() => ({}));
  if (session.auth === false) return setMain("Sign in", h("p", {}, "This Baton needs no sign-in. ", h("a", { href: "/ui" }, "Go to the overview.")));
  const key = h("input", { type: "password", id: "credential", autocomplete: "current-password", required: true });
  const message = h("div", { role: "alert" });
  const form = h("form", { class: "panel" }, h("label", { for: "credential" }, "API key or access token"), key,
    h("p", {}, h("button", { type: "submit", id: "sign-in" }, "Sign in")), message);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api("/api/session", { method: "POST", body: { credential: key.value } });
      const next = new URLSearchParams(location.search).get("next");
      location.assign(next && next.startsWith("/ui") ? next : "/ui");
    } catch (e) {
      message.replaceChildren(errorBox(e));
    }
  });
  const next = new URLSearchParams(location.search).get("next");
  const sso = session.oauth
    ? h("p", {}, h("a", { class: "button", id: "sign-in-oauth",
        href: "/api/session/oauth" + (next && next.startsWith("/ui") ? "?next=" + encodeURIComponent(next) : "") },
        "Sign in with the authorization server"))
    : null;
  setMain("Sign in", sso, h("p", {}, "Or paste an API key from serve.auth.api_keys (or an access token)."), form);
  key.focus();
}

start();
