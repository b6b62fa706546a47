// A table damaged in one byte, in each of its parts (footer, index, bloom filter, meta,
// first and last data block; three places in each): every get, has and scan either answers
// exactly what was written or throws CorruptionError naming the file, never a wrong answer
// (a damaged bloom filter or index read as "not there" would lose a write silently).
// compaction.test.ts damages only the first data block. (Adversarial review of tables,
// flush and compaction, 2026-12-07: no defect; kept as a guard.)
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { CorruptionError } from "../../src/engine/public.ts";
import { BlockCache } from "../../src/table/block-cache.ts";
import { TableReader } from "../../src/table/table-reader.ts";
import { core as tableCore } from "../table/helpers.ts";
import { cleanup, eventually, open, platform, tempDir } from "./helpers.ts";

const test = suite("engine table damage");
test.after.each(cleanup);

/**
 * A table damaged in one byte, in each of its parts: every get, has and scan either answers
 * exactly what was written or throws CorruptionError naming the file, never a wrong answer
 * (a damaged bloom filter or index read as "not there" would lose a write silently). The
 * engine's own test (compaction.test.ts) damages only the first data block.
 */
test("a table damaged in its footer, index, filter, meta or a data block: no read answers wrongly", async () => {
  const dir = tempDir();
  const options = { shards: 1, memtableBytesMax: 64 * 1024, durability: "async" } as const;
  let db = await open(dir, options);
  const model = new Map<string, string>();
  const keyOf = (i: number) => `k${String(i).padStart(4, "0")}`;
  for (let i = 0; i < 1500; i++) {
    const v = `v${i}-`.padEnd(60 + (i % 90), String.fromCharCode(97 + (i % 26)));
    await db.put(keyOf(i), v);
    model.set(keyOf(i), v);
  }
  await eventually(() => db.stats().shards[0].tables > 0 && db.stats().shards[0].frozenMemtables === 0, "tables written");
  await db.close();
  const names = platform.readdir(`${dir}/tables`).filter((n) => n.endsWith(".sst")).sort();
  assert.ok(names.length >= 1, "a table");
  // The largest table (most data blocks).
  const name = names.map((n) => [n, platform.readFile(`${dir}/tables/${n}`).length] as const).sort((a, b) => b[1] - a[1])[0][0];
  const path = `${dir}/tables/${name}`;
  const reader = TableReader.open(platform, tableCore, path, new BlockCache({ cacheBytesMax: 1 << 20 }));
  const layout = reader.layout();
  reader.close();
  const original = platform.readFile(path);
  const blocks = layout.dataBlocks;
  const places: Array<[string, number]> = [];
  const spots = (what: string, r: { offset: number; length: number }) => {
    for (const at of [0, r.length >> 1, r.length - 1]) places.push([what, r.offset + Math.max(0, Math.min(r.length - 1, at))]);
  };
  spots("footer", layout.footer);
  spots("index", layout.index);
  spots("filter", layout.filter);
  spots("meta", layout.meta);
  spots("first data block", blocks[0]);
  spots("last data block", blocks[blocks.length - 1]);
  for (const [what, offset] of places) {
    const damaged = original.slice();
    damaged[offset] ^= 0x10;
    const file = platform.open(path, "readwrite");
    file.write(damaged, 0);
    file.sync();
    file.close();
    try {
      db = await open(dir, options);
    } catch (error) {
      assert.ok(error instanceof CorruptionError && String(error.file).endsWith(name), `${what} +${offset}: open failed with ${error}`);
      continue;
    }
    try {
      for (const [k, v] of model) {
        let got: string | undefined;
        try {
          got = db.getString(k);
        } catch (error) {
          assert.ok(error instanceof CorruptionError && String(error.file).endsWith(name), `${what} +${offset}: get(${k}) threw ${error}`);
          continue;
        }
        assert.is(got, v, `${what} at +${offset}: get(${k}) answered wrongly instead of CorruptionError`);
        assert.ok(db.has(k), `${what} at +${offset}: has(${k})`);
      }
      for (const reverse of [false, true]) {
        try {
          const rows = [...db.scan({ reverse })].map(([k, v]) => `${new TextDecoder().decode(k)}=${new TextDecoder().decode(v)}`);
          const want = [...model].map(([k, v]) => `${k}=${v}`).sort();
          if (reverse) want.reverse();
          assert.equal(rows.length, want.length, `${what} at +${offset}: scan rows`);
          assert.ok(rows.every((r, i) => r === want[i]), `${what} at +${offset}: scan ${reverse ? "reverse" : "forward"} answered wrongly`);
        } catch (error) {
          if (error instanceof assert.Assertion) throw error;
          assert.ok(error instanceof CorruptionError && String(error.file).endsWith(name), `${what} +${offset}: scan threw ${error}`);
        }
      }
    } finally {
      await db.close();
    }
  }
  const file = platform.open(path, "readwrite");
  file.write(original, 0);
  file.sync();
  file.close();
});

test.run();
