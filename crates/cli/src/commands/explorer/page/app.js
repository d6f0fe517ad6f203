// aikernel explorer: one page, no library. Polls the server's JSON API (served by
// `aikernel explorer`) and renders the view named by the URL's hash.
"use strict";

const POLL_MS = 3000;
const PAGE = 20;
const $ = (sel) => document.querySelector(sel);

// Every value from the chain is text: escaped before it reaches innerHTML.
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) =>
  ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
class Raw { constructor(s) { this.s = s; } }
const raw = (s) => new Raw(s);
function html(strings, ...values) {
  let out = strings[0];
  values.forEach((v, i) => {
    const part = Array.isArray(v) ? v.map((x) => (x instanceof Raw ? x.s : esc(x))).join("")
      : v instanceof Raw ? v.s : esc(v);
    out += part + strings[i + 1];
  });
  return raw(out);
}

const short = (a) => (a && a.length > 14 ? `${a.slice(0, 8)}…${a.slice(-4)}` : a ?? "");
const wei = (s, unit) => {
  if (s === undefined || s === null) return "";
  const v = Number(BigInt(s)) / 1e18;
  return `${v.toLocaleString(undefined, { maximumFractionDigits: v < 1 ? 8 : 3 })} ${unit}`;
};
const eth = (s) => wei(s, "ETH");
const eai = (s) => wei(s, "EAI");
const secs = (s) => (s === null || s === undefined ? "–" : `${Math.round(s * 10) / 10} s`);
const when = (t) => (t ? new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC" : "");
const statusTag = (s) => html`<span class="status ${s}">${s}</span>`;

let timer = null;
let lastBlock = null;

function banner(message) {
  const b = $("#banner");
  b.hidden = !message;
  b.textContent = message || "";
}

async function api(path, options) {
  let res;
  try {
    res = await fetch(path, options);
  } catch (e) {
    throw new Error(`the explorer server does not answer (${e.message})`);
  }
  const body = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  if (!res.ok) {
    const err = new Error(body.error || `HTTP ${res.status}`);
    err.status = res.status;
    err.chain = body.chainUnreachable;
    throw err;
  }
  return body;
}

function route() {
  const hash = location.hash.replace(/^#\/?/, "") || "prompts";
  const [path, query] = hash.split("?");
  const parts = path.split("/");
  const params = new URLSearchParams(query || "");
  return { view: parts[0], id: parts[1], params };
}

async function refresh() {
  clearTimeout(timer);
  const r = route();
  document.querySelectorAll("nav a").forEach((a) =>
    a.classList.toggle("active", a.dataset.view === r.view || (r.view === "prompt" && a.dataset.view === "prompts")));
  try {
    const views = { prompts: viewPrompts, prompt: viewPrompt, network: viewNetwork, nodes: viewNodes, models: viewModels };
    await (views[r.view] || viewPrompts)(r);
    banner(null);
  } catch (e) {
    if (e.status === 404 || e.status === 400) {
      $("#view").innerHTML = html`<p class="error" id="not-found">${e.message}</p>`.s;
      banner(null);
    } else {
      banner(e.chain ? `Cannot read the chain: ${e.message}. Retrying…` : `Error: ${e.message}. Retrying…`);
    }
  }
  timer = setTimeout(refresh, POLL_MS);
}

// Records the block shown; false when this view was already drawn at this block (nothing to
// redraw: the poll keeps what the reader is looking at as it is).
let drawn = null;
function setChain(block) {
  lastBlock = block;
  $("#chain").textContent = `block ${block}`;
  const key = `${location.hash}@${block}`;
  if (drawn === key) return false;
  drawn = key;
  return true;
}

// ---------------------------------------------------------------- prompts
function committee(members) {
  return members.map((m) => {
    const cls = m.agreement === "agreed" ? "agreed" : m.agreement === "disagreed" ? "disagreed" : m.state;
    const marks = `${m.committed ? "C" : "·"}${m.revealed ? "R" : "·"}${m.declined ? "D" : ""}`;
    const title = `${m.node}: ${m.state}${m.agreement ? `, ${m.agreement}` : ""}`;
    return html`<span class="member ${cls}" title="${title}">${short(m.node)} ${marks}</span>`;
  });
}

function answer(result, refunded) {
  if (refunded) return "refunded";
  if (!result) return "–";
  if (result.success) return result.display;
  return result.error ? `error ${result.errorCode} ${result.error}` : "undecodable";
}

async function viewPrompts(r) {
  const page = Math.max(0, Number(r.params.get("page") || 0));
  const { block, data } = await api(`/api/prompts?offset=${page * PAGE}&limit=${PAGE}`);
  if (!setChain(block)) return;
  const rows = data.prompts.map((p) => html`<tr data-prompt="${p.promptId}">
    <td><a href="#/prompt/${p.promptId}">${p.promptId}</a></td>
    <td>${statusTag(p.status)}</td>
    <td class="mono" title="${p.requester}">${short(p.requester)}</td>
    <td>${p.modelId}</td>
    <td class="mono">${p.schema ?? "text"}</td>
    <td>${committee(p.committee)}</td>
    <td class="num">${p.escalations}</td>
    <td class="answer">${answer(p.result, p.refunded)}</td>
    <td class="num">${p.totalGas.toLocaleString()}</td>
    <td class="num">${secs(p.latencySeconds)}</td></tr>`);
  const pages = Math.max(1, Math.ceil(data.total / PAGE));
  $("#view").innerHTML = html`<h2>Latest prompts <span class="muted">(${data.total} in all)</span></h2>
    <table id="prompts-table"><thead><tr><th>id</th><th>status</th><th>requester</th><th>model</th>
    <th>schema</th><th>committee (C commit, R reveal)</th><th class="num">escalations</th><th>answer</th>
    <th class="num">gas</th><th class="num">submission → callback</th></tr></thead>
    <tbody>${rows.length ? rows : html`<tr><td colspan="10" class="muted">no prompts yet</td></tr>`}</tbody></table>
    <div class="pager">
      <a href="#/prompts?page=${Math.max(0, page - 1)}" ${raw(page === 0 ? 'hidden' : '')}>← newer</a>
      <span class="muted">page ${page + 1} of ${pages}</span>
      <a href="#/prompts?page=${page + 1}" ${raw(page + 1 >= pages ? 'hidden' : '')}>older →</a>
    </div>`.s;
}

// ---------------------------------------------------------------- one prompt
let verdictHtml = {};

async function viewPrompt(r) {
  const { block, data: p } = await api(`/api/prompts/${encodeURIComponent(r.id)}`);
  if (!setChain(block)) return;
  const req = p.request;
  const rounds = p.rounds.map((round) => html`<section class="round">
    <h3>Round ${round.round} ${round.failed ? raw('<span class="status refunded">no decision, escalated</span>') : ""}</h3>
    <p class="muted">seed block ${round.seedBlock ?? "?"}; commit by ${when(round.commitDeadline)}, reveal by ${when(round.revealDeadline)}</p>
    <table class="committee"><thead><tr><th>node</th><th>state</th><th>commit</th><th>reveal</th><th>round hash</th><th>agreement</th></tr></thead>
    <tbody>${round.committee.map((m) => html`<tr>
      <td class="mono">${m.node}</td><td>${m.stateName}</td>
      <td>${m.commit ? `+${m.commit.secondsAfterSubmission} s` : m.decline ? "declined" : "–"}</td>
      <td>${m.reveal ? `+${m.reveal.secondsAfterSubmission} s` : "–"}</td>
      <td class="mono">${m.reveal ? short(m.reveal.roundHash) : ""}</td>
      <td class="member ${m.agreement ?? ""}">${m.agreement ?? "–"}</td></tr>`)}</tbody></table></section>`);
  const events = p.timeline.map((e) => html`<tr>
    <td>${e.event}</td><td>${e.round ?? ""}</td><td class="mono">${e.node ? short(e.node) : ""}</td>
    <td class="num">${e.block}</td><td>${when(e.timestamp)}</td><td class="num">+${e.secondsAfterSubmission ?? 0} s</td>
    <td class="num">${(e.gasUsed ?? 0).toLocaleString()}</td><td class="mono" title="${e.tx}">${short(e.tx)}</td></tr>`);
  const settled = p.settled;
  const canVerify = p.status === "settled";
  $("#view").innerHTML = html`<h2>Prompt ${p.promptId} ${statusTag(p.status)}</h2>
    <section><dl>
      <dt>requester</dt><dd class="mono">${p.requester}</dd>
      <dt>model</dt><dd>${p.modelId}</dd>
      <dt>schema</dt><dd class="mono">${req.schema ?? "text"}</dd>
      <dt>input</dt><dd>${req.inputHash && !/^0x0+$/.test(req.inputHash) ? `off chain, sha256 ${req.inputHash}` : req.input}</dd>
      <dt>committee size</dt><dd>${req.committeeSize} (max tokens ${req.maxTokens}, temperature ${req.temperature})</dd>
      <dt>fee</dt><dd>${eth(p.fee)}</dd>
      <dt>answer</dt><dd id="answer">${answer(settled && settled.result, !!p.refunded)}</dd>
      <dt>escalations</dt><dd>${p.escalations.length}</dd>
      <dt>gas</dt><dd>${p.totalGas.toLocaleString()} in ${p.transactions.length} transactions</dd>
      <dt>submission → ${p.refunded ? "refund" : "callback"}</dt><dd>${secs((settled || p.refunded || {}).secondsAfterSubmission)}</dd>
      ${settled ? html`<dt>output hash</dt><dd class="mono">${settled.outputHash}</dd>` : ""}
      ${p.callbackOk === null ? "" : html`<dt>callback</dt><dd>${p.callbackOk ? "delivered" : "FAILED"}</dd>`}
    </dl>
    <p><button id="reverify" ${raw(canVerify ? "" : "disabled")}>Re-verify</button>
      <span class="muted">re-runs the prompt from chain data on the explorer's machine, as <code>aikernel verify ${p.promptId}</code></span></p>
    <div id="verdict">${raw(verdictHtml[p.promptId] || "")}</div></section>
    <h2>Timeline</h2>
    <table id="timeline"><thead><tr><th>event</th><th>round</th><th>node</th><th class="num">block</th><th>time</th>
      <th class="num">after submission</th><th class="num">gas</th><th>tx</th></tr></thead><tbody>${events}</tbody></table>
    <h2>Committees</h2>${rounds}`.s;
  $("#reverify").onclick = () => reverify(p.promptId);
}

async function reverify(id) {
  const button = $("#reverify");
  button.disabled = true;
  $("#verdict").innerHTML = html`<p class="muted">re-running prompt ${id}…</p>`.s;
  let out;
  try {
    const v = await api(`/api/prompts/${id}/verify`, { method: "POST" });
    out = html`<div class="verdict"><dl>
      <dt>settled output hash</dt><dd class="mono" id="settled-hash">${v.settledHash}</dd>
      <dt>recomputed output hash</dt><dd class="mono" id="recomputed-hash">${v.recomputedHash}</dd>
      <dt>verdict</dt><dd><span class="${v.verdict}" id="verdict-word">${v.verdict}</span>
        <span class="muted">(${v.tokens} tokens, ${v.contextEntries} context entries, ${secs(v.seconds)})</span></dd></dl></div>`.s;
  } catch (e) {
    out = html`<div class="verdict"><span class="MISMATCH">re-verification failed:</span> ${e.message}</div>`.s;
  }
  verdictHtml[id] = out;
  const here = $("#verdict");
  if (here) here.innerHTML = out;
  if ($("#reverify")) $("#reverify").disabled = false;
}

// ---------------------------------------------------------------- network
function bars(points, w, h) {
  const max = Math.max(1, ...points.map((p) => p.count));
  const bw = (w - 40) / points.length;
  const rects = points.map((p, i) => {
    const bh = ((h - 30) * p.count) / max;
    const x = 30 + i * bw;
    const label = i % 4 === 0 ? `<text x="${x}" y="${h - 4}">${new Date(p.hourStart * 1000).toISOString().slice(11, 16)}</text>` : "";
    return `<rect x="${x + 1}" y="${h - 18 - bh}" width="${bw - 2}" height="${bh}" fill="#2b59c3"><title>${p.count} prompts</title></rect>${label}`;
  }).join("");
  return `<svg id="chart-prompts" width="${w}" height="${h}" role="img" aria-label="prompts per hour">
    <text x="4" y="12">${max}</text><text x="4" y="${h - 18}">0</text>${rects}</svg>`;
}

// EAI emitted from `start` to `t`: the rate halves every period (GPUManagement._emitted).
function emittedAt(e, t) {
  if (!e.start || t <= e.start) return 0;
  const rate = Number(BigInt(e.initialRate)) / 1e18;
  const h = e.halvingPeriod;
  let total = 0, dt = t - e.start, i = 0;
  for (; dt >= h && i < 128; i++, dt -= h) total += (rate / 2 ** i) * h;
  return total + (rate / 2 ** i) * dt;
}

function emission(e, now, w, h) {
  const budget = Number(BigInt(e.budget)) / 1e18;
  if (!e.start || budget === 0) return `<p class="muted">block rewards have not started</p>`;
  const end = e.start + 4 * e.halvingPeriod;
  const x = (t) => 40 + ((w - 50) * (t - e.start)) / (end - e.start);
  const y = (v) => h - 20 - ((h - 30) * v) / budget;
  const pts = Array.from({ length: 81 }, (_, i) => e.start + (i * (end - e.start)) / 80)
    .map((t) => `${x(t).toFixed(1)},${y(emittedAt(e, t)).toFixed(1)}`).join(" ");
  const emitted = Number(BigInt(e.emitted)) / 1e18;
  return `<svg id="chart-emission" width="${w}" height="${h}" role="img" aria-label="EAI emitted against the budget">
    <line x1="40" x2="${w - 10}" y1="${y(budget)}" y2="${y(budget)}" stroke="#c0392b" stroke-dasharray="4 3"/>
    <text x="42" y="${y(budget) - 3}">budget ${budget.toLocaleString()} EAI</text>
    <polyline points="${pts}" fill="none" stroke="#2b59c3" stroke-width="2"/>
    <circle cx="${x(Math.min(now, end))}" cy="${y(emitted)}" r="4" fill="#1f8a4c"><title>${emitted} EAI emitted now</title></circle>
    <text x="42" y="${h - 6}">start</text><text x="${w - 90}" y="${h - 6}">4 halvings</text></svg>`;
}

async function viewNetwork() {
  const { block, data: n } = await api("/api/network");
  if (!setChain(block)) return;
  const e = n.emission;
  $("#view").innerHTML = html`<h2>Network <span class="muted">chain ${n.chainId}, kernel ${n.kernel}</span></h2>
    <div class="cards" id="network-cards">
      <div class="card"><b>${n.prompts.total}</b>prompts</div>
      <div class="card"><b>${n.prompts.settled}</b>settled</div>
      <div class="card"><b>${n.prompts.refunded}</b>refunded</div>
      <div class="card"><b>${n.prompts.pending}</b>pending</div>
      <div class="card"><b id="median-latency">${secs(n.medianLatencySeconds)}</b>median submission → callback (${n.latencySamples} prompts)</div>
      <div class="card"><b>${eai(e.emitted)}</b>emitted of ${eai(e.budget)}</div>
    </div>
    <h2>Prompts per hour (last 24 hours, UTC)</h2>${raw(bars(n.promptsPerHour, 720, 170))}
    <h2>EAI block rewards emitted against the budget</h2>${raw(emission(e, n.timestamp, 720, 200))}`.s;
}

// ---------------------------------------------------------------- nodes, models
async function viewNodes() {
  const { block, data } = await api("/api/nodes");
  if (!setChain(block)) return;
  const rows = data.nodes.map((n) => html`<tr>
    <td class="mono">${n.address}</td><td>${n.status}${n.eligible ? "" : " (not eligible)"}</td>
    <td>${n.hardware.deviceModel} ×${n.hardware.deviceCount}, ${n.hardware.memoryMiB} MiB</td>
    <td>${n.models.join(", ")}</td><td class="num">${eai(n.stake)}</td>
    <td class="num">${eai(n.unbonding)}${n.unbondingEnd ? html` <span class="muted">until ${when(n.unbondingEnd)}</span>` : ""}</td>
    <td>${n.jailed ? `until ${when(n.jailedUntil)}` : "–"}</td>
    <td class="num">${eth(n.earnings.eth)}<br>${eai(n.earnings.eai)}</td>
    <td class="num">${n.slashes}${n.slashes ? html`<br>${eai(n.slashed)}` : ""}</td></tr>`);
  $("#view").innerHTML = html`<h2>Nodes</h2><table id="nodes-table"><thead><tr><th>address</th><th>status</th>
    <th>hardware</th><th>models</th><th class="num">stake</th><th class="num">unbonding</th><th>jailed</th>
    <th class="num">earnings</th><th class="num">slashes</th></tr></thead><tbody>${rows}</tbody></table>`.s;
}

async function viewModels() {
  const { block, data } = await api("/api/models");
  if (!setChain(block)) return;
  const rows = data.models.map((m) => html`<tr>
    <td>${m.id}</td><td>${m.name}</td><td class="mono">${m.contentRoot}</td>
    <td class="num">${(m.size / 1e6).toFixed(1)} MB</td><td>${m.uris.map((u) => html`<div class="mono">${u}</div>`)}</td>
    <td class="num">${m.feePerToken} wei/token</td><td>${m.driver}</td><td>${m.active ? "yes" : "no"}</td></tr>`);
  $("#view").innerHTML = html`<h2>Models</h2><table id="models-table"><thead><tr><th>id</th><th>name</th><th>root</th>
    <th class="num">size</th><th>URIs</th><th class="num">fee</th><th>driver</th><th>active</th></tr></thead>
    <tbody>${rows}</tbody></table>`.s;
}

window.addEventListener("hashchange", refresh);
refresh();
