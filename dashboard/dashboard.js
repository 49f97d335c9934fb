"use strict";
// HayMaker's dashboard: plain DOM, no framework, no build. Every value from the API is set
// as text (textContent), never parsed as HTML: agent output is untrusted.
(function () {
  const KEY = "haymaker.key";
  const LIVE = ["pending", "running", "canceling"];
  const PHASES = ["provisioning", "monitoring", "tearing_down"];
  const LIVE_REFRESH_MS = 2000;
  const IDLE_REFRESH_MS = 30000;
  const METRICS_REFRESH_MS = 60000;
  const api = location.pathname.replace(/\/dashboard\/?$/, "");
  const state = { run: null, agent: null, timer: null, details: {} };

  // The key arrives once in the address (?code=); keep it in this tab only, then drop it
  // from the address bar and history.
  const params = new URLSearchParams(location.search);
  if (params.has("code")) {
    sessionStorage.setItem(KEY, params.get("code"));
    params.delete("code");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? "?" + rest : "") + location.hash);
  }

  const $ = (id) => document.getElementById(id);

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function row(cells) {
    const tr = document.createElement("tr");
    for (const cell of cells) {
      tr.appendChild(cell instanceof Node ? wrapCell(cell) : el("td", cell === undefined || cell === null ? "" : cell));
    }
    return tr;
  }

  function wrapCell(node) {
    if (node.tagName === "TD") return node;
    const td = document.createElement("td");
    td.appendChild(node);
    return td;
  }

  function fill(tableId, rows) {
    const body = $(tableId).querySelector("tbody");
    body.replaceChildren(...rows);
  }

  async function get(path, query) {
    const url = new URL(api + path, location.origin);
    for (const [name, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
    }
    const response = await fetch(url, { headers: { "x-functions-key": sessionStorage.getItem(KEY) || "" } });
    if (response.status === 401) {
      sessionStorage.removeItem(KEY);
      throw new Error("the key was refused: enter a function key");
    }
    const body = await response.json().catch(() => null);
    if (!response.ok && response.status !== 503) {
      const message = body && body.error ? body.error.message : response.statusText;
      throw new Error(path + ": HTTP " + response.status + " " + message);
    }
    return body;
  }

  function counts(map) {
    return Object.entries(map || {}).map(([name, n]) => n + " " + name).join(", ");
  }

  function outcomes(agents) {
    const found = {};
    for (const agent of agents || []) {
      if (agent.phase === "done" || agent.phase === "failed") {
        found[agent.status || agent.phase] = (found[agent.status || agent.phase] || 0) + 1;
      }
    }
    return counts(found);
  }

  function cost(value) {
    return value === null || value === undefined ? "-" : "$" + Number(value).toFixed(2);
  }

  function showError(error) {
    $("error").hidden = !error;
    $("error").textContent = error ? String(error.message || error) : "";
    if (error && !sessionStorage.getItem(KEY)) askForKey();
  }

  function askForKey() {
    $("key-form").hidden = false;
    $("main").hidden = true;
  }

  // --- runs --------------------------------------------------------------------------

  async function loadRuns() {
    const listing = await get("/runs", { limit: 20 });
    const runs = listing.runs || [];
    await Promise.all(runs.map(async (run) => {
      const known = state.details[run.run_id];
      if (!known || (LIVE.includes(known.status) && run.run_id !== state.run)) {
        state.details[run.run_id] = await get("/runs/" + encodeURIComponent(run.run_id));
      }
    }));
    fill("runs-table", runs.map((run) => {
      const detail = state.details[run.run_id] || run;
      const tr = row([
        run.run_id,
        el("td", detail.status, "status-" + detail.status),
        counts(detail.phases),
        outcomes(detail.agents),
        detail.started_at || run.created_at,
        detail.deadline || "-",
        cost(detail.estimated_cost_usd),
      ]);
      tr.className = "selectable" + (run.run_id === state.run ? " selected" : "");
      tr.dataset.runId = run.run_id;
      tr.addEventListener("click", () => selectRun(run.run_id));
      return tr;
    }));
    return runs.some((run) => LIVE.includes((state.details[run.run_id] || run).status));
  }

  function selectRun(runId) {
    if (state.run !== runId) state.agent = null;
    state.run = runId;
    refresh();
  }

  // --- one run -------------------------------------------------------------------------

  function span(agent) {
    const start = agent.provisioning_at || agent.created_at;
    const end = agent.finished_at || new Date().toISOString();
    return [Date.parse(start), Date.parse(end)];
  }

  // A phase runs from its start to the start of whatever came next (or until now).
  function segments(agent) {
    const marks = PHASES.map((p) => p + "_at").concat(["finished_at"]);
    const found = [];
    PHASES.forEach((phase, index) => {
      const start = agent[phase + "_at"];
      if (!start) return;
      const end = marks.slice(index + 1).map((m) => agent[m]).find((t) => t) || null;
      found.push({ phase, start, end });
    });
    return found;
  }

  function timeline(agent, from, to) {
    const bar = el("div", null, "timeline");
    const width = Math.max(1, to - from);
    for (const part of segments(agent)) {
      const start = Date.parse(part.start);
      const end = part.end ? Date.parse(part.end) : Date.now();
      const segment = el("div", null, "segment phase-" + part.phase);
      if (agent.phase === "failed" && part.phase === "tearing_down") segment.classList.add("failed");
      segment.style.left = (100 * (start - from) / width) + "%";
      segment.style.width = Math.max(0.5, 100 * (end - start) / width) + "%";
      segment.title = part.phase + ": " + part.start + " to " + (part.end || "now");
      bar.appendChild(segment);
    }
    return bar;
  }

  function renderAgents(run) {
    const agents = run.agents || [];
    const spans = agents.map(span).filter((s) => !isNaN(s[0]));
    const from = Math.min(...spans.map((s) => s[0]));
    const to = Math.max(...spans.map((s) => s[1]));
    fill("agents-table", agents.map((agent) => {
      const done = agent.phase === "done" || agent.phase === "failed";
      // Rounds, commands and failed commands so far, as the agent's heartbeats and last event told them ("-": none yet).
      const told = (count) => (count === undefined || count === null ? "-" : String(count));
      const tr = row([agent.agent_id, agent.scenario_id, agent.phase, done ? agent.status : "",
        told(agent.rounds), told(agent.commands), told(agent.commands_failed), timeline(agent, from, to)]);
      tr.className = "selectable" + (agent.agent_id === state.agent ? " selected" : "");
      tr.dataset.agentId = agent.agent_id;
      tr.addEventListener("click", () => { state.agent = agent.agent_id; renderAgentTimeline(run); renderAgents(run); });
      return tr;
    }));
    const choice = $("event-agent");
    const chosen = choice.value;
    choice.replaceChildren(el("option", "all"), ...agents.map((a) => el("option", a.agent_id)));
    choice.firstChild.value = "";
    choice.value = chosen;
    renderAgentTimeline(run);
  }

  function renderAgentTimeline(run) {
    const agent = (run.agents || []).find((a) => a.agent_id === state.agent);
    $("agent-timeline").hidden = !agent;
    if (!agent) return;
    $("agent-timeline-title").textContent = "Agent " + agent.agent_id + " (" + agent.scenario_id + "): " +
      (agent.phase === "done" || agent.phase === "failed" ? "outcome " + agent.status : "now " + agent.phase);
    const items = segments(agent).map((part) => el("li", part.phase + ": " + part.start + " to " + (part.end || "now")));
    if (agent.error) items.push(el("li", "error: " + agent.error, "error"));
    $("agent-phases").replaceChildren(...items);
  }

  function describe(event) {
    switch (event.type) {
      case "command": return event.step + ": " + event.command + " -> " + (event.acted_out ? "acted out locally, exit " : "exit ") +
        event.exit_code + " in " + event.duration_s + "s";
      case "resource_created": case "resource_deleted": return event.kind + " " + event.name;
      case "error": return (event.step ? event.step + ": " : "") + event.message;
      case "failed": return event.error;
      case "started": return "scenario " + event.scenario_id;
      case "heartbeat": return event.rounds !== undefined ? "operate rounds " + event.rounds : "";
      case "phase": return "entering " + event.phase;
      default: return "";
    }
  }

  async function loadEvents(runId) {
    const page = await get("/runs/" + encodeURIComponent(runId) + "/events", {
      limit: 1000, agent: $("event-agent").value, phase: $("event-phase").value,
    });
    fill("events-table", (page.events || []).map((event) =>
      row([event.ts, event.agent_id, event.phase, event.type, el("td", describe(event), "text")])));
  }

  function renderReport(report) {
    const box = $("report");
    if (!report) { box.replaceChildren(el("p", "No report yet: the run is still going.", "muted")); return; }
    const lines = [
      "Report for " + report.run_id + ": " + report.status,
      "agents " + report.agents + ", torn down " + report.torn_down + ", left behind " + report.left_behind,
      "resources created " + report.resources_created + ", removed " + report.resources_removed,
      (report.left || []).length ? "Left behind: " + report.left.map((i) => i.kind + " " + i.name).join(", ") : "Nothing tagged for this run is left.",
    ];
    box.replaceChildren(...lines.map((text) => el("p", text)));
  }

  async function loadRun(runId) {
    const run = await get("/runs/" + encodeURIComponent(runId));
    state.details[runId] = run;
    $("run").hidden = false;
    $("run-title").textContent = "Run " + run.run_id + ": " + run.status;
    $("run-summary").textContent = "created " + run.created_at + ", started " + (run.started_at || "-") +
      ", deadline " + (run.deadline || "-") + ", estimated cost " + cost(run.estimated_cost_usd);
    renderAgents(run);
    const resources = await get("/runs/" + encodeURIComponent(runId) + "/resources");
    fill("resources-table", (resources.resources || []).map((r) => row([r.agent_id, r.kind, r.name, r.action, r.reason || ""])));
    await loadEvents(runId);
    const report = LIVE.includes(run.status) ? null : await get("/runs/" + encodeURIComponent(runId) + "/report").catch(() => null);
    renderReport(report);
    return LIVE.includes(run.status);
  }

  // --- catalog, health, metrics ---------------------------------------------------------

  async function loadCatalog() {
    const catalog = await get("/scenarios");
    fill("catalog-table", (catalog.scenarios || []).map((s) =>
      row([s.id, s.area, s.title, s.cost_per_hour_usd == null ? "-" : s.cost_per_hour_usd])));
  }

  function detailText(detail) {
    if (detail === null || detail === undefined) return "";
    if (Array.isArray(detail)) return detail.map(detailText).join("; ");
    if (typeof detail === "object") {
      if ("name" in detail && "ok" in detail) return detail.name + (detail.ok ? " ok" : " FAILED") + (detail.detail ? ": " + detailText(detail.detail) : "");
      return Object.entries(detail).map(([k, v]) => k + " " + detailText(v)).join(", ");
    }
    return String(detail);
  }

  async function loadHealth() {
    const health = await get("/health");
    $("health-badge").textContent = health.ok ? "healthy" : "unhealthy";
    $("health-badge").className = "badge " + (health.ok ? "ok" : "bad");
    fill("health-table", (health.checks || []).map((c) => row([c.name, c.ok ? "ok" : "FAILED", detailText(c.detail)])));
  }

  async function loadMetrics() {
    const m = await get("/metrics", { since: "P7D" });
    const figures = [
      ["runs", m.runs.total + (m.runs.total ? " (" + counts(m.runs.by_status) + ")" : "")],
      ["agents", m.agents.total],
      ["provisioning p50/p95", fmtSeconds(m.durations.provisioning)],
      ["teardown p50/p95", fmtSeconds(m.durations.teardown)],
      ["resources", m.resources.created + " created, " + m.resources.removed + " removed, " + m.resources.left + " left"],
      ["failures", m.failures_by_step.reduce((n, f) => n + f.count, 0)],
      ["estimated cost", cost(m.cost.estimated_usd)],
    ];
    $("metrics-body").replaceChildren(...figures.map(([name, value]) => {
      const box = el("div", name, "figure");
      box.prepend(el("b", value));
      return box;
    }));
  }

  function fmtSeconds(d) {
    return d.count ? d.p50_s + "s / " + d.p95_s + "s" : "-";
  }

  // --- refresh ---------------------------------------------------------------------------

  async function refresh() {
    clearTimeout(state.timer);
    if (!sessionStorage.getItem(KEY)) { askForKey(); return; }
    $("key-form").hidden = true;
    $("main").hidden = false;
    let live = false;
    try {
      // The chosen run first: the runs table then shows the state its panel shows.
      if (state.run) live = await loadRun(state.run);
      live = (await loadRuns()) || live;
      // The 7-day figures read every run of the week: fetched once a minute, not awaited.
      if (Date.now() - (state.metricsAt || 0) > METRICS_REFRESH_MS) {
        state.metricsAt = Date.now();
        loadMetrics().catch(showError);
      }
      await Promise.all([loadHealth(), state.catalogLoaded ? null : loadCatalog().then(() => { state.catalogLoaded = true; })]);
      showError(null);
    } catch (error) {
      showError(error);
      if (!sessionStorage.getItem(KEY)) return;
    }
    $("refresh-state").textContent = (live ? "live: refreshing every " + LIVE_REFRESH_MS / 1000 + " s" : "idle") +
      " (updated " + new Date().toLocaleTimeString() + ")";
    document.body.dataset.live = String(live);
    state.timer = setTimeout(refresh, live ? LIVE_REFRESH_MS : IDLE_REFRESH_MS);
  }

  $("key-entry").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, $("key-input").value.trim());
    $("key-input").value = "";
    refresh();
  });
  $("event-agent").addEventListener("change", () => state.run && loadEvents(state.run).catch(showError));
  $("event-phase").addEventListener("change", () => state.run && loadEvents(state.run).catch(showError));
  refresh();
})();
