// hearsay's dashboard: draws what /api/state and the /ws pushes say. The layout is d3-force's
// (vendored, /vendor/d3.js); everything else is plain canvas and DOM.
"use strict";

const COLOURS = {
  seed: "#f0c040", joining: "#7f8c8d", live: "#4fa3e0",
  suspected: "#f39c12", removed: "#e74c3c", killed: "#9b59b6",
};
const COUNTS = ["peers", "links", "messages", "deliveries", "suspicions", "removals", "false_accusations"];

const graph = document.getElementById("graph");
const ctx = graph.getContext("2d");
const tip = document.getElementById("tip");
let nodes = [], links = [], byAddr = new Map(), hover = null;
let wave = null, picked = null, lastWaveKey = "";
let filter = "", lastSeq = 0;
const feedLines = [];

const sim = d3.forceSimulation()
  .force("link", d3.forceLink().distance(28).strength(0.4))
  .force("charge", d3.forceManyBody().strength(-28).distanceMax(260))
  .force("x", d3.forceX(0).strength(0.03))
  .force("y", d3.forceY(0).strength(0.03))
  .alphaDecay(0.03)
  .on("tick", draw);

function size() {
  const r = window.devicePixelRatio || 1;
  graph.width = graph.clientWidth * r;
  graph.height = graph.clientHeight * r;
  ctx.setTransform(r, 0, 0, r, 0, 0);
  draw();
}
window.addEventListener("resize", size);

function radius(n) { return n.state === "seed" ? 7 : 2.5 + Math.sqrt(n.degree) * 1.4; }

function colour(n) {
  // The picked message's spread shows on live peers; other states keep their colour.
  if (wave && n.state === "live") {
    const at = wave.at.get(n.addr);
    if (n.addr === wave.origin) return "#2ecc71";
    if (at !== undefined) {
      const f = wave.last > 0 ? at / wave.last : 0;
      return `hsl(${120 - 70 * f}, 75%, ${55 - 15 * f}%)`;
    }
  }
  return COLOURS[n.state] || "#ccc";
}

// Where the overlay's peers lie, so that the drawing fills the canvas below the seeds' row.
let view = { k: 1, x: 0, y: 0 };
function fitView() {
  const w = graph.clientWidth, h = graph.clientHeight - 60;
  const peers = nodes.filter((n) => n.state !== "seed");
  if (!peers.length) return;
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const n of peers) { x0 = Math.min(x0, n.x); x1 = Math.max(x1, n.x); y0 = Math.min(y0, n.y); y1 = Math.max(y1, n.y); }
  const k = Math.min(4, 0.9 * Math.min(w / Math.max(x1 - x0, 1), h / Math.max(y1 - y0, 1)));
  view = { k, x: (x0 + x1) / 2, y: (y0 + y1) / 2 };
}
// Canvas position of a node (seeds keep their row at the top).
function at(n) {
  if (n.state === "seed") return [graph.clientWidth / 2 + n.fx, 24];
  return [graph.clientWidth / 2 + (n.x - view.x) * view.k, 60 + (graph.clientHeight - 60) / 2 + (n.y - view.y) * view.k];
}

// How long a drawing takes (ms, a moving mean), for the page's own figures: read from
// `document.body.dataset.drawMs`.
let drawMs = 0, draws = 0;
function draw() {
  const t0 = performance.now();
  paint();
  drawMs = draws ? 0.9 * drawMs + 0.1 * (performance.now() - t0) : performance.now() - t0;
  if (++draws % 10 === 0) document.body.dataset.drawMs = drawMs.toFixed(2);
}

function paint() {
  const w = graph.clientWidth, h = graph.clientHeight;
  fitView();
  ctx.clearRect(0, 0, w, h);
  ctx.save();
  ctx.strokeStyle = "#34495e";
  ctx.lineWidth = 0.7;
  ctx.beginPath();
  for (const l of links) {
    ctx.moveTo(...at(l.source));
    ctx.lineTo(...at(l.target));
  }
  ctx.stroke();
  if (hover && hover.state === "seed") {
    ctx.strokeStyle = "#f0c04088";
    ctx.beginPath();
    for (const n of nodes) {
      if (n.signers && n.signers.includes(hover.addr)) {
        ctx.moveTo(...at(hover));
        ctx.lineTo(...at(n));
      }
    }
    ctx.stroke();
  }
  for (const n of nodes) {
    ctx.fillStyle = colour(n);
    ctx.beginPath();
    const [x, y] = at(n);
    ctx.arc(x, y, radius(n), 0, 2 * Math.PI);
    ctx.fill();
    if (n === hover) {
      ctx.strokeStyle = "#fff";
      ctx.stroke();
    }
  }
  ctx.restore();
}

function setTopology(t) {
  const seeds = t.nodes.filter((n) => n.state === "seed").length;
  let s = 0;
  nodes = t.nodes.map((n) => {
    const old = byAddr.get(n.addr);
    const m = Object.assign(old || { x: (Math.random() - 0.5) * 200, y: (Math.random() - 0.5) * 200 }, n);
    if (n.state === "seed") {
      // Seeds apart, in a row above the overlay, out of the layout.
      const w = graph.clientWidth || 800;
      m.fx = (s - (seeds - 1) / 2) * Math.min(120, (w - 80) / Math.max(seeds, 1));
      s += 1;
    }
    return m;
  });
  byAddr = new Map(nodes.map((n) => [n.addr, n]));
  links = t.links.map(([a, b]) => ({ source: nodes[a], target: nodes[b] }));
  sim.nodes(nodes.filter((n) => n.state !== "seed"));
  sim.force("link").links(links);
  sim.alpha(Math.max(sim.alpha(), 0.3)).restart();
  drawDegrees();
}

function setCounts(st) {
  for (const k of COUNTS) {
    const el = document.getElementById(k.replace("_", "-"));
    if (el && st[k] !== undefined) el.textContent = st[k];
  }
}

function setSeeds(seeds) {
  const box = document.getElementById("seeds");
  box.replaceChildren(...seeds.map((s) => {
    const d = document.createElement("div");
    d.className = "seed";
    const agreed = Object.entries(s.agreed_ms_ago)
      .map(([a, ms]) => `${a}: ${ms === null ? "never" : (ms / 1000).toFixed(1) + " s ago"}`).join(", ");
    d.innerHTML = `<b></b> · Peer List <b></b> · certificates <b></b><div class="agreed"></div><div class="recent"></div>`;
    const b = d.querySelectorAll("b");
    b[0].textContent = s.addr; b[1].textContent = s.peer_list; b[2].textContent = s.certificates;
    d.querySelector(".agreed").textContent = agreed ? `last agreement: ${agreed}` : "";
    d.querySelector(".recent").textContent = s.recent.slice(-8).reverse().join("\n");
    d.querySelector(".recent").style.whiteSpace = "pre-wrap";
    return d;
  }));
}

function setRemoved(removed) {
  const box = document.getElementById("removed");
  if (!removed.length) { box.textContent = "none"; return; }
  box.textContent = removed.map((r) => `${r.addr} (${r.peer.slice(0, 8)}), signed by ${r.signers.map((s) => s.slice(0, 8)).join(", ")}`).join("\n");
  box.style.whiteSpace = "pre-wrap";
}

function setWaves(waves) {
  const sel = document.getElementById("wave-pick");
  const keep = picked;
  sel.replaceChildren(...waves.slice().reverse().map((w) => {
    const o = document.createElement("option");
    o.value = w.id;
    o.textContent = `${w.text} — ${w.reached} peers, ${w.hops} hops, last after ${w.last_ms} ms`;
    return o;
  }));
  const id = keep && waves.some((w) => w.id === keep) ? keep : (waves.length ? waves[waves.length - 1].id : null);
  if (id) sel.value = id;
  const w = waves.find((x) => x.id === id);
  document.getElementById("wave-info").textContent = w
    ? `reached ${w.reached} peers in ${w.hops} hops at most; ${w.last_ms} ms to the last so far`
    : "no message yet";
  const key = w ? `${w.id}:${w.reached}` : "";
  if (key && key !== lastWaveKey) {
    lastWaveKey = key;
    fetch(`/api/wave?id=${encodeURIComponent(w.id)}`).then((r) => r.json()).then((x) => {
      if (!x) return;
      wave = { origin: x.origin, at: new Map(x.receipts.map(([n, ms]) => [n, ms])), last: Math.max(1, ...x.receipts.map((r) => r[1])) };
      draw();
    });
  }
}
document.getElementById("wave-pick").addEventListener("change", (e) => { picked = e.target.value; lastWaveKey = ""; });

function bars(canvas, values, labels) {
  const r = window.devicePixelRatio || 1;
  canvas.width = canvas.clientWidth * r; canvas.height = canvas.clientHeight * r;
  const c = canvas.getContext("2d");
  c.setTransform(r, 0, 0, r, 0, 0);
  const w = canvas.clientWidth, h = canvas.clientHeight - 16;
  c.clearRect(0, 0, w, h + 16);
  const max = Math.max(1, ...values);
  const bw = w / values.length;
  c.fillStyle = "#4fa3e0";
  values.forEach((v, i) => { const bh = (v / max) * (h - 4); c.fillRect(i * bw + 1, h - bh, bw - 2, bh); });
  c.fillStyle = "#8a96a3"; c.font = "10px sans-serif";
  labels.forEach((l, i) => { if (l) c.fillText(l, i * bw, h + 12); });
}

function drawLatency(hist) {
  const labels = hist.map((_, i) => (i % 3 === 0 ? (i === 0 ? "<1ms" : `${2 ** (i - 1)}ms`) : ""));
  bars(document.getElementById("latency"), hist, labels);
}

let fit = null;
function drawDegrees() {
  const canvas = document.getElementById("degrees");
  const r = window.devicePixelRatio || 1;
  canvas.width = canvas.clientWidth * r; canvas.height = canvas.clientHeight * r;
  const c = canvas.getContext("2d");
  c.setTransform(r, 0, 0, r, 0, 0);
  const w = canvas.clientWidth, h = canvas.clientHeight;
  c.clearRect(0, 0, w, h);
  const counts = new Map();
  for (const n of nodes) if (n.state !== "seed" && n.degree > 0) counts.set(n.degree, (counts.get(n.degree) || 0) + 1);
  if (!counts.size) return;
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const xs = [...counts.keys()], maxX = Math.log10(Math.max(...xs) * 1.5), minY = Math.log10(1 / total) - 0.2;
  const px = (d) => 8 + (Math.log10(d) / Math.max(maxX, 0.5)) * (w - 16);
  const py = (p) => 6 + (Math.log10(p) / minY) * (h - 12);
  c.fillStyle = "#4fa3e0";
  for (const [d, k] of counts) { c.beginPath(); c.arc(px(d), py(k / total), 3, 0, 2 * Math.PI); c.fill(); }
  const info = document.getElementById("fit");
  if (fit) {
    // p(d) ∝ d^-α for d ≥ x_min, scaled to the tail's share at x_min.
    const tail = [...counts].filter(([d]) => d >= fit.x_min).reduce((a, [, k]) => a + k, 0) / total;
    const at = (d) => tail * (fit.alpha - 1) / fit.x_min * Math.pow(d / fit.x_min, -fit.alpha);
    c.strokeStyle = "#f39c12"; c.beginPath();
    const hi = Math.max(...xs);
    for (let d = fit.x_min; d <= hi; d += Math.max(1, (hi - fit.x_min) / 40)) {
      const y = at(d);
      if (y > 0) (d === fit.x_min ? c.moveTo : c.lineTo).call(c, px(d), py(Math.max(y, 1 / total / 10)));
    }
    c.stroke();
    info.textContent = `power law α = ${fit.alpha.toFixed(2)} for degree ≥ ${fit.x_min} (KS ${fit.ks.toFixed(3)}, R = ${fit.llr.toFixed(1)})`;
  } else {
    info.textContent = "too few peers for a fit";
  }
}

function addFeed(lines) {
  const box = document.getElementById("feed");
  for (const [seq, line] of lines) {
    if (seq > lastSeq) { feedLines.push(line); lastSeq = seq; }
  }
  while (feedLines.length > 1000) feedLines.shift();
  const shown = feedLines.filter((l) => !filter || l.includes(filter)).slice(-400);
  const stick = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
  box.textContent = shown.join("\n");
  if (stick) box.scrollTop = box.scrollHeight;
}
document.getElementById("feed-filter").addEventListener("input", (e) => { filter = e.target.value; addFeed([]); });

// Replay controls: shown when the board is fed by a replay; each sends /api/replay.
let dragging = false;
const replayBox = document.getElementById("replay"), slider = document.getElementById("slider");
const control = (q) => fetch(`/api/replay?${q}`).then((r) => r.json()).then((r) => r && setReplay(r));
document.getElementById("play").addEventListener("click", (e) => control(`play=${e.target.textContent === "play"}`));
document.getElementById("speed").addEventListener("change", (e) => control(`speed=${e.target.value}`));
slider.addEventListener("input", () => { dragging = true; });
slider.addEventListener("change", () => { dragging = false; control(`seek=${slider.value / 1000}`); });
function setReplay(r) {
  replayBox.style.display = "flex";
  const span = Math.max(1, r.end - r.start);
  if (!dragging) slider.value = Math.round(((r.at - r.start) / span) * 1000);
  document.getElementById("play").textContent = r.playing ? "pause" : "play";
  document.getElementById("clock").textContent = `${((r.at - r.start) / 1000).toFixed(1)} s of ${(span / 1000).toFixed(1)} s`;
}

function apply(st) {
  setCounts(st);
  if (st.topology) setTopology(st.topology);
  setSeeds(st.seeds);
  setRemoved(st.removed);
  setWaves(st.waves);
  drawLatency(st.latency_histogram);
  if (JSON.stringify(fit) !== JSON.stringify(st.power_law)) { fit = st.power_law; drawDegrees(); }
  addFeed(st.feed);
  if (st.replay) setReplay(st.replay);
  document.getElementById("status").textContent = st.replay ? "replay" : (st.summary ? "run finished: summary in the run directory" : "live");
  document.body.dataset.loaded = "1";
}

graph.addEventListener("mousemove", (e) => {
  const b = graph.getBoundingClientRect();
  const x = e.clientX - b.left, y = e.clientY - b.top;
  hover = null;
  let best = 144;
  for (const n of nodes) {
    const [nx, ny] = at(n);
    const d = (nx - x) ** 2 + (ny - y) ** 2;
    if (d < best) { best = d; hover = n; }
  }
  if (hover) {
    tip.style.display = "block";
    tip.style.left = `${e.clientX + 12}px`; tip.style.top = `${e.clientY + 12}px`;
    tip.textContent = `${hover.addr}\n${hover.id.slice(0, 16)}\n${hover.state}, degree ${hover.degree}` +
      (hover.suspicion ? `\n${hover.suspicion}` : "");
  } else {
    tip.style.display = "none";
  }
  draw();
});

const legend = document.getElementById("legend");
for (const [k, c] of Object.entries(COLOURS)) {
  const s = document.createElement("span");
  s.innerHTML = `<i style="background:${c}"></i>${k}`;
  legend.appendChild(s);
}

size();
fetch("/api/state").then((r) => r.json()).then((st) => {
  apply(st);
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  ws.onmessage = (m) => apply(JSON.parse(m.data));
  ws.onclose = () => { document.getElementById("status").textContent = "disconnected"; };
});
