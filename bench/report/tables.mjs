// The report as tables: one per runtime (every workload × system that ran or could not:
// rate, median and p99 latency (per operation type for YCSB), shardline's ratio to the
// peer, durable latency as a multiple of the fdatasync floor), one for bench/core,
// bench/wal and bench/engine across runtimes, and the goals. Rendered for the terminal
// with cli-table3 and as Markdown for the README.
// Pure functions of the report; used by scripts/bench.mjs (Node).
import Table from "cli-table3";
import { bytes, count, micros, ratio } from "./format.mjs";

const HEAD = ["workload", "system", "mode", "per second", "median", "p99", "shardline ÷", "× fsync p50"];
/** cli-table3 borders without a line between rows. */
const COMPACT = { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" };

function label(report, id) {
  return report.systems.find((s) => s.id === id) ?? { name: id, mode: "" };
}

/** Rows and footnotes of one runtime's table (not-applicable pairs go to `notRun`). */
export function runtimeRows(report, rt) {
  const notes = [];
  const mark = (text) => {
    let i = notes.indexOf(text);
    if (i < 0) i = notes.push(text) - 1;
    return `[${i + 1}]`;
  };
  const rows = [];
  const notRun = new Map();
  for (const w of report.workloads) {
    for (const r of rt.results.filter((x) => x.workload === w.id)) {
      const sys = label(report, r.system);
      if (r.status === "not-applicable") {
        const list = notRun.get(r.reason) ?? [];
        const entry = `${sys.name} (${w.short})`;
        if (!list.includes(entry)) list.push(entry);
        notRun.set(r.reason, list);
        continue;
      }
      // Reads and recovery do not depend on the write mode: name the API measured instead.
      const mode = r.variant ? r.variant.split(" (")[0] : w.durability === "n/a" && w.id !== "recovery" ? r.note ?? sys.readApi ?? sys.mode : sys.mode;
      const row = { workload: w.short, system: sys.name, mode, rate: "", median: "", p99: "", ratio: "", floor: "" };
      if (r.status !== "ok") {
        row.rate = `${r.status === "failed" ? "FAILED" : "unavailable"} ${mark(r.reason)}`;
      } else {
        const marks = [];
        if (r.comparable === false) marks.push(mark(`not comparable: ${r.note}`));
        else if (r.note && r.note !== mode) marks.push(mark(r.note));
        if (r.variant && r.variant !== mode) marks.push(mark(`measured: ${r.variant}`));
        if (r.capped) marks.push(mark(`stopped at the time cap: the shortest round did ${count(r.opsDoneMin)} of ${count(r.ops)} operations`));
        if (r.byType) marks.push(mark(BY_TYPE));
        if (marks.length) row.mode = `${row.mode} ${marks.join("")}`;
        row.rate = `${count(r.opsPerSecond)} ${w.unit}s`;
        if (w.id === "recovery") {
          row.median = micros(r.extra.recoveryMs * 1000);
          row.rate = `${row.rate} (${bytes(r.extra.logBytes)} log, ${count(r.extra.mbPerSecond)} MiB/s)`;
        } else if (r.byType) {
          // Mixed workloads (YCSB): one line per operation type, "r 2.10 µs" (see BY_TYPE).
          const types = Object.entries(r.byType);
          row.median = types.map(([t, x]) => `${t[0]} ${micros(x.p50Us)}`).join("\n");
          row.p99 = types.map(([t, x]) => `${t[0]} ${micros(x.p99Us)}`).join("\n");
        } else if (r.p50Us !== undefined) {
          row.median = micros(r.p50Us);
          row.p99 = micros(r.p99Us);
        } else {
          row.median = `${micros(r.nsPerOp / 1000)} *`;
        }
        if (w.id === "workers") row.rate = `${row.rate}; ${ratio(r.extra.speedup)} one worker`;
        if (w.id === "subscriber") row.rate = `${row.rate} (feed drained ${micros(r.extra.feedDrainMs * 1000)} after)`;
        if (w.id === "sustained" && r.extra?.flushes !== undefined) row.rate = `${row.rate} (${count(r.extra.flushes)} flushes, ${count(r.extra.compactions)} compactions)`;
        if (r.shardlineRatio !== undefined) row.ratio = ratio(r.shardlineRatio);
        if (r.extra?.vsFdatasyncP50 !== undefined) row.floor = ratio(r.extra.vsFdatasyncP50);
      }
      rows.push(row);
    }
  }
  return { rows, notes, notRun };
}

/** The footnote of rows with latency per operation type. */
const BY_TYPE = "YCSB rows: median and p99 per operation type, r read, u update, i insert, s scan (a whole scan), of every measured operation timed on its own";

function runtimeTitle(rt) {
  const f = rt.floor;
  const floor = f
    ? `fdatasync floor (4 KiB append) p50 ${micros(f.fdatasyncAppend.p50Us)}, p99 ${micros(f.fdatasyncAppend.p99Us)}; into preallocated space p50 ${micros(f.fdatasyncOverwrite.p50Us)}`
    : "no floor measured";
  return `${rt.runtime} ${rt.version}: ${floor}`;
}

function libraries(rt, report) {
  return rt.systems
    .filter((s) => s.available && report.systems.find((x) => x.id === s.id)?.family !== "shardline")
    .map((s) => s.library)
    .filter((l, i, all) => all.indexOf(l) === i)
    .join("; ");
}

const FOOTER = "* time per operation from whole rounds (too short to time one by one); otherwise median and p99 are of individually timed operations (scans: of whole scans; recovery: the median recovery of the whole log). shardline ÷: shardline's rate over this system's, same workload. × fsync p50: median latency over the fdatasync floor's p50.";

export function terminalRuntimeTable(report, rt) {
  const lines = [runtimeTitle(rt)];
  if (rt.status !== "ok") lines.push(`  the run failed: ${rt.error}`);
  const { rows, notes, notRun } = runtimeRows(report, rt);
  if (rows.length > 0) {
    const table = new Table({
      head: HEAD,
      style: { head: [], border: [] },
      chars: COMPACT,
      colWidths: [15, 15, 30, 31, 11, 11, 13, 13],
      wordWrap: true,
      colAligns: ["left", "left", "left", "right", "right", "right", "right", "right"],
    });
    for (const r of rows) table.push([r.workload, r.system, r.mode, r.rate, r.median, r.p99, r.ratio, r.floor]);
    lines.push(table.toString());
  }
  lines.push(`  peers: ${libraries(rt, report)}`);
  lines.push(`  ${FOOTER}`);
  notes.forEach((n, i) => lines.push(`  [${i + 1}] ${n}`));
  for (const [reason, list] of notRun) lines.push(`  not run: ${list.join(", ")}: ${reason}`);
  return lines.join("\n");
}

const SUITES_HEAD = "bench/core, bench/wal, bench/engine, bench/replicate";

/** bench/core, bench/wal and bench/engine side by side, one column per runtime. */
function suiteRows(report) {
  const rts = report.runtimes;
  const rows = [];
  const get = (rt, name) => (rt.suites?.[name]?.bench === name ? rt.suites[name] : undefined);
  const add = (name, label, fn) => {
    if (!rts.some((rt) => get(rt, name))) return;
    rows.push([label, ...rts.map((rt) => {
      const s = get(rt, name);
      if (s) return fn(s);
      const failed = rt.suites?.[name];
      return failed ? "failed" : "—";
    })]);
  };
  const core0 = rts.map((rt) => get(rt, "core")).find(Boolean);
  for (const [i, f] of (core0?.fills ?? []).entries()) {
    add("core", `core: memtable insert, random keys, filling ${f.mib} MiB`, (s) => s.fills[i] ? `${s.fills[i].nsPerOp.toFixed(0)} ns/op` : "—");
  }
  add("core", "core: memtable insert, sequential keys", (s) => `${s.insertSequentialNsPerOp.toFixed(0)} ns/op`);
  add("core", "core: 2 workers into one memtable", (s) => `${s.insertTwoWorkersNsPerOp.toFixed(0)} ns/op (${ratio(s.twoWorkerSpeedup)})`);
  add("core", "core: xxh32 / CRC-32C, 64 KiB", (s) => `${s.xxh32GBps.toFixed(1)} / ${s.crc32cGBps.toFixed(2)} GB/s`);
  add("wal", "wal: fdatasync, 4 KiB append, p50 / p99", (s) => `${micros(s.fdatasyncAppendUs.p50)} / ${micros(s.fdatasyncAppendUs.p99)}`);
  add("wal", "wal: fdatasync, preallocated, p50 / p99", (s) => `${micros(s.fdatasyncOverwriteUs.p50)} / ${micros(s.fdatasyncOverwriteUs.p99)}`);
  add("wal", "wal: lone durable append p50 / p99", (s) => `${micros(s.loneDurableAppendUs.p50)} / ${micros(s.loneDurableAppendUs.p99)} (${ratio(s.loneVsFdatasyncAppend)})`);
  for (const d of ["1", "16", "256"]) {
    add("wal", `wal: durable appends, ${d} in flight`, (s) => s.inFlight?.[d] ? `${count(s.inFlight[d].perSecond)}/s, ${s.inFlight[d].recordsPerSync.toFixed(1)}/sync` : "—");
  }
  add("wal", "wal: appendNow / async append", (s) => `${s.appendNowNsPerOp.toFixed(0)} / ${s.asyncAppendNsPerOp.toFixed(0)} ns/op`);
  const met = (ok) => (ok ? "met" : "MISSED");
  add("engine", "engine: async put, awaited / not awaited (target ≤ 500 ns)", (s) => `${s.put.awaitNsPerOp.toFixed(0)} / ${s.put.fireNsPerOp.toFixed(0)} ns/op (${met(s.put.awaitMet)} / ${met(s.put.fireMet)})`);
  for (const d of ["1", "16", "256"]) {
    add("engine", `engine: durable puts, ${d} in flight (WAL records, puts per sync)`, (s) => s.inFlight?.[d] ? `${count(s.inFlight[d].perSecond)}/s, ${s.inFlight[d].recordsPerSync.toFixed(1)} / ${s.inFlight[d].putsPerSync.toFixed(1)} per sync` : "—");
  }
  add("engine", "engine: channel path put p50, async / full", (s) => `${micros(s.channel.async.p50Us)} / ${micros(s.channel.full.p50Us)}`);
  for (const [kind, where] of [["memtable", "keys sized to fit the memtables"], ["tables", "keys flushed to tables"]]) {
    add("engine", `engine: get hit / miss p50, ${where}`, (s) => `${micros(s.reads[kind].hit.p50Ns / 1000)} / ${micros(s.reads[kind].miss.p50Ns / 1000)} (${(s.reads[kind].hitsFromTablesShare * 100).toFixed(0)}% of hits from tables)`);
    add("engine", `engine: scan, 10,000-row scans, ${where}`, (s) => `${count(s.reads[kind].scan.rowsPerSecond)} rows/s`);
  }
  add("engine", "engine: async puts, 2 workers vs 1", (s) => `${count(s.workers.twoWorkersPerSecond)} vs ${count(s.workers.oneWorkerPerSecond)}/s (${ratio(s.workers.ratio)})`);
  add("engine", "engine: RSS growth for the keys (per key)", (s) => `${bytes(s.memory.rssDeltaBytes)} for ${count(s.memory.keys)} (${s.memory.rssDeltaPerKeyBytes.toFixed(0)} B)`);
  // bench/engine/rss.mjs, in a process of its own on the package entry, after forced collections.
  const rssOk = (s) => s.rss?.status === "ok";
  const overStart = (s, name) => {
    const d = s.rss.readings[name] - s.rss.readings.start;
    return Number.isFinite(d) ? `${d >= 0 ? "+" : "-"}${bytes(Math.abs(d))}` : "—";
  };
  add("engine", "engine: RSS per database held open (10 at once)", (s) => (rssOk(s) ? bytes(s.rss.perDbBytes) : "—"));
  add("engine", "engine: RSS over start after open+close cycles / their threads retired (after one cycle alone) / all threads retired", (s) => (rssOk(s) ? `${overStart(s, "cycles")} after ${s.rss.cycles} / ${overStart(s, "cyclesRetired")} (${overStart(s, "firstRetired")}) / ${overStart(s, "retired")}` : "—"));
  add("replicate", "replicate: durable puts/s, 256 in flight, without / with publisher + follower", (s) => `${count(s.withoutPublisherPerSecond)} / ${count(s.withPublisherPerSecond)}/s (${ratio(s.ratio)})`);
  add("replicate", "replicate: follower lag behind the writer's acks, p50 / p99", (s) => `${s.lagMs.p50.toFixed(0)} / ${s.lagMs.p99.toFixed(0)} ms`);
  return rows;
}

export function terminalSuiteTable(report) {
  const rows = suiteRows(report);
  if (rows.length === 0) return "";
  const table = new Table({ head: [SUITES_HEAD, ...report.runtimes.map((rt) => rt.runtime)], style: { head: [], border: [] }, chars: COMPACT });
  for (const r of rows) table.push(r);
  return table.toString();
}

/** Goals × runtimes: each cell "met"/"MISSED" with the figure, or "not measured [n]" with the reason below. */
function goalGrid(report, missedMark) {
  const reasons = [];
  const goals = [...new Map(report.goals.map((g) => [g.id, g.goal])).entries()];
  const rows = goals.map(([id, goal]) => [goal, ...report.runtimes.map((rt) => {
    const g = report.goals.find((x) => x.id === id && x.runtime === rt.runtime);
    if (!g) return "—";
    if (g.status === "met") return `met: ${g.detail}`;
    if (g.status === "missed") return `${missedMark}: ${g.detail}`;
    let i = reasons.indexOf(g.reason);
    if (i < 0) i = reasons.push(g.reason) - 1;
    return `not measured (${String.fromCharCode(97 + (i % 26))})`;
  })]);
  return { head: ["goal", ...report.runtimes.map((rt) => `${rt.runtime} ${rt.version}`)], rows, reasons };
}

export function terminalGoals(report) {
  const lines = ["Goals (judged on this run's figures; tests never assert them):"];
  if (report.standIn) lines.unshift(`WARNING: "shardline" in this run is ${report.standIn}; these figures are not shardline's.`);
  const { head, rows, reasons } = goalGrid(report, "MISSED");
  const table = new Table({ head, style: { head: [], border: [] }, chars: COMPACT, colWidths: [40, ...report.runtimes.map(() => 34)], wordWrap: true });
  for (const r of rows) table.push(r);
  lines.push(table.toString());
  reasons.forEach((r, i) => lines.push(`  (${String.fromCharCode(97 + (i % 26))}) ${r}`));
  return lines.join("\n");
}

// ---- Markdown (bench/results/latest.md, and the README between its markers) ----

const md = (s) => String(s).replaceAll("|", "\\|");

function machineLine(report) {
  const m = report.machine;
  return `Measured ${report.date.slice(0, 10)} with \`${report.command}\`${report.quick ? " (quick: sizes too small to mean anything)" : ""}, in ${Math.round(report.durationSeconds)} s, on ${m.cpus} × ${m.cpuModel}, ${bytes(m.memoryBytes)} RAM, ${m.platform} ${m.release} (${m.arch}), benchmark directory ${m.benchDir}.`;
}

function markdownRuntime(report, rt) {
  const out = [];
  if (rt.status !== "ok") out.push(`The run failed: ${md(rt.error)}`, "");
  const { rows, notes, notRun } = runtimeRows(report, rt);
  if (rows.length > 0) {
    out.push(`| ${HEAD.join(" | ")} |`, `|${HEAD.map((_, i) => (i >= 3 ? "---:" : "---")).join("|")}|`);
    for (const r of rows) out.push(`| ${[r.workload, r.system, r.mode, r.rate, r.median, r.p99, r.ratio, r.floor].map((c) => md(c).replaceAll("\n", "<br>")).join(" | ")} |`);
    out.push("");
  }
  out.push(`Peers: ${md(libraries(rt, report))}. ${FOOTER}`, "");
  notes.forEach((n, i) => out.push(`${i + 1}. ${md(n)}`));
  for (const [reason, list] of notRun) out.push(`- not run: ${md(list.join(", "))}: ${md(reason)}`);
  out.push("");
  return out;
}

function markdownSuites(report) {
  const suites = suiteRows(report);
  if (suites.length === 0) return [];
  const head = [SUITES_HEAD, ...report.runtimes.map((rt) => rt.runtime)];
  return [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...suites.map((r) => `| ${r.map(md).join(" | ")} |`), ""];
}

function markdownGoals(report) {
  const { head, rows, reasons } = goalGrid(report, "**MISSED**");
  return [
    `| ${head.map(md).join(" | ")} |`,
    `|${head.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${r.map(md).join(" | ")} |`),
    "",
    ...reasons.map((r, i) => `(${String.fromCharCode(97 + (i % 26))}) ${md(r)}`).join("<br>\n").split("\n"),
  ];
}

function warning(report) {
  return report.standIn ? [`**WARNING: "shardline" in this run is ${md(report.standIn)}; these figures are not shardline's.**`, ""] : [];
}

/** Everything, for bench/results/latest.md. */
export function markdownReport(report, chartPath) {
  const out = [...warning(report), machineLine(report), ""];
  if (chartPath) out.push(`![shardline and its peers, per runtime](${chartPath})`, "");
  for (const rt of report.runtimes) out.push(`#### ${runtimeTitle(rt)}`, "", ...markdownRuntime(report, rt));
  out.push(...markdownSuites(report));
  out.push("Workloads (the same keys, values and counts for every system):", "");
  for (const w of report.workloads) out.push(`- **${md(w.short)}** (\`${w.id}\`): ${md(w.title)}; ${md(w.description)}.`);
  out.push("", "Goals:", "", ...markdownGoals(report));
  return out.join("\n") + "\n";
}

/** The README's benchmark section: the machine, the chart, the goals, and the tables folded. */
export function readmeSection(report, chartPath, fullPath) {
  const out = [...warning(report), machineLine(report), "", `![shardline and its peers, per runtime](${chartPath})`, "", "Goals:", "", ...markdownGoals(report), ""];
  for (const rt of report.runtimes) {
    out.push(`<details><summary>${md(runtimeTitle(rt))}</summary>`, "", ...markdownRuntime(report, rt), "</details>", "");
  }
  out.push(`Every figure, the sizes and the workloads: [${fullPath}](${fullPath}), [bench/results/latest.json](bench/results/latest.json).`);
  return out.join("\n") + "\n";
}
