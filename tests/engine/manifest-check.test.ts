// What open checks in a MANIFEST before it deletes anything (src/engine/manifest.ts
// decodeManifest, open.ts removeOrphans): every table it names is numbered below its
// nextTableNumber, since open deletes unnamed tables at or past that number (a killed
// writer's unpublished flush) and the next flush takes it. A MANIFEST that breaks this is
// refused with CorruptionError, and no file is deleted.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { toolCore } from "../../src/cli/database.ts";
import { readManifest, writeManifest } from "../../src/engine/manifest.ts";
import { CorruptionError } from "../../src/engine/public.ts";
import { rejects } from "../harness/assert.ts";
import { cleanup, open, platform, tempDir } from "./helpers.ts";

const test = suite("engine manifest check");
test.after.each(cleanup);

test("a MANIFEST naming a table at or past its nextTableNumber: open refuses with CorruptionError and deletes no table", async () => {
  const dir = tempDir();
  const db = await open(dir, { shards: 1, memtableBytesMax: 64 * 1024 });
  for (let i = 0; i < 800; i++) await db.put(`k${String(i).padStart(4, "0")}`, "v".repeat(200));
  await db.close();
  const core = await toolCore();
  try {
    const manifest = readManifest(core, platform, dir)!;
    assert.ok(manifest.tables.length > 0, "the writes made tables");
    const last = Math.max(...manifest.tables.map((t) => t.number));
    writeManifest(core, platform, dir, { ...manifest, nextTableNumber: last });
  } finally {
    core.detach();
  }
  const before = platform.readdir(`${dir}/tables`).sort();
  await rejects(() => open(dir), (e) => e instanceof CorruptionError && /names table \d+, at or past its nextTableNumber/.test(e.message));
  assert.equal(platform.readdir(`${dir}/tables`).sort(), before, "no table deleted");
});

test.run();
