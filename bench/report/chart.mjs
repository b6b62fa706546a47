// bench/results/latest.svg: the report as a chart, hand-written SVG (no browser, no
// library). One panel per runtime, one group of bars per workload, one bar per system in a
// fixed slot (the same slot and colour in every panel), height on a log scale shared by
// all panels, so panels compare. Hatched bars: a mode that is not comparable (stronger
// durability than the workload asks). "n/a": the system could not run there (hover for
// the reason). The dashed line over "durable ×1" is 1 / fdatasync p50: the rate of a
// writer that waits for one fdatasync per write. Pure function of the report.
import { compact, micros } from "./format.mjs";

const COLOURS = {
  "shardline-async": "#d62728",
  "shardline-full": "#8b1a1a",
  "lmdb-put": "#1e7b1e",
  "lmdb-put-flushed": "#3aa03a",
  "lmdb-putsync": "#8fd18f",
  "sqlite-normal": "#1f5fb4",
  "sqlite-full": "#9cc3ea",
  "classic-level-nosync": "#e8770e",
  "classic-level-sync": "#f7c08a",
  "deno-kv": "#7b4fb0",
};
const FALLBACK = ["#555555", "#999999", "#17becf", "#bcbd22"];

/** Dark text on light colours, white on dark ones (for labels inside bars). */
function inkOn(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return 0.299 * r + 0.587 * g + 0.114 * b > 150 ? "#222" : "white";
}

const esc = (s) => String(s).replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");

const BAR = 13;
const GAP = 22;
const LEFT = 78;
const RIGHT = 24;
const PLOT_H = 250;
const PANEL_TOP = 34;
const PANEL_BOTTOM = 46;
const PANEL_H = PANEL_TOP + PLOT_H + PANEL_BOTTOM;

export function renderChart(report) {
  const colour = (id, i) => COLOURS[id] ?? FALLBACK[i % FALLBACK.length];
  const systemIndex = new Map(report.systems.map((s, i) => [s.id, i]));
  // Groups: workloads with at least one bar anywhere; slots: systems listed (not "not-applicable") anywhere.
  const groups = [];
  for (const w of report.workloads) {
    const listed = new Set();
    let anyBar = false;
    for (const rt of report.runtimes) {
      for (const r of rt.results) {
        if (r.workload !== w.id || r.status === "not-applicable") continue;
        listed.add(r.system);
        if (r.status === "ok") anyBar = true;
      }
    }
    if (!anyBar) continue;
    groups.push({ w, slots: report.systems.map((s) => s.id).filter((id) => listed.has(id)) });
  }
  const values = report.runtimes.flatMap((rt) => rt.results.filter((r) => r.status === "ok").map((r) => r.opsPerSecond));
  for (const rt of report.runtimes) if (rt.floor) values.push(1e6 / rt.floor.fdatasyncAppend.p50Us);
  const lo = Math.floor(Math.log10(Math.max(1, Math.min(...values, 1e6))));
  const hi = Math.ceil(Math.log10(Math.max(...values, 10)));
  const y = (v) => PLOT_H - ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo)) * PLOT_H;

  let x = LEFT;
  for (const g of groups) {
    // A group is at least wide enough for its label; its bars sit in the middle.
    const span = Math.max(g.slots.length * BAR, g.w.short.length * 6.2);
    g.width = g.slots.length * BAR;
    g.x = x + GAP / 2 + (span - g.width) / 2;
    g.center = x + GAP / 2 + span / 2;
    x += span + GAP;
  }
  const width = Math.max(x + RIGHT, 760);

  // Legend: systems that appear in any group, wrapped in rows.
  const used = report.systems.filter((s) => groups.some((g) => g.slots.includes(s.id)));
  const legendItems = used.map((s) => ({ id: s.id, text: `${s.name}: ${s.mode}` }));
  legendItems.push({ hatch: true, text: "hatched: stronger durability than the workload asks" });
  legendItems.push({ dashed: true, text: "1 / fdatasync p50: one sync per write, one at a time" });
  const legendRows = [];
  let row = [];
  let rowWidth = 0;
  for (const item of legendItems) {
    const w = 22 + item.text.length * 6.1 + 18;
    if (rowWidth + w > width - 40 && row.length) {
      legendRows.push(row);
      row = [];
      rowWidth = 0;
    }
    row.push({ ...item, dx: rowWidth });
    rowWidth += w;
  }
  if (row.length) legendRows.push(row);

  const header = 58;
  const legendTop = header;
  const legendH = legendRows.length * 20 + 10;
  const panelsTop = legendTop + legendH;
  const height = panelsTop + report.runtimes.length * PANEL_H + 30;

  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width.toFixed(0)}" height="${height}" viewBox="0 0 ${width.toFixed(0)} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`);
  out.push(`<defs><pattern id="hatch" patternUnits="userSpaceOnUse" width="5" height="5" patternTransform="rotate(45)"><rect width="5" height="5" fill="white" fill-opacity="0"/><line x1="0" y1="0" x2="0" y2="5" stroke="white" stroke-width="2"/></pattern></defs>`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  const m = report.machine;
  const title = report.standIn
    ? `A STAND-IN ENGINE (${report.standIn}), NOT shardline, and the peers`
    : "shardline and its peers: operations per second, higher is better (log scale)";
  out.push(`<text x="20" y="24" font-size="16" font-weight="bold"${report.standIn ? ' fill="#c00"' : ""}>${esc(title)}</text>`);
  out.push(`<text x="20" y="42" fill="#444">${esc(`${report.date.slice(0, 10)}, ${m.cpus} × ${m.cpuModel}, ${m.platform} ${m.release}; same keys, values and counts for every system${report.quick ? "; QUICK RUN: sizes too small to mean anything" : ""}`)}</text>`);

  legendRows.forEach((items, r) => {
    const ly = legendTop + r * 20 + 10;
    for (const item of items) {
      const lx = 20 + item.dx;
      if (item.dashed) {
        out.push(`<line x1="${lx}" x2="${lx + 14}" y1="${ly - 4}" y2="${ly - 4}" stroke="#000" stroke-dasharray="4 3"/>`);
      } else if (item.hatch) {
        out.push(`<rect x="${lx}" y="${ly - 9}" width="14" height="11" fill="#888"/><rect x="${lx}" y="${ly - 9}" width="14" height="11" fill="url(#hatch)"/>`);
      } else {
        out.push(`<rect x="${lx}" y="${ly - 9}" width="14" height="11" fill="${colour(item.id, systemIndex.get(item.id))}"/>`);
      }
      out.push(`<text x="${lx + 20}" y="${ly}">${esc(item.text)}</text>`);
    }
  });

  report.runtimes.forEach((rt, p) => {
    const top = panelsTop + p * PANEL_H;
    const plotTop = top + PANEL_TOP;
    const floorText = rt.floor ? `fdatasync p50 ${micros(rt.floor.fdatasyncAppend.p50Us)}` : "no floor measured";
    out.push(`<g class="panel" data-runtime="${esc(rt.runtime)}">`);
    out.push(`<text x="${LEFT}" y="${top + 14}" font-size="13" font-weight="bold">${esc(`${rt.runtime} ${rt.version}`)}<tspan dx="10" font-weight="normal" fill="#444">${esc(`${floorText}${rt.status === "ok" ? "" : `; the run failed: ${rt.error}`}`)}</tspan></text>`);
    const missing = rt.systems.filter((s) => !s.available).map((s) => {
      const sys = report.systems.find((x) => x.id === s.id);
      return `${sys?.name ?? s.id} (${s.reason})`;
    }).filter((t, i, all) => all.indexOf(t) === i);
    if (missing.length > 0) {
      const text = `unavailable here: ${missing.join("; ")}`;
      out.push(`<text x="${LEFT}" y="${top + 28}" font-size="10" fill="#a00">${esc(text.length > 190 ? `${text.slice(0, 187)}...` : text)}<title>${esc(text)}</title></text>`);
    }
    // Grid and y axis.
    for (let e = lo; e <= hi; e++) {
      const gy = plotTop + y(10 ** e);
      out.push(`<line x1="${LEFT}" x2="${width - RIGHT}" y1="${gy}" y2="${gy}" stroke="${e === lo ? "#333" : "#ddd"}"/>`);
      out.push(`<text x="${LEFT - 6}" y="${gy + 4}" text-anchor="end" fill="#444">${compact(10 ** e)}</text>`);
    }
    out.push(`<text transform="translate(${LEFT - 52} ${plotTop + PLOT_H / 2}) rotate(-90)" text-anchor="middle" fill="#444">ops/s (scan: rows/s; recovery: records/s)</text>`);
    for (const g of groups) {
      const cx = g.center;
      out.push(`<text x="${cx}" y="${plotTop + PLOT_H + 16}" text-anchor="middle">${esc(g.w.short)}</text>`);
      const variant = rt.results.find((x) => x.workload === g.w.id && x.variant)?.variant;
      if (variant) out.push(`<text x="${cx}" y="${plotTop + PLOT_H + 29}" text-anchor="middle" font-size="9" fill="#444">${esc(`(${variant.split(":")[0]})`)}<title>${esc(variant)}</title></text>`);
      g.slots.forEach((id, i) => {
        const bx = g.x + i * BAR;
        const r = rt.results.find((x) => x.workload === g.w.id && x.system === id);
        const sys = report.systems.find((s) => s.id === id);
        if (!r || r.status === "not-applicable") return;
        if (r.status !== "ok") {
          out.push(`<text x="${bx + BAR / 2 + 3}" y="${plotTop + PLOT_H - 4}" transform="rotate(-90 ${bx + BAR / 2 + 3} ${plotTop + PLOT_H - 4})" font-size="9" fill="#999"><title>${esc(`${sys.name} ${sys.mode}: ${r.status}: ${r.reason}`)}</title>n/a</text>`);
          return;
        }
        const by = plotTop + y(r.opsPerSecond);
        const bh = plotTop + PLOT_H - by;
        const latency = r.byType
          ? Object.entries(r.byType).map(([t, x]) => `, ${t} p50 ${micros(x.p50Us)}, p99 ${micros(x.p99Us)}`).join("")
          : r.p50Us !== undefined ? `, p50 ${micros(r.p50Us)}, p99 ${micros(r.p99Us)}` : "";
        const tip = `${sys.name} ${sys.mode}, ${g.w.title}: ${Math.round(r.opsPerSecond).toLocaleString("en-US")} ${g.w.unit}s/s${latency}${r.comparable === false ? ` (not comparable: ${r.note})` : ""}${r.variant ? ` (${r.variant})` : ""}`;
        out.push(`<rect class="bar" data-system="${esc(id)}" data-workload="${esc(g.w.id)}" x="${bx + 1}" y="${by.toFixed(1)}" width="${BAR - 2}" height="${Math.max(1, bh).toFixed(1)}" fill="${colour(id, systemIndex.get(id))}"><title>${esc(tip)}</title></rect>`);
        if (r.comparable === false) out.push(`<rect x="${bx + 1}" y="${by.toFixed(1)}" width="${BAR - 2}" height="${Math.max(1, bh).toFixed(1)}" fill="url(#hatch)"/>`);
        const inside = by - plotTop < 34;
        const lx = bx + BAR / 2 + 3;
        const ly = inside ? by + 4 : by - 3;
        out.push(`<text x="${lx}" y="${ly.toFixed(1)}" transform="rotate(-90 ${lx} ${ly.toFixed(1)})" font-size="9" text-anchor="${inside ? "end" : "start"}" fill="${inside ? inkOn(colour(id, systemIndex.get(id))) : "#222"}">${compact(r.opsPerSecond)}</text>`);
      });
      if (g.w.id === "durable-1" && rt.floor) {
        const fy = plotTop + y(1e6 / rt.floor.fdatasyncAppend.p50Us);
        out.push(`<line x1="${g.x - 6}" x2="${g.x + g.width + 6}" y1="${fy.toFixed(1)}" y2="${fy.toFixed(1)}" stroke="#000" stroke-dasharray="4 3"><title>1 / fdatasync p50 = ${Math.round(1e6 / rt.floor.fdatasyncAppend.p50Us).toLocaleString("en-US")} writes/s</title></line>`);
      }
    }
    out.push(`</g>`);
  });
  out.push(`<text x="20" y="${height - 10}" fill="#666" font-size="10">${esc("n/a: could not run there (hover for the reason). Workloads a system has no equivalent for are left out. Figures and labels: bench/results/latest.json.")}</text>`);
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}
