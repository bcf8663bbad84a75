// Runs (list, one run with its live graph), workflows (graph, start form).
import { h, s, api, live, serialized, badge, time, duration, json, table, errorBox, actionButton, setMain, announce } from "./core.js";
import { schemaForm, inputsSchema } from "./forms.js";

// The workflow graph as SVG; `states` maps step id → state; `onSelect(id)` on click/Enter.
export function drawGraph(graph, states, onSelect, items) {
  const byId = Object.fromEntries(graph.nodes.map((n) => [n.id, n]));
  const edges = graph.edges.map((e) => {
    const a = byId[e.from], b = byId[e.to];
    if (!a || !b) return null;
    const x1 = a.x + a.w, y1 = a.y + a.h / 2, x2 = b.x, y2 = b.y + b.h / 2, mid = (x1 + x2) / 2;
    return s("path", { class: "edge", d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2 - 6},${y2}`, "marker-end": "url(#arrow)" });
  });
  const nodes = graph.nodes.map((n) => {
    const state = (states && states[n.id]) || "pending";
    const label = `${n.id}: ${n.label}, ${state}`;
    const g = s("g", {
      class: `node state-${state}`, tabindex: "0", role: "button", "data-step": n.id, "data-state": state,
      "aria-label": label, transform: `translate(${n.x},${n.y})`,
    },
    s("title", {}, label),
    s("rect", { width: n.w, height: n.h, rx: 6 }),
    s("text", { x: 8, y: 17 }, n.id.length > 22 ? n.id.slice(0, 21) + "…" : n.id),
    s("text", { x: 8, y: 34, class: "sub" }, `${state}${n.for_each ? " · " + eachSummary(items && items[n.id]) : ""}`));
    if (onSelect) {
      g.addEventListener("click", () => onSelect(n.id));
      g.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); onSelect(n.id); } });
    }
    return g;
  });
  return h("div", { class: "dag-wrap" },
    s("svg", { class: "dag", width: graph.width, height: Math.max(graph.height, 60), viewBox: `0 0 ${graph.width} ${Math.max(graph.height, 60)}`, role: "group", "aria-label": "Workflow graph" },
      s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto" },
        s("path", { d: "M0,0 L10,5 L0,10 z", fill: "#57606a" }))),
      edges, nodes));
}

// A for_each node's items: "3/5 done", or "each" before any item started.
function eachSummary(items) {
  if (!items || !items.total) return "each";
  const done = (items.by_status.succeeded || 0) + (items.by_status.skipped || 0);
  const failed = items.by_status.failed || 0;
  return `${done}/${items.total} done${failed ? `, ${failed} failed` : ""}`;
}

export async function runsPage() {
  const params = new URLSearchParams(location.search);
  const workflows = await api("/api/workflows").catch(() => ({ workflows: [] }));
  const wf = h("select", { id: "f-workflow" }, h("option", { value: "" }, "any"),
    workflows.workflows.map((w) => h("option", { value: w.name, selected: params.get("workflow") === w.name || undefined }, w.name)));
  const status = h("select", { id: "f-status" }, ["", "queued", "running", "succeeded", "failed", "cancelled"].map((v) =>
    h("option", { value: v, selected: params.get("status") === v || undefined }, v || "any")));
  const origin = h("input", { type: "text", id: "f-origin", value: params.get("origin") || "", placeholder: "e.g. schedule:" });
  const since = h("select", { id: "f-since" }, [["", "any time"], ["3600000", "last hour"], ["86400000", "last day"], ["604800000", "last week"]].map(([v, t]) =>
    h("option", { value: v, selected: params.get("within") === v || undefined }, t)));
  const form = h("form", { class: "filters", role: "search" },
    h("div", {}, h("label", { for: "f-workflow" }, "Workflow"), wf),
    h("div", {}, h("label", { for: "f-status" }, "Status"), status),
    h("div", {}, h("label", { for: "f-origin" }, "Origin"), origin),
    h("div", {}, h("label", { for: "f-since" }, "Created"), since),
    h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    if (wf.value) q.set("workflow", wf.value);
    if (status.value) q.set("status", status.value);
    if (origin.value) q.set("origin", origin.value);
    if (since.value) q.set("within", since.value);
    location.assign("/ui/runs" + (q.toString() ? "?" + q : ""));
  });
  const query = new URLSearchParams();
  for (const key of ["workflow", "status", "origin", "before"]) if (params.get(key)) query.set(key, params.get(key));
  if (params.get("within")) query.set("since", String(Date.now() - Number(params.get("within"))));
  const list = h("div", {});
  setMain("Runs", form, list);
  const page = await api("/api/runs?" + query).catch((e) => ({ error: e }));
  if (page.error) return list.replaceChildren(errorBox(page.error));
  const rows = page.runs.map((r) => h("tr", {},
    h("td", {}, h("a", { href: "/ui/runs/" + encodeURIComponent(r.id) }, r.id)),
    h("td", {}, r.workflow), h("td", {}, badge(r.status)), h("td", {}, r.origin || ""),
    h("td", {}, time(r.created_at)), h("td", {}, duration(r.started_at, r.finished_at))));
  const next = page.next ? (() => { const q = new URLSearchParams(params); q.set("before", page.next); return h("a", { href: "/ui/runs?" + q, rel: "next" }, "Older runs →"); })() : null;
  list.replaceChildren(
    rows.length ? table(["Run", "Workflow", "Status", "Origin", "Created", "Took"], rows, "Runs") : h("p", { class: "muted" }, "No runs match."),
    h("p", {}, params.get("before") ? h("a", { href: "/ui/runs" }, "← Newest") : null, " ", next));
}

export async function runPage(id) {
  let run;
  let selected = null;
  const graphBox = h("div", {});
  const details = h("section", { "aria-labelledby": "step-title" });
  const head = h("div", {});
  const actions = h("div", { class: "actions" });
  setMain("Run " + id, head, actions, h("h2", {}, "Steps"), legend(), graphBox, details);
  const render = () => {
    const states = Object.fromEntries(Object.entries(run.steps).map(([k, v]) => [k, v.state]));
    const items = Object.fromEntries(Object.entries(run.steps).map(([k, v]) => [k, v.items]));
    graphBox.replaceChildren(drawGraph(run.graph, states, (step) => { selected = step; showStep(); }, items));
    head.replaceChildren(h("p", {}, "Workflow ", h("a", { href: "/ui/workflows/" + encodeURIComponent(run.workflow) }, run.workflow), " · ",
      h("span", { id: "run-status" }, badge(run.status)), " · started ", time(run.created_at),
      run.parent_run ? [" · sub-run of ", h("a", { href: "/ui/runs/" + encodeURIComponent(run.parent_run) }, run.parent_run)] : null,
      run.error ? h("span", { class: "error" }, " · " + run.error) : null));
    const finished = ["succeeded", "failed", "cancelled"].includes(run.status);
    actions.replaceChildren(...[
      finished ? null : actionButton("Cancel run", () => api(`/api/runs/${encodeURIComponent(id)}/cancel`, { method: "POST" }).then(reload), { danger: true }),
      run.status === "failed" || run.status === "cancelled" ? actionButton("Retry from failed", () => api(`/api/runs/${encodeURIComponent(id)}/retry`, { method: "POST" }).then(reload)) : null].filter(Boolean));
    showStep();
  };
  const showStep = () => {
    if (!selected) {
      const waiting = Object.entries(run.steps).find(([, v]) => v.state === "approval");
      if (waiting) selected = waiting[0];
    }
    if (!selected || !run.steps[selected]) return details.replaceChildren(h("p", { class: "muted", id: "step-title" }, "Choose a step in the graph to see its output, attempts and errors."));
    const step = run.steps[selected];
    const node = run.graph.nodes.find((n) => n.id === selected) || {};
    const parts = [h("h2", { id: "step-title" }, "Step ", selected, " ", badge(step.state)), h("p", {}, node.label || "")];
    if (step.state === "approval") {
      const comment = h("input", { type: "text", id: "approval-comment" });
      parts.push(h("div", { class: "panel" }, h("p", {}, step.prompt || "Approve?"),
        h("label", { for: "approval-comment" }, "Comment"), comment,
        h("div", { class: "actions" },
          actionButton("Approve", () => api(`/api/runs/${encodeURIComponent(id)}/approve`, { method: "POST", body: { step: selected, comment: comment.value } }).then(reload)),
          actionButton("Reject", () => api(`/api/runs/${encodeURIComponent(id)}/reject`, { method: "POST", body: { step: selected, comment: comment.value } }).then(reload), { danger: true }))));
    }
    if (step.decision) parts.push(h("p", {}, (step.decision.approved ? "Approved" : "Rejected") + " by " + step.decision.by + (step.decision.comment ? ": " + step.decision.comment : "")));
    if (step.child_run) parts.push(h("p", {}, "Sub-run: ", h("a", { href: "/ui/runs/" + encodeURIComponent(step.child_run) }, step.child_run)));
    parts.push(h("p", {}, `Attempts: ${step.attempts}`, step.started_at ? [" · took ", duration(step.started_at, step.finished_at)] : null));
    if (step.items) parts.push(h("p", {}, `Items: ${step.items.total} — ` + Object.entries(step.items.by_status).map(([k, v]) => `${v} ${k}`).join(", ")));
    if (step.error) parts.push(h("p", { class: "error" }, step.error));
    for (const f of step.failed_attempts || []) parts.push(h("p", {}, `Attempt ${f.attempt} failed: ${f.error}`));
    parts.push(h("h3", {}, "Inputs of the run"), json(run.inputs));
    if (step.output !== null && step.output !== undefined) parts.push(h("h3", {}, "Output"), json(step.output));
    details.replaceChildren(...parts);
  };
  const load = async () => {
    run = await api("/api/runs/" + encodeURIComponent(id));
    render();
  };
  try { await load(); } catch (e) { return head.replaceChildren(errorBox(e)); }
  const reload = serialized(async () => {
    await load();
    announce(`Run ${run.status}`);
  });
  live("run", (event) => {
    if (event.change === "lagged" || event.change === "hello" || event.run === id) reload();
  });
}

function legend() {
  return h("div", { class: "legend", "aria-label": "States" },
    ["pending", "running", "retrying", "sleeping", "approval", "succeeded", "failed", "skipped", "cancelled"].map(badge));
}

export async function workflowsPage() {
  const data = await api("/api/workflows").catch((e) => ({ error: e }));
  if (data.error) return setMain("Workflows", errorBox(data.error));
  setMain("Workflows", data.workflows.length
    ? table(["Workflow", "Description", "Steps"], data.workflows.map((w) => h("tr", {},
      h("td", {}, h("a", { href: "/ui/workflows/" + encodeURIComponent(w.name) }, w.name)),
      h("td", {}, w.description || ""), h("td", {}, String(w.steps)))), "Workflows")
    : h("p", { class: "muted" }, "No workflows are defined."));
}

export async function workflowPage(name) {
  const data = await api("/api/workflows/" + encodeURIComponent(name)).catch((e) => ({ error: e }));
  if (data.error) return setMain(name, errorBox(data.error));
  const form = schemaForm(inputsSchema(data.inputs), { idPrefix: "wf" });
  const message = h("div", { role: "status" });
  const start = h("form", { class: "panel" }, h("h2", {}, "Start a run"), form.element, h("button", { type: "submit" }, "Start run"), message);
  start.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const inputs = form.value();
      const started = await api("/api/runs", { method: "POST", body: { workflow: name, inputs } });
      const runId = started.run || started.run_id || started.id;
      location.assign("/ui/runs/" + encodeURIComponent(runId));
    } catch (e) {
      message.replaceChildren(errorBox(e));
    }
  });
  setMain("Workflow " + name, h("p", {}, data.description || ""),
    h("p", {}, h("a", { href: "/ui/runs?workflow=" + encodeURIComponent(name) }, "Its runs")),
    drawGraph(data.graph, {}, null), start);
}
