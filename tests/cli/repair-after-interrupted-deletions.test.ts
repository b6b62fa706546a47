// doctor --repair after a crash in the middle of a merge's deletions and a lost MANIFEST
// (src/cli/doctor.ts rebuildManifest, docs/RECOVERY.md M1a, src/engine/table-deletions.ts).
//
// The rebuild lists the table files it finds. Its argument against a deleted key coming
// back used to be that a merge's dropped inputs were deleted oldest first by file number,
// so that a crash left only "the newest inputs". File numbers are not data age: a merge's
// output takes a new, higher number than a tier-0 table flushed before it that holds newer
// versions, and a deletes' merge (compaction.ts pickDeletesMerge) then takes the
// low-numbered tombstone table with the high-numbered run of the puts it shadows and drops
// both. Deleted first, the tombstone table went, a crash left the puts, and with the
// MANIFEST lost the deleted keys read again (found by an adversarial review, 2026-12-07;
// this test failed, 12 of 12 keys back). Dropped tables are now deleted behind a durable
// note naming them (tables/DELETING), which the rebuild leaves out.
//
// The crash is emulated: a worker thread hard-links every table file as it appears and
// records every MANIFEST; after the run, the inputs of the last merge that dropped the
// tombstones are put back but for the one deleted first (the lowest number), with the note
// that was durable before that deletion (naming them all). That is the directory a kill -9
// between the first and second unlink leaves.
import { copyFileSync, writeFileSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { tableFileName } from "../../src/engine/manifest.ts";
import { DELETING_NAME, deletingNoteBytes } from "../../src/engine/table-deletions.ts";
import { backgroundSettled, cleanup, keysOfShard, open, platform, tempDir, text } from "../engine/helpers.ts";
import { cli, type Ran } from "./helpers.ts";

const test = suite("cli: repair after interrupted deletions");
/** Tombstones of keys never written: enough to fill the rest of the fourth memtable, then a fifth. */
const GHOSTS_A = 300;
const GHOSTS_B = 1000;
test.after.each(cleanup);

const brief = (r: Ran) => `exit ${r.code}\n` + (r.out + r.err).split("\n").filter((l) => /ERROR|repair|MANIFEST:|errors,|shardline/.test(l)).map((l) => l.replace(/\s*│\s*/g, " | ").trim()).join("\n");

interface Rec { number: number; shard: number; tier: number; entries: number; tombstones: number }
interface Man { version: number; tables: Rec[]; wal: string }

/** A worker that hard-links each table file into `side` as it appears and keeps every MANIFEST it sees. */
function watcher(dir: string, side: string) {
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const source = `
    const { workerData, parentPort } = require("node:worker_threads");
    const fs = require("node:fs");
    const { dir, side, stop } = workerData;
    const linked = new Set(); const manifests = []; let last = ""; let first = true;
    while (Atomics.load(stop, 0) === 0) {
      if (first) { first = false; parentPort.postMessage("ready"); }
      let names = [];
      try { names = fs.readdirSync(dir + "/tables"); } catch {}
      for (const n of names) {
        if (!/^\\d{6}\\.sst$/.test(n) || linked.has(n)) continue;
        try { fs.linkSync(dir + "/tables/" + n, side + "/" + n); linked.add(n); } catch {}
      }
      try { const t = fs.readFileSync(dir + "/MANIFEST", "utf8"); if (t !== last) { last = t; let wal = ""; try { wal = fs.readdirSync(dir + "/wal").filter((n) => !n.startsWith(".")).sort().join(","); } catch {} manifests.push(JSON.stringify({ m: t.split("\\n")[1], wal })); } } catch {}
    }
    parentPort.postMessage(manifests);
  `;
  const worker = new Worker(source, { eval: true, workerData: { dir, side, stop } });
  // The first message says the loop runs (a worker can take a second to start on a loaded
  // machine, and the database below opens, flushes and merges in less); the second is the
  // MANIFESTs it saw.
  let ready!: () => void;
  const started = new Promise<void>((resolve) => (ready = resolve));
  const done = new Promise<string[]>((resolve, reject) => {
    worker.on("message", (message: unknown) => (message === "ready" ? ready() : resolve(message as string[])));
    worker.once("error", reject);
  });
  return {
    started,
    async finish(): Promise<Man[]> {
      Atomics.store(stop, 0, 1);
      const texts = await done;
      await worker.terminate();
      return texts.map((t) => {
        const { m, wal } = JSON.parse(t) as { m: string; wal: string };
        return { ...(JSON.parse(m) as Man), wal };
      });
    },
  };
}

const router = await Core.create({ shards: 2, memoryBytesMax: 16 * 1024 * 1024 });
const VICTIMS = keysOfShard(router, "victim-", 0, 12);
const GHOSTS_A_KEYS = keysOfShard(router, "ghost-a-", 0, GHOSTS_A);
const GHOSTS_B_KEYS = keysOfShard(router, "ghost-b-", 0, GHOSTS_B);
const FILLER = keysOfShard(router, "filler-", 1, 2600);
router.detach();

/**
 * Steps 1 and 2: a database whose deletes' merge took a low-numbered tombstone table with
 * a higher-numbered table of the puts it shadows, watched; the inputs and where the watcher
 * kept them, or why the run did not show that (the watcher, a thread polling the directory,
 * can miss a MANIFEST or a table on a loaded machine: the test tries again).
 */
async function watchedDeletesMerge(): Promise<{ dir: string; side: string; inputs: Rec[] } | string> {
  const [victims, ghostsA, ghostsB, filler] = [VICTIMS, GHOSTS_A_KEYS, GHOSTS_B_KEYS, FILLER];
  const BIG = "b".repeat(20_000);
  const V = "v".repeat(1000);
  const LOG = { walSegmentBytesMax: 2 * 1024 * 1024, durability: "async" } as const;

  // 1. All in the group WAL (4 MiB memtables flush none of it), in this order: 12 puts of
  //    20 kB (three fill a 64 KiB memtable: four memtables), deletes of keys that never
  //    existed (tombstones) to fill the fourth, the 12 deletes, more tombstones to fill a
  //    fifth memtable, then 2.6 MB of shard 1's rows, more than a log segment past them.
  const dir = tempDir("shardline-cli-");
  const side = tempDir("shardline-side-");
  const first = await open(dir, { shards: 2, ...LOG });
  for (const k of victims) await first.put(k, BIG);
  await Promise.all(ghostsA.map((k) => first.delete(k)));
  await Promise.all(victims.map((k) => first.delete(k)));
  await Promise.all(ghostsB.map((k) => first.delete(k)));
  for (let i = 0; i < filler.length; i += 200) await Promise.all(filler.slice(i, i + 200).map((k) => first.put(k, V)));
  await first.close();

  // 2. Reopened with 64 KiB memtables: replay leaves shard 0's puts in four frozen memtables
  //    and its tombstones in the next ones; the actor flushes them all (flushes go before
  //    merges) to tier-0 tables, the tombstones' numbered after the puts'; it then merges the
  //    four oldest runs (the puts) into a tier-1 table numbered above the tombstones' table,
  //    and, idle, the deletes' merge (pickDeletesMerge) drops both tombstones and puts.
  const watch = watcher(dir, side);
  await watch.started;
  let manifests: Man[];
  try {
    const db = await open(dir, { memtableBytesMax: 64 * 1024, ...LOG });
    try {
      await backgroundSettled(db, 15_000, 30);
      assert.is(victims.filter((k) => db.get(k) !== undefined).length, 0, "before the crash, every victim is deleted");
    } finally {
      await db.close();
    }
  } finally {
    manifests = await watch.finish();
  }

  // The last change of the MANIFEST that dropped shard 0's tombstones: a merge's inputs.
  let inputs: Rec[] | undefined;
  let walThen = "";
  for (let i = 1; i < manifests.length; i++) {
    const now = new Set(manifests[i].tables.map((t) => t.number));
    const removed = manifests[i - 1].tables.filter((t) => !now.has(t.number) && t.shard === 0);
    removed.sort((a, b) => a.number - b.number);
    if (removed.some((t) => t.tombstones > 0)) console.log(`  [repair] version ${manifests[i].version} dropped ${removed.map((t) => `#${t.number} tier ${t.tier}: ${t.entries}/${t.tombstones}`).join("; ")}`);
    // One whose lowest-numbered input (deleted first) holds tombstones and a later one only puts.
    if (removed.length > 1 && removed[0].tombstones > 0 && removed.slice(1).some((t) => t.tombstones === 0)) {
      inputs = removed;
      walThen = manifests[i].wal;
    }
  }
  if (!inputs) console.log(JSON.stringify(manifests.map((m) => m.tables.filter((t) => t.shard === 0).map((t) => `#${t.number}t${t.tier}:${t.entries}/${t.tombstones}`).join(" "))));
  if (!inputs) return `no merge seen taking shard 0's tombstones (${manifests.length} MANIFESTs seen)`;
  const shown = inputs!.map((t) => `#${t.number} tier ${t.tier}: ${t.entries} entries, ${t.tombstones} tombstones`).join("; ");
  const finalTables = manifests[manifests.length - 1].tables.filter((t) => t.shard === 0);
  console.log(`  [repair] the merge that dropped the tombstones took ${shown}; shard 0 now: ${finalTables.map((t) => `#${t.number} (${t.entries} entries, ${t.tombstones} tombstones)`).join("; ") || "no table"}`);

  // The group WAL's segments when that merge was published are those left now: the
  // segment holding the deletes was already trimmed (the crash below leaves this log).
  const walNow = platform.readdir(`${dir}/wal`).filter((n) => !n.startsWith(".")).sort().join(",");
  if (walThen !== walNow) return `the log when the merge was published (${walThen}) is not the log left (${walNow})`;
  for (const t of inputs.slice(1)) if (!platform.stat(`${side}/${tableFileName(t.number)}`)) return `the watcher did not link ${tableFileName(t.number)} before its deletion`;
  return { dir, side, inputs };
}

test("a crash while a deletes' merge's inputs are deleted, then a lost MANIFEST: --repair leaves out what tables/DELETING names, and the deleted keys stay deleted", async () => {
  const reasons: string[] = [];
  let run: { dir: string; side: string; inputs: Rec[] } | undefined;
  for (let attempt = 0; attempt < 3 && run === undefined; attempt++) {
    const watched = await watchedDeletesMerge();
    if (typeof watched === "string") reasons.push(watched);
    else run = watched;
  }
  assert.ok(run, `the scenario was not observed in 3 runs: ${reasons.join("; ")}`);
  const { dir, side, inputs } = run!;
  const [victims, filler] = [VICTIMS, FILLER];
  const V = "v".repeat(1000);
  // 3. The crash: removeDroppedTables made its note durable, unlinked (and fsynced) the
  //    lowest-numbered input, then died.
  for (const t of inputs.slice(1)) {
    const name = tableFileName(t.number);
    if (!platform.stat(`${dir}/tables/${name}`)) copyFileSync(`${side}/${name}`, `${dir}/tables/${name}`);
  }
  const noteCore = await Core.create({ shards: 1, memoryBytesMax: 16 * 1024 * 1024 });
  writeFileSync(`${dir}/tables/${DELETING_NAME}`, deletingNoteBytes(inputs.map((t) => tableFileName(t.number)), (bytes) => noteCore.crc32c(bytes)));
  noteCore.detach();
  // 4. And the MANIFEST is lost.
  platform.unlink(`${dir}/MANIFEST`);
  const repaired = await cli(["doctor", dir, "--repair"]);
  assert.is(repaired.code, 0, brief(repaired));

  const again = await open(dir);
  try {
    const back = victims.filter((k) => again.get(k) !== undefined);
    assert.is(back.length, 0, `${back.length} of ${victims.length} deleted keys read again after --repair (e.g. ${back.slice(0, 3).join(", ")} = ${text(again.get(back[0] ?? "")?.slice(0, 8))}...):\n${brief(repaired)}`);
    assert.is(filler.filter((k) => text(again.get(k)) !== V).length, 0, "every filler row reads");
  } finally {
    await again.close();
  }
});

test.run();
