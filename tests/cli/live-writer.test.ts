// The command line on a directory a live writer holds (here the test's own process; every
// command runs as a child process of the runtime under test). From a review of the CLI on
// live directories (2026-12-07): `doctor` read the MANIFEST once and then checked each table
// it lists, while the writer's merges deleted the tables they replaced, so a healthy
// database being written got "listed by the manifest but missing: its data is lost" and
// exit 1. doctor now holds a reader slot while it checks, as a read-only handle does
// (src/engine/reader-slots.ts), and removes it at the end: the read commands still leave the
// directory as they found it.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { READERS_DIR_NAME } from "../../src/engine/reader-slots.ts";
import { backgroundSettled, cleanup, open, platform, tempDir, text } from "../engine/helpers.ts";
import { cliChild } from "./helpers.ts";

const test = suite("cli on a live writer's directory");
test.after.each(cleanup);

const pad = (i: number) => String(i).padStart(5, "0");

/** Every entry under `dir`: directories as "dir", files as size and a hash of their bytes. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    for (const name of readdirSync(`${dir}${rel}`).sort()) {
      const path = `${rel}/${name}`;
      // A file the writer's background work renamed or deleted since the listing (a flush's
      // .tmp: seen in CI) is left out: settled() takes snapshots until two agree.
      try {
        const st = statSync(`${dir}${path}`);
        if (st.isDirectory()) {
          out.set(path, "dir");
          walk(path);
        } else out.set(path, `${st.size}:${createHash("sha256").update(readFileSync(`${dir}${path}`)).digest("hex").slice(0, 16)}`);
      } catch (error) {
        if ((error as { code?: string }).code !== "ENOENT") throw error;
      }
    }
  };
  walk("");
  return out;
}

function changes(before: Map<string, string>, after: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of before) if (after.get(k) !== v) out.push(`${k}: ${v} -> ${after.get(k) ?? "(gone)"}`);
  for (const [k, v] of after) if (!before.has(k)) out.push(`${k}: (new) ${v}`);
  return out;
}

/** A snapshot once two in a row, 150 ms apart, agree (the writer's background merges are done); at most ~3 s. */
async function settled(dir: string): Promise<Map<string, string>> {
  let last = snapshot(dir);
  for (let i = 0; i < 20; i++) {
    await new Promise((resolve) => setTimeout(resolve, 150));
    const next = snapshot(dir);
    if (changes(last, next).length === 0) return next;
    last = next;
  }
  return last;
}

/** Slot files of read-only handles (and what a slot write leaves) in `dir`'s readers/. */
function slotFiles(dir: string): string[] {
  return platform.readdir(`${dir}/${READERS_DIR_NAME}`).filter((name) => name.includes(".reader"));
}

test("doctor on a directory whose writer flushes and merges meanwhile: no error findings and exit 0 (not 'listed by the manifest but missing: its data is lost'), and no slot left", async () => {
  const dir = tempDir();
  const db = await open(dir, { durability: "full", memtableBytesMax: 64 * 1024 });
  for (let i = 0; i < 1000; i += 100) {
    await db.batch(Array.from({ length: 100 }, (_, j) => ({ type: "put" as const, key: `s${pad(i + j)}`, value: `${i + j}`.padEnd(100, "v") })));
  }
  let churning = true;
  const churn = (async () => {
    for (let n = 0; churning && n < 100_000; n++) {
      await db.batch(Array.from({ length: 50 }, (_, j) => ({ type: "put" as const, key: `churn${pad((n * 50 + j) % 5000)}`, value: "c".repeat(300) })));
      if (n % 20 === 0) await db.delete(`churn${pad(n % 5000)}`);
    }
  })();
  const failures: string[] = [];
  try {
    for (let round = 0; round < 3 && failures.length === 0; round++) {
      const doctor = await cliChild(["doctor", dir, "--json"]);
      const report = JSON.parse(doctor.out || "{}");
      const errors = (report.findings ?? []).filter((f: { severity: string }) => f.severity === "error");
      if (doctor.code !== 0 || errors.length > 0) failures.push(`round ${round}: exit ${doctor.code}, ${errors.length} errors, first ${JSON.stringify(errors.slice(0, 2))} ${doctor.err}`);
      assert.ok(report.lockedBy?.pid === platform.processIdentity().pid, "doctor saw the live writer");
    }
  } finally {
    churning = false;
    await churn;
  }
  try {
    assert.equal(failures, [], "doctor reported damage on a healthy live database");
    assert.equal(slotFiles(dir), [], "doctor's reader slot was removed");
    for (let i = 0; i < 1000; i++) assert.is(text(db.get(`s${pad(i)}`)), `${i}`.padEnd(100, "v"));
  } finally {
    await db.close();
  }
});

test("get, scan, stats, doctor and wal dump at once on a directory a writer holds: every file as before, each exits 0, and the writer goes on", async () => {
  const dir = tempDir();
  const db = await open(dir, { durability: "full", memtableBytesMax: 64 * 1024 });
  try {
    for (let i = 0; i < 1500; i += 100) {
      await db.batch(Array.from({ length: 100 }, (_, j) => ({ type: "put" as const, key: `k${pad(i + j)}`, value: `${i + j}`.padEnd(100, "v") })));
    }
    await db.delete("k00003");
    await db.put("tail", "only in the log");
    await db.flush();
    // The actor's flushes and merges run after the writes resolved: a 150 ms quiet window
    // alone passes on a loaded machine before a merge is published (and the merge then
    // "changes the directory" under the read commands).
    await backgroundSettled(db);
    const before = await settled(dir);
    const ran = await Promise.all([
      cliChild(["get", dir, "tail"]),
      cliChild(["scan", dir, "--json"]),
      cliChild(["stats", dir, "--json"]),
      cliChild(["doctor", dir, "--json"]),
      cliChild(["wal", "dump", dir, "--limit", "3"]),
    ]);
    assert.equal(ran.map((r) => r.code), [0, 0, 0, 0, 0], ran.map((r) => r.err).join("\n"));
    assert.equal(changes(before, snapshot(dir)), [], "the read commands changed the directory");
    assert.is(JSON.parse(ran[1].out).length, 1500, "scan: 1499 fill keys and tail");
    assert.match(ran[0].out, /only in the log/);
    await db.put("after", "still writing");
    assert.is(text(db.get("after")), "still writing");
  } finally {
    await db.close();
  }
});

test.run();
