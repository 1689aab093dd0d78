// The dashboard page: polls /api/snapshot (and /api/route for the selected
// endpoint), draws the board, charts (inline SVG) and tables, and sends steps.
// Hand-written, no build step, no third-party code. Every text from the
// server goes into the page through textContent (never innerHTML).
"use strict";

const POLL_MS = 2000;
const COLOURS = { legacy: "#8a94a6", retired: "#b0b7c3", p50: "#9bb8f5", p99: "#2f6fec", mismatch: "#d97706" };
const NEW_PALETTE = ["#2f6fec", "#7c4dff", "#0f9d8a", "#e8590c"];
const state = { selected: null, cards: new Map(), snapshot: null, busy: false, lanes: "" };

// -- small DOM helpers -----------------------------------------------------------------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "style") el.style.cssText = v; // CSSOM: allowed by the page's CSP, a style attribute is not
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const SVGNS = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}
const $ = (sel) => document.querySelector(sel);
function pct(x, digits = 1) { return x === null || x === undefined ? "–" : (x * 100).toFixed(digits) + "%"; }
function num(x, digits = 0) { return x === null || x === undefined ? "–" : Number(x).toFixed(digits); }
function fmtFigure(v) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
  return String(v);
}
function ago(unix) {
  const s = Math.max(0, Math.round(Date.now() / 1000 - unix));
  return s < 90 ? `${s}s ago` : `${Math.round(s / 60)} min ago`;
}
function colourOf(upstream, upstreams) {
  if (COLOURS[upstream]) return COLOURS[upstream];
  const others = upstreams.filter((u) => !COLOURS[u]).sort();
  return NEW_PALETTE[Math.max(0, others.indexOf(upstream)) % NEW_PALETTE.length];
}

// -- fetching --------------------------------------------------------------------------
async function getJson(url) {
  const r = await fetch(url, { credentials: "same-origin", cache: "no-store" });
  if (r.status === 401) { window.location.assign("/login"); throw new Error("logged out"); }
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}
async function postJson(url, body) {
  const r = await fetch(url, {
    method: "POST", credentials: "same-origin", cache: "no-store",
    headers: { "content-type": "application/json", "x-strangler-dashboard": "1" }, body: JSON.stringify(body),
  });
  let data = {};
  try { data = await r.json(); } catch (e) { data = { error: `HTTP ${r.status}` }; }
  return { ok: r.ok, status: r.status, data };
}

// -- header ----------------------------------------------------------------------------
function renderHeader(snap) {
  const board = snap.board || {};
  const p = board.progress || {};
  const planned = p.planned || 0;
  $("[data-testid=progress]").textContent = `${p.migrated ?? 0} / ${planned}`;
  $("#progress-bar").style.width = planned ? `${(100 * (p.migrated || 0)) / planned}%` : "0";
  const t = snap.traffic || {};
  const share = $("[data-testid=share-new]");
  share.textContent = pct(t.share_new);
  share.dataset.value = t.share_new ?? "";
  $("#share-bar").style.width = `${100 * (t.share_new || 0)}%`;
  $("#share-sub").textContent = `${t.served_by_new ?? 0} of ${t.requests ?? 0} requests, last ${Math.round(snap.window_s || 0)} s`;
  const version = $("[data-testid=route-version]");
  version.textContent = board.route_version ?? snap.live_version ?? "–";
  version.dataset.value = board.route_version ?? "";
  $("[data-testid=updated]").textContent = snap.at ? ago(snap.at) : "–";
  $("[data-testid=updated]").dataset.at = snap.at || "";
  $("#source").textContent = board.source ? `board: ${board.source}` : "";
  $("#user").textContent = snap.user ? `logged in as ${snap.user}` : "";
  const errors = $("#errors");
  errors.hidden = !(snap.errors && snap.errors.length);
  errors.textContent = (snap.errors || []).join(" · ");
}

// -- board -----------------------------------------------------------------------------
// The board's columns: the provider's stages in order; a stage only some
// endpoint is at (a canary at another weight, an off-plan mode) goes where it
// belongs: a canary between the canaries around its weight, anything else last.
function stageColumns(board) {
  const stages = [...(board.stages || [])];
  if (!stages.includes("legacy")) stages.unshift("legacy");
  const extra = [];
  for (const c of board.contexts || []) {
    for (const e of c.endpoints) {
      for (const st of [...(e.stages || []), e.stage]) if (!stages.includes(st) && !extra.includes(st)) extra.push(st);
    }
  }
  const weight = (st) => { const m = /^canary-(\d+)$/.exec(st); return m ? Number(m[1]) : null; };
  for (const st of extra) {
    const w = weight(st);
    let at = stages.length;
    if (w !== null) {
      const after = stages.findIndex((x) => (weight(x) !== null && weight(x) > w) || x === "new");
      if (after >= 0) at = after;
    }
    stages.splice(at, 0, st);
  }
  return stages;
}

function renderBoard(snap) {
  const board = snap.board;
  const root = $("#board");
  if (!board || !board.contexts) { root.replaceChildren(h("div", { class: "empty" }, "board unavailable")); return; }
  const stages = stageColumns(board);
  const lanes = board.contexts.map((c) => c.name);
  const layout = JSON.stringify([stages, lanes]);
  if (layout !== state.lanes) {
    // Rebuild the grid's frame; existing cards are moved into it below (their inputs survive).
    state.lanes = layout;
    root.style.gridTemplateColumns = `110px repeat(${stages.length}, minmax(165px, 1fr))`;
    const frame = [h("div", { class: "col-head" }, "context")];
    for (const st of stages) frame.push(h("div", { class: "col-head" }, st));
    for (const c of board.contexts) {
      frame.push(h("div", { class: "lane-head", "data-testid": "context", "data-context": c.name }, c.name,
        c.service ? h("small", {}, `→ ${c.service}`) : null));
      for (const st of stages) frame.push(h("div", { class: "cell", "data-context": c.name, "data-stage": st }));
    }
    root.replaceChildren(...frame);
  }
  const seen = new Set();
  for (const c of board.contexts) {
    for (const e of c.endpoints) {
      seen.add(e.id);
      const card = ensureCard(e);
      updateCard(card, e, snap);
      const cell = root.querySelector(`.cell[data-context="${CSS.escape(c.name)}"][data-stage="${CSS.escape(e.stage)}"]`);
      if (cell && card.parentElement !== cell) cell.append(card);
    }
  }
  for (const [id, card] of state.cards) if (!seen.has(id)) { card.remove(); state.cards.delete(id); }
  if (!state.selected) {
    const first = board.contexts.flatMap((c) => c.endpoints).find((e) => e.mode !== "legacy") ||
      board.contexts.flatMap((c) => c.endpoints)[0];
    if (first) select(first);
  }
}

function ensureCard(e) {
  let card = state.cards.get(e.id);
  if (card) return card;
  const reason = h("input", { type: "text", placeholder: "reason (required)", "data-testid": "reason", maxlength: 300 });
  const force = h("input", { type: "checkbox", "data-testid": "force" });
  const advance = h("button", { class: "advance", "data-testid": "advance", type: "button" }, "Advance");
  const rollback = h("button", { class: "rollback", "data-testid": "rollback", type: "button" }, "Roll back");
  const dynamic = h("div", { class: "dynamic" });
  const forceLabel = h("label", { title: "move although a gate fails (recorded as forced)" }, force, " force");
  const controls = h("div", { class: "controls" }, reason, advance, rollback, forceLabel);
  controls.addEventListener("click", (ev) => ev.stopPropagation());
  card = h("div", { class: "card", "data-testid": "card", "data-id": e.id, onclick: () => select(card.endpoint) }, dynamic, controls);
  advance.addEventListener("click", () => step(card, "advance", reason, force));
  rollback.addEventListener("click", () => step(card, "rollback", reason, force));
  card.parts = { dynamic, advance, rollback, forceLabel };
  state.cards.set(e.id, card);
  return card;
}

function updateCard(card, e, snap) {
  card.endpoint = e;
  card.className = `card mode-${e.mode}` + (state.selected === e.id ? " selected" : "");
  Object.assign(card.dataset, { route: e.live_route || e.route, stage: e.stage, mode: e.mode, weight: e.weight ?? "" });
  const window = (snap.routes || {})[e.live_route || e.route] || null;
  const ups = (window && window.upstreams) || {};
  const legacy = ups.legacy || {};
  const fresh = e.service ? ups[e.service] || {} : {};
  const gates = h("div", { class: "gates", "data-testid": "gates" },
    (e.gates || []).map((g) => h("span", {
      class: `gate ${g.passed ? "pass" : "fail"}`, "data-testid": "gate", "data-gate": g.gate,
      "data-passed": g.passed ? "true" : "false", "data-figure": g.figure ?? "", title: g.detail || "",
    }, `${g.gate} ${fmtFigure(g.figure)} / ${fmtFigure(g.threshold)}`)));
  const mismatches = (snap.mismatch_counts || {})[e.live_route || e.route] || 0;
  const figs = h("div", { class: "figs" },
    h("span", {}, `legacy ${num(legacy.rps, 1)}/s`),
    e.service ? h("span", {}, `${e.service} ${num(fresh.rps, 1)}/s`) : null,
    window && window.shadow_compared ? h("span", {}, `mismatch ${pct(window.mismatch_rate, 2)}`) : null,
    h("span", { "data-testid": "mismatch-count", "data-value": mismatches }, `${mismatches} diffs stored`));
  const stageText = e.mode === "canary" ? `${e.stage} (canary ${e.weight}%)` : e.stage;
  card.parts.dynamic.replaceChildren(
    h("div", { class: "route" }, e.route),
    h("div", { class: "meta" }, h("span", { "data-testid": "stage" }, stageText),
      e.service ? ` → ${e.service}` : "", e.writes ? ` · writes ${e.writes}` : ""),
    gates, figs);
  const { advance, rollback, forceLabel } = card.parts;
  advance.disabled = !e.next_stage || state.busy;
  advance.textContent = e.next_stage ? `Advance → ${e.next_stage}` : "Advance";
  rollback.disabled = e.stage === "legacy" || state.busy;
  rollback.textContent = e.previous_stage ? `Roll back → ${e.previous_stage}` : "Roll back";
  forceLabel.hidden = !(e.gates && e.gates.some((g) => !g.passed)) || !e.next_stage;
}

async function step(card, direction, reasonInput, forceInput) {
  const e = card.endpoint;
  const reason = reasonInput.value.trim();
  const out = $("#step-result");
  if (!reason) { showResult(false, "A reason is required (it goes to the audit log)."); reasonInput.focus(); return; }
  state.busy = true;
  card.parts.advance.disabled = card.parts.rollback.disabled = true;
  const body = { target: e.id, reason, force: forceInput.checked };
  let ok = false, data = {};
  try {
    ({ ok, data } = await postJson(`/api/${direction}`, body));
  } catch (err) {
    data = { error: `the dashboard did not answer (${err.message})` };
  } finally {
    state.busy = false;
  }
  if (ok) {
    reasonInput.value = "";
    forceInput.checked = false;
    showResult(true, `${direction} ${e.id}: now ${data.to_stage} (route version ${data.version})`);
  } else {
    const failed = (data.gates || []).filter((g) => !g.passed).map((g) => `${g.gate} ${fmtFigure(g.figure)} vs ${fmtFigure(g.threshold)}`);
    showResult(false, `${direction} refused: ${data.error || "error"}` + (failed.length ? ` (${failed.join("; ")})` : ""));
  }
  out.dataset.direction = direction;
  await refresh();
}

function showResult(ok, text) {
  const out = $("#step-result");
  out.hidden = false;
  out.className = `step-result ${ok ? "ok" : "bad"}`;
  out.dataset.ok = ok ? "true" : "false";
  out.textContent = text;
}

function select(e) {
  if (!e) return;
  state.selected = e.id;
  for (const card of state.cards.values()) card.classList.toggle("selected", card.dataset.id === e.id);
  $("#detail-title").textContent = e.route;
  refreshDetail();
}

// -- charts (inline SVG) -------------------------------------------------------------
const W = 420, H = 170, PAD = { l: 44, r: 10, t: 8, b: 22 };

function frame(xs, yMax, yFmt) {
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img" });
  const x0 = xs[0], x1 = xs[xs.length - 1] === x0 ? x0 + 1 : xs[xs.length - 1];
  const X = (t) => PAD.l + ((t - x0) / (x1 - x0)) * (W - PAD.l - PAD.r);
  const Y = (v) => H - PAD.b - (v / (yMax || 1)) * (H - PAD.t - PAD.b);
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    svg.append(s("line", { class: "axis", x1: PAD.l, x2: W - PAD.r, y1: Y(v), y2: Y(v) }));
    svg.append(s("text", { x: PAD.l - 4, y: Y(v) + 3, "text-anchor": "end" }, yFmt(v)));
  }
  for (const t of [x0, (x0 + x1) / 2, x1]) {
    const d = new Date(t * 1000);
    svg.append(s("text", { x: X(t), y: H - 6, "text-anchor": "middle" }, d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })));
  }
  return { svg, X, Y };
}

function legend(items) {
  return h("div", { class: "legend" }, items.map(([name, colour, dash]) =>
    h("span", {}, h("i", { style: `background:${colour}${dash ? ";opacity:.6" : ""}` }), name)));
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// series: [{name, colour, dash, points: [[t, v|null]]}]
function lineChart(el, series, yFmt, minMax = 0) {
  const xs = series.flatMap((se) => se.points.map((p) => p[0]));
  const vals = series.flatMap((se) => se.points.map((p) => p[1]).filter((v) => v !== null && v !== undefined));
  if (!xs.length || !vals.length) { el.replaceChildren(h("div", { class: "empty" }, "no data in this window yet")); return; }
  const { svg, X, Y } = frame([Math.min(...xs), Math.max(...xs)], niceMax(Math.max(minMax, ...vals)), yFmt);
  for (const se of series) {
    let d = "", pen = false;
    for (const [t, v] of se.points) {
      if (v === null || v === undefined) { pen = false; continue; }
      d += `${pen ? "L" : "M"}${X(t).toFixed(1)},${Y(v).toFixed(1)}`;
      pen = true;
    }
    if (d) svg.append(s("path", { d, fill: "none", stroke: se.colour, "stroke-width": 1.8, "stroke-dasharray": se.dash ? "4 3" : null, "data-series": se.name }));
  }
  el.replaceChildren(svg, legend(series.map((se) => [se.name, se.colour, se.dash])));
}

// layers: [{name, colour, points: [[t, v]]}] stacked bottom-up
function stackedArea(el, layers, yFmt) {
  const xs = layers.length ? layers[0].points.map((p) => p[0]) : [];
  if (xs.length < 1 || !layers.some((l) => l.points.some((p) => p[1] > 0))) {
    el.replaceChildren(h("div", { class: "empty" }, "no traffic in this window yet")); return;
  }
  const totals = xs.map((_, i) => layers.reduce((a, l) => a + (l.points[i][1] || 0), 0));
  const { svg, X, Y } = frame([xs[0], xs[xs.length - 1]], niceMax(Math.max(...totals)), yFmt);
  const base = xs.map(() => 0);
  for (const l of layers) {
    const top = xs.map((_, i) => base[i] + (l.points[i][1] || 0));
    let d = xs.map((t, i) => `${i ? "L" : "M"}${X(t).toFixed(1)},${Y(top[i]).toFixed(1)}`).join("");
    d += xs.map((t, i) => `L${X(xs[xs.length - 1 - i]).toFixed(1)},${Y(base[xs.length - 1 - i]).toFixed(1)}`).join("") + "Z";
    svg.append(s("path", { d, fill: l.colour, "fill-opacity": 0.75, stroke: l.colour, "data-series": l.name }));
    top.forEach((v, i) => { base[i] = v; });
  }
  el.replaceChildren(svg, legend(layers.map((l) => [l.name, l.colour])));
}

// bars: [{label, value|null, note}] horizontal
function barChart(el, bars, fmt, testid) {
  if (!bars.length) { el.replaceChildren(h("div", { class: "empty" }, "nothing to show")); return; }
  const max = niceMax(Math.max(0, ...bars.map((b) => b.value || 0)));
  const rowH = 24, labelW = 190, width = 480;
  const svg = s("svg", { viewBox: `0 0 ${width} ${bars.length * rowH + 4}`, width: "100%", role: "img" });
  bars.forEach((b, i) => {
    const y = i * rowH + 2;
    const g = s("g", { "data-testid": testid, "data-label": b.label, "data-value": b.value ?? "" });
    g.append(s("text", { x: labelW - 6, y: y + 15, "text-anchor": "end", class: "bar-label" }, b.label));
    const w = b.value ? ((width - labelW - 90) * b.value) / max : 0;
    g.append(s("rect", { x: labelW, y: y + 3, width: Math.max(w, b.value ? 2 : 0), height: rowH - 8, rx: 3, fill: b.colour || COLOURS.p99 }));
    g.append(s("text", { x: labelW + w + 6, y: y + 15, class: "bar-label" }, b.value === null || b.value === undefined ? (b.note || "–") : fmt(b.value)));
    svg.append(g);
  });
  el.replaceChildren(svg);
}

// -- endpoint detail ---------------------------------------------------------------
async function refreshDetail() {
  const e = state.selected && state.cards.get(state.selected)?.endpoint;
  if (!e) return;
  const key = e.live_route || e.route;
  let detail;
  try { detail = await getJson(`/api/route?key=${encodeURIComponent(key)}`); } catch (err) { return; }
  if (state.selected !== e.id) return;
  const points = detail.timeline || [];
  const upstreams = [...new Set(points.flatMap((p) => Object.keys(p.upstreams || {})))];
  upstreams.sort((a, b) => (a === "legacy" ? -1 : b === "legacy" ? 1 : a.localeCompare(b)));
  stackedArea($("#chart-traffic"), upstreams.map((u) => ({
    name: u, colour: colourOf(u, upstreams), points: points.map((p) => [p.at, (p.upstreams[u] || {}).rps || 0]),
  })), (v) => num(v, v < 10 ? 1 : 0));
  const sides = upstreams.filter((u) => u !== "retired");
  lineChart($("#chart-errors"), sides.map((u) => ({
    name: u, colour: colourOf(u, upstreams), points: points.map((p) => [p.at, (p.upstreams[u] || {}).error_rate ?? null]),
  })), (v) => pct(v, 1), 0.01);
  lineChart($("#chart-latency"), sides.flatMap((u) => [
    { name: `${u} p99`, colour: colourOf(u, upstreams), points: points.map((p) => [p.at, (p.upstreams[u] || {}).p99_ms ?? null]) },
    { name: `${u} p50`, colour: colourOf(u, upstreams), dash: true, points: points.map((p) => [p.at, (p.upstreams[u] || {}).p50_ms ?? null]) },
  ]), (v) => num(v, v < 10 ? 1 : 0));
  lineChart($("#chart-mismatch"), [{ name: "mismatch rate", colour: COLOURS.mismatch, points: points.map((p) => [p.at, p.mismatch_rate ?? null]) }],
    (v) => pct(v, 1), 0.01);
  renderDiffs(detail.diffs || []);
}

function prettyBody(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return text; }
}

function renderDiffs(diffs) {
  const root = $("#diffs");
  if (!diffs.length) { root.replaceChildren(h("div", { class: "empty" }, "no mismatch recorded for this route")); return; }
  root.replaceChildren(...diffs.map((m) => {
    if (m.error) return h("div", { class: "empty" }, m.error);
    const rows = (m.differences || []).map((d) => h("tr", { "data-testid": "diff-field", "data-path": d.path },
      h("td", {}, d.path), h("td", { class: "legacy" }, JSON.stringify(d.legacy)), h("td", { class: "new" }, JSON.stringify(d.new))));
    return h("div", { class: "diff", "data-testid": "diff" },
      h("div", { class: "diff-head" }, `${m.method} ${m.target} · ${m.created_at} · legacy ${m.legacy_status} / new ${m.new_status}`),
      h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "field"), h("th", {}, "legacy"), h("th", {}, "new"))), h("tbody", {}, rows),
        h("tr", {}, h("th", {}, "bodies"), h("td", { class: "legacy" }, h("pre", {}, prettyBody(m.legacy_body || ""))),
          h("td", { class: "new" }, h("pre", {}, prettyBody(m.new_body || ""))))));
  }));
}

// -- CDC pipeline ------------------------------------------------------------------
function renderPipeline(p) {
  if (!p) return;
  const tables = p.tables || {};
  const tableEl = $("#chart-tables");
  if (tables.error && !(tables.tables || []).length) tableEl.replaceChildren(h("div", { class: "empty" }, tables.error));
  else {
    barChart(tableEl, (tables.tables || []).map((t) => ({
      label: t.table, value: t.lag_s, note: t.snapshot === "pending" ? "no change yet" : "–",
      colour: t.lag_s !== null && t.lag_s > 5 ? "#c62828" : "#2f6fec",
    })), (v) => `${fmtFigure(v)} s`, "cdc-table");
    if (tables.stale) tableEl.prepend(h("div", { class: "errors" }, `relay report ${tables.report_age_s} s old (${tables.relay_state})`));
  }
  const dlq = $("[data-testid=dlq-size]");
  const size = p.dlq && p.dlq.size;
  const missing = size === undefined || size === null;
  dlq.textContent = missing ? (p.dlq && p.dlq.error) || "–" : String(size);
  dlq.dataset.value = size ?? "";
  dlq.className = missing ? "empty" : `big${size ? " bad" : ""}`;
  const slots = Array.isArray(p.slots) ? p.slots : [];
  $("#slots").textContent = slots.map((sl) => `slot ${sl.slot}: ${(sl.retained_wal_bytes / 1024).toFixed(0)} KiB WAL retained${sl.active ? "" : " (inactive)"}`).join(" · ");
  barChart($("#chart-groups"), (p.groups || []).map((g) => ({
    label: `${g.name} (${g.kind})`, value: g.error ? null : g.lag ?? null, note: g.error ? "unavailable" : "–",
    colour: g.kind === "service" ? "#0f9d8a" : "#7c4dff",
  })), (v) => String(v), "consumer-group");
}

// -- audit ---------------------------------------------------------------------------
function renderAudit(rows) {
  const body = $("table.audit tbody");
  body.replaceChildren(...(rows || []).map((v) => h("tr", {
    class: v.auto ? "auto" : "", "data-testid": "audit-row", "data-version": v.version, "data-auto": v.auto ? "true" : "false",
  }, h("td", {}, `v${v.version}`), h("td", { title: v.created_at }, new Date(v.created_at).toLocaleString()),
    h("td", {}, v.actor), h("td", {}, v.auto ? "AUTO-ROLLBACK" : v.kind), h("td", {}, v.reason))));
}

// -- loop ------------------------------------------------------------------------------
async function refresh() {
  let snap;
  try { snap = await getJson("/api/snapshot"); } catch (err) { return; }
  if (!snap.ready) return;
  state.snapshot = snap;
  renderHeader(snap);
  renderBoard(snap);
  renderPipeline(snap.pipeline);
  renderAudit(snap.audit);
  document.body.dataset.at = snap.at;
}

async function loop() {
  await refresh();
  await refreshDetail();
  setTimeout(loop, POLL_MS);
}
document.addEventListener("DOMContentLoaded", loop);
