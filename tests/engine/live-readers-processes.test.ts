// Live read-only handles across processes and runtimes (src/engine/live-reader.ts,
// reader-slots.ts, src/wal/durable-mark.ts): readers in other runtimes follow a writer
// through flushes and compactions, each view a prefix of the writer's steps holding every
// step it acknowledged before the refresh began (checked against a model both sides share:
// fixtures/live-model.ts); a reader killed with SIGKILL leaves a slot the writer's next
// flush deletes; a writer killed with SIGKILL leaves what it acknowledged readable, and the
// next writer's steps reach the reader with nothing lost and no deleted key back; and
// `await refresh()` shows a write durable before the call even while a background refresh
// a read started (and that found nothing new) is still settling.
// Each runtime's run pairs itself with the two others. Readers in one process:
// tests/engine/live-readers.test.ts.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { toolCore } from "../../src/cli/database.ts";
import type { Database, Snapshot } from "../../src/engine/database.ts";
import { readManifest, tableFileName } from "../../src/engine/manifest.ts";
import type { RuntimeName } from "../../src/platform.ts";
import { type Child, linesUntilExit, spawnChild } from "../harness/child.ts";
import { runtimeName } from "../harness/platform.ts";
import { describeMismatch, LIVE_WRITER_OPTIONS, type Match, match, Model, type Observed, writeStep } from "./fixtures/live-model.ts";
import { cleanup, dec, eventually, open, platform, tempDir } from "./helpers.ts";

const test = suite("engine live readers, processes");
test.after.each(cleanup);

const FOLLOWER = new URL("./fixtures/live-follower.ts", import.meta.url).pathname;
const WRITER = new URL("./fixtures/live-writer.ts", import.meta.url).pathname;
const RUNTIMES: RuntimeName[] = ["node", "bun", "deno"];
const me = runtimeName();
/** The two other runtimes, in a fixed rotation, so each runtime's run of this suite exercises both others. */
const [otherA, otherB] = [1, 2].map((d) => RUNTIMES[(RUNTIMES.indexOf(me) + d) % RUNTIMES.length]);
const STEPS = 2000;
/** The writer waits for each reader's next iteration after this many steps (STEPS / 100 = 20 rounds). */
const STEPS_PER_ROUND = 100;

/** The next line of `child` that starts with one of `prefixes` (other lines are skipped). */
async function lineStarting(child: Child, ...prefixes: string[]): Promise<string> {
  for (;;) {
    const line = await child.nextLine();
    if (prefixes.some((p) => line.startsWith(p))) return line;
  }
}

function slotFiles(dir: string): string[] {
  return (platform.stat(`${dir}/readers`) ? platform.readdir(`${dir}/readers`) : []).filter((name) => /\.reader(\.tmp)?$/.test(name)).sort();
}

/** The table files `dir`'s MANIFEST names. */
async function namedTables(dir: string): Promise<string[]> {
  const core = await toolCore();
  try {
    return readManifest(core, platform, dir)!.tables.map((t) => tableFileName(t.number));
  } finally {
    core.detach();
  }
}

/** Table files in `dir` its MANIFEST does not name (dropped, kept for a reader). */
async function keptTables(dir: string): Promise<string[]> {
  const named = new Set(await namedTables(dir));
  return platform.readdir(`${dir}/tables`).filter((name) => name.endsWith(".sst") && !named.has(name));
}

function state(db: Database, snapshot?: Snapshot): Observed {
  const out: Observed = new Map();
  for (const [k, v] of db.scan(snapshot ? { snapshot } : {})) out.set(dec.decode(k), dec.decode(v));
  return out;
}

/**
 * Refreshes `reader` and checks its state is modelAt(k) for some k in [max(at, acked), limit]
 * (`at`: the model of what it showed last, advanced to the first such k).
 */
async function follow(reader: Database, at: Model, acked: number, limit: number, when: string): Promise<Match> {
  await reader.refresh();
  const seen = state(reader);
  const found = match(seen, at, limit, acked);
  assert.ok(found, `${when}: the reader's state is no modelAt(k) for ${Math.max(at.steps, acked)} <= k <= ${limit} (${acked} acknowledged before its refresh); ${describeMismatch(seen, limit)}`);
  while (at.steps < found!.k) at.advance();
  return found!;
}

test(`a writer in ${me}, readers in ${otherA} and ${otherB}: every refreshed view is a prefix of the writer's steps holding all it acknowledged, across flushes and compactions`, async () => {
  const started = Date.now();
  const dir = tempDir();
  const ackFile = `${tempDir("shardline-ack-")}/ack`;
  const writeAck = (c: number) => {
    writeFileSync(`${ackFile}.tmp`, String(c));
    renameSync(`${ackFile}.tmp`, ackFile);
  };
  writeAck(0);
  const writer = await open(dir, LIVE_WRITER_OPTIONS);
  // One reader refreshes in the background at the default interval too, the other at every read.
  const readers = [
    spawnChild(otherA, FOLLOWER, ["follow", dir, ackFile, String(STEPS)]),
    spawnChild(otherB, FOLLOWER, ["follow", dir, ackFile, String(STEPS), "0"]),
  ];
  try {
    for (const reader of readers) await reader.waitFor("ready");
    // (A follower rewrites its slot at each refresh, through a `.tmp` file, listed too while it exists.)
    const listed = writer.stats().coordination!.readers!.filter((r) => !r.file.endsWith(".tmp"));
    assert.equal(
      listed.map((r) => [r.record?.pid, r.record?.runtime, r.alive]).sort(),
      readers.map((r) => [r.pid, r.runtime, true]).sort(),
      "the writer lists both readers' slots, alive",
    );
    const writing = Date.now();
    // Paced by the readers' progress, not by the machine's speed: after every STEPS_PER_ROUND
    // steps the writer waits until each reader finished another iteration, so each follows
    // the writer many times while it writes however fast the writer is (with the scratch
    // directories on tmpfs and two runtimes' suites side by side, a Node reader starting
    // slowly once saw only 6 iterations of the 2000 steps).
    const iterationsOf = (reader: { pid: number }) => {
      try {
        return Number(readFileSync(`${ackFile}.${reader.pid}`, "utf8"));
      } catch {
        return 0;
      }
    };
    for (let i = 0; i < STEPS; i++) {
      await writeStep(writer, i);
      writeAck(i + 1);
      if ((i + 1) % STEPS_PER_ROUND === 0) {
        for (const reader of readers) {
          const seen = iterationsOf(reader);
          await eventually(() => iterationsOf(reader) > seen, `${reader.runtime} reader's next iteration after step ${i + 1}`);
        }
      }
    }
    const writeMs = Date.now() - writing;
    for (const reader of readers) reader.send("stop");
    // Both readers' verdicts first, so a failure shows both.
    const lines: string[] = [];
    for (const reader of readers) lines.push(await lineStarting(reader, "ok ", "mismatch "));
    const reports = readers.map((reader, i) => `${reader.runtime} reader: ${lines[i]}`);
    assert.ok(lines.every((line) => line.startsWith("ok ")), `${reports.join("\n")}\n${readers.map((r) => r.stderr()).join("\n")}`);
    for (const [i, reader] of readers.entries()) {
      const line = lines[i];
      const [iterations, k, built, appended] = line.split(" ").slice(1).map(Number);
      assert.is(k, STEPS, `${reader.runtime} reader ended at modelAt(${STEPS})`);
      // It followed the writer, many times, while it wrote (at least once a round, above).
      assert.ok(iterations >= STEPS / STEPS_PER_ROUND, `${reader.runtime} reader: only ${iterations} iterations: ${line}`);
      assert.ok(built >= 1 && built + appended >= 5, `${reader.runtime} reader: only ${built} views built and ${appended} appends: ${line}`);
      assert.equal(await reader.waitExit(), { code: 0, signal: null }, `${reader.runtime} reader: ${reader.stderr()}`);
    }
    const stats = writer.stats();
    assert.ok(stats.flushes > 0 && stats.compactions > 0, `flushes (${stats.flushes}) and compactions (${stats.compactions}) ran while they followed`);
    assert.equal(slotFiles(dir), [], "both readers gave their slots back on close");
    console.log(`  [live-readers] ${STEPS} steps in ${writeMs} ms, ${stats.flushes} flushes, ${stats.compactions} compactions; ${reports.join("; ")} (iterations, k, views built, appends, unchanged, max views); ${Date.now() - started} ms`);
  } finally {
    for (const reader of readers) reader.kill("SIGKILL");
    await writer.close();
  }
});

test(`await refresh() in ${otherA} and ${otherB} readers shows a ${me} write durable before the call, while a read's background refresh is under way`, async () => {
  const started = Date.now();
  const dir = tempDir();
  const signals = tempDir("shardline-signal-");
  const writer = await open(dir, LIVE_WRITER_OPTIONS);
  await writer.put("a", "1");
  const readers = [otherA, otherB].map((runtime, i) => spawnChild(runtime, FOLLOWER, ["probe", dir, `${signals}/${i}`]));
  try {
    for (const reader of readers) await reader.waitFor("ready");
    for (const reader of readers) reader.send("probe");
    // Each reads (starting a background refresh that finds nothing new), then spins, not
    // yielding, until the writer's durable mark moves; then awaits refresh() and reads again.
    await eventually(() => readers.every((_, i) => platform.stat(`${signals}/${i}`) !== undefined), "both readers read and wait for the write", 10_000);
    await writer.put("b", "2"); // durable (and marked in readers/DURABLE) when it resolves
    const results: string[] = [];
    for (const reader of readers) results.push(`${reader.runtime}: ${await lineStarting(reader, "probe ", "mismatch ")}`);
    assert.equal(
      results.map((line) => line.split(" ").slice(0, 4).join(" ")),
      readers.map((reader) => `${reader.runtime}: probe - 2`),
      `b before and after await refresh(), marks before and after the put: ${results.join("; ")}`,
    );
    console.log(`  [live-readers] ${results.join("; ")} (b before, b after refresh, mark before, mark after); ${Date.now() - started} ms`);
  } finally {
    for (const reader of readers) reader.kill("SIGKILL");
    await writer.close();
  }
});

test(`a ${otherA} reader killed with SIGKILL: the ${me} writer's next flush deletes its slot; a live ${otherB} reader's slot stays`, async () => {
  const started = Date.now();
  const dir = tempDir();
  const writer = await open(dir, LIVE_WRITER_OPTIONS);
  let step = 0;
  for (; step < 200; step++) await writeStep(writer, step);
  const victim = spawnChild(otherA, FOLLOWER, ["hold", dir]);
  const survivor = spawnChild(otherB, FOLLOWER, ["hold", dir]);
  try {
    await victim.waitFor("ready");
    await survivor.waitFor("ready");
    const slotOf = (child: Child) => writer.stats().coordination!.readers!.find((r) => r.record?.pid === child.pid);
    const victimSlot = slotOf(victim);
    assert.ok(victimSlot, `the writer lists the ${otherA} reader: ${JSON.stringify(writer.stats().coordination!.readers)}`);
    assert.equal([victimSlot!.alive, victimSlot!.record!.runtime], [true, otherA]);
    assert.equal([slotOf(survivor)?.alive, slotOf(survivor)?.record?.runtime], [true, otherB]);
    assert.equal(slotFiles(dir).length, 2);

    victim.kill("SIGKILL");
    assert.equal(await victim.waitExit(), { code: null, signal: "SIGKILL" });
    const dead = writer.stats().coordination!.readers!.find((r) => r.file === victimSlot!.file);
    assert.equal([dead?.alive, dead?.reason], [false, "its process is gone"], "its slot is still there, judged dead");

    const flushes = writer.stats().flushes;
    for (const limit = step + 5000; writer.stats().flushes === flushes && step < limit; step++) await writeStep(writer, step);
    assert.ok(writer.stats().flushes > flushes, "a flush ran");
    // The flush counts itself before it judges the slots (src/engine/flush.ts): wait for that.
    await eventually(() => platform.stat(`${dir}/readers/${victimSlot!.file}`) === undefined, "the flush deleted the dead reader's slot", 10_000);
    const listed = writer.stats().coordination!.readers!;
    assert.equal(listed.map((r) => [r.record?.pid, r.alive]), [[survivor.pid, true]], "only the live reader is listed");

    survivor.send("close");
    await survivor.waitFor("closed");
    assert.equal(await survivor.waitExit(), { code: 0, signal: null });
    assert.equal(writer.stats().coordination!.readers, [], "the live reader gave its slot back on close");
    console.log(`  [live-readers] the killed ${otherA} reader's slot was deleted by the flush after step ${step}; ${Date.now() - started} ms`);
  } finally {
    victim.kill("SIGKILL");
    survivor.kill("SIGKILL");
    await writer.close();
  }
});

test(`a ${otherA} writer killed with SIGKILL: ${me} readers keep reading all it acknowledged, then follow a new ${otherB} writer`, async () => {
  const dir = tempDir();
  const started = Date.now();
  // `pinned` opens at step PIN_AT or a little later, once a flush made a table; the kill
  // comes past both shards' first compactions (about 4 flushes each), which drop it.
  const PIN_AT = 500;
  const killAt = 1500 + Math.floor(Math.random() * 700);
  const ackFile = `${tempDir("shardline-ack-")}/ack`;
  const first = spawnChild(otherA, WRITER, [dir, String(1_000_000)], { env: { LIVE_ACK_FILE: ackFile } });
  let second: Child | undefined;
  let reader: Database | undefined;
  let pinned: Database | undefined;
  try {
    assert.is(await lineStarting(first, "ready ", "mismatch "), "ready 0 0");
    reader = await open(dir, { readOnly: true });
    const at = new Model();
    let acked = 0;
    let pinnedSnapshot: Snapshot | undefined;
    let pinnedFrom = 0;
    while (acked < killAt) {
      acked = Number((await lineStarting(first, "ack ")).slice(4));
      if (acked % 150 === 0) await follow(reader, at, acked, acked + 100_000, `following the ${otherA} writer at ack ${acked}`);
      if (acked >= PIN_AT && !pinned && (await namedTables(dir)).length > 0) {
        // A second handle whose view reads nothing until the end: it opens that view's
        // tables only after two writers compacted them away and one was killed, so the
        // writers must have kept them for its slot (across the restart too).
        pinned = await open(dir, { readOnly: true, refreshIntervalMs: 2_147_483_647 });
        pinnedSnapshot = pinned.snapshot();
        pinnedFrom = acked;
      }
    }
    assert.ok(pinned, `a table was made by step ${acked}`);
    first.kill("SIGKILL");
    for await (const line of linesUntilExit(first)) if (line.startsWith("ack ")) acked = Number(line.slice(4));
    assert.equal(await first.waitExit(), { code: null, signal: "SIGKILL" }, first.stderr());
    // The lines left in the pipe may be lost with the process (Deno): the file says what it acknowledged.
    acked = Math.max(acked, Number(dec.decode(platform.readFile(ackFile))));

    // What it acknowledged is all there, and at most the one step it had issued beyond.
    const afterKill = await follow(reader, at, acked, acked + 1, `after SIGKILL of the writer (${acked} acknowledged)`);
    assert.equal(reader.stats().coordination!.readers!.map((r) => [r.record?.runtime, r.alive]), [[me, true], [me, true]], "the two readers' slots, alive");
    // Held through the next writer's recovery, flushes and compactions.
    const held = reader.snapshot();
    const heldState = state(reader, held);

    const stepsMin = acked + 1 + 1000;
    // It checks it recovered modelAt(k) for acked <= k <= acked + 1, goes on from there to
    // stepsMin, and on until it compacted at least once.
    second = spawnChild(otherB, WRITER, [dir, String(stepsMin), String(acked), String(acked + 1), "1"]);
    const ready = await lineStarting(second, "ready ", "mismatch ");
    assert.ok(ready.startsWith("ready "), `the new writer: ${ready}`);
    const [k, kMax] = ready.split(" ").slice(1).map(Number);
    assert.ok(k >= afterKill.k, `the new writer recovered modelAt(${k}), the reader showed modelAt(${afterKill.k}) already`);
    let acked2 = kMax;
    let done: string;
    for (;;) {
      const line = await lineStarting(second, "ack ", "done ");
      if (line.startsWith("done ")) {
        done = line;
        break;
      }
      acked2 = Number(line.slice(4));
      if (acked2 % 100 === 0) await follow(reader, at, acked2, stepsMin + 20_000, `following the ${otherB} writer at ack ${acked2}`);
    }
    const [total, flushes, compactions] = done.split(" ").slice(1).map(Number);
    assert.is(acked2, total);
    assert.ok(flushes > 0 && compactions > 0, `the new writer flushed (${flushes}) and compacted (${compactions}) while the snapshots were held`);
    const last = await follow(reader, at, total, total, "after the new writer's last step");
    assert.is(last.kMax, total, "the reader shows every step of both writers");

    const heldNow = state(reader, held);
    assert.ok(match(heldNow, new Model(), afterKill.k, afterKill.k), `the snapshot taken after the kill still reads modelAt(${afterKill.k}): ${describeMismatch(heldNow, total)}`);
    assert.equal(heldNow, heldState);
    held.release();

    const kept = await keptTables(dir);
    assert.ok(kept.length > 0, "the writers kept table files their MANIFEST no longer names, for the pinned reader");
    const pinnedNow = state(pinned!, pinnedSnapshot);
    assert.ok(
      match(pinnedNow, new Model(), acked + 1, pinnedFrom),
      `the handle opened at step ${pinnedFrom} reads a modelAt(k) for ${pinnedFrom} <= k <= ${acked + 1} at last: ${describeMismatch(pinnedNow, total)}`,
    );
    pinnedSnapshot!.release();
    await pinned!.refresh();
    assert.ok(match(state(pinned!), new Model(), total, total), "after its refresh it shows every step too");

    second.send("close");
    await second.waitFor("closed");
    assert.equal(await second.waitExit(), { code: 0, signal: null }, second.stderr());
    console.log(
      `  [live-readers] killed the ${otherA} writer at ${acked} acknowledged steps (aimed at ${killAt}); the ${otherB} writer went on from ${k} to ${total} ` +
        `(${flushes} flushes, ${compactions} compactions); ${kept.length} dropped tables kept for the reader pinned at ${pinnedFrom}; ${Date.now() - started} ms`,
    );
  } finally {
    first.kill("SIGKILL");
    second?.kill("SIGKILL");
    await pinned?.close();
    await reader?.close();
  }
  assert.equal(slotFiles(dir), [], "the readers gave their slots back on close");
});

test.run();
