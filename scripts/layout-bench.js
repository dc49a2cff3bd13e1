// Time per layout step of the dashboard's graph: the vendored d3-force, with the page's own
// forces, on the overlay of a dashboard's /api/state (e.g. a replayed 2,000-peer simulation).
//
//   curl -s http://127.0.0.1:PORT/api/state > state.json
//   node scripts/layout-bench.js state.json
"use strict";
const fs = require("fs");
const path = require("path");
const vendor = path.join(__dirname, "../crates/hearsay-cli/src/dashboard/vendor");
global.d3 = {};
for (const f of ["d3-dispatch", "d3-quadtree", "d3-timer", "d3-force"]) {
  const code = fs.readFileSync(path.join(vendor, `${f}.min.js`), "utf8");
  new Function("exports", "module", "define", code).call(global, undefined, undefined, undefined);
}
const state = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const nodes = state.topology.nodes.filter((n) => n.state !== "seed").map((n) => ({ addr: n.addr }));
const at = new Map(state.topology.nodes.map((n, i) => [i, n.addr]));
const index = new Map(nodes.map((n, i) => [n.addr, i]));
const links = state.topology.links.map(([a, b]) => ({ source: index.get(at.get(a)), target: index.get(at.get(b)) }));
const sim = d3.forceSimulation(nodes)
  .force("link", d3.forceLink(links).distance(28).strength(0.4))
  .force("charge", d3.forceManyBody().strength(-28).distanceMax(260))
  .force("x", d3.forceX(0).strength(0.03))
  .force("y", d3.forceY(0).strength(0.03))
  .stop();
for (let i = 0; i < 20; i++) sim.tick();
const steps = 200;
const t0 = process.hrtime.bigint();
for (let i = 0; i < steps; i++) sim.tick();
const ms = Number(process.hrtime.bigint() - t0) / 1e6 / steps;
console.log(`${nodes.length} peers, ${links.length} links: ${ms.toFixed(2)} ms per layout step`);
