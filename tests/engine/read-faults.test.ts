// A read that the disk fails: every read method says so with the API's FileSystemError
// (code SHARDLINE_FS, the OS code as osCode), never the platform's internal PlatformError,
// whose `code` is a bare OS code outside the SHARDLINE_* set. A failed read fails only
// itself: writes go on, and once the disk reads again so do reads. Faults are injected
// through this thread's platform (reads of table files, or of the group WAL's segments).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { bindDatabaseApi } from "../../src/engine/public.ts";
import { FileSystemError } from "../../src/errors.ts";
import { type FileHandle, type Platform, PlatformError } from "../../src/platform.ts";
import { cleanup, eventually, platform, tempDir, text } from "./helpers.ts";

const test = suite("engine read faults");

/** Files whose reads fail with EIO while `failing` holds their suffix. */
let failing: string | undefined;
const bound = (target: object, name: PropertyKey) => {
  const value = Reflect.get(target, name, target);
  return typeof value === "function" ? value.bind(target) : value;
};
const failingPlatform = new Proxy(platform, {
  get(target, name) {
    if (name !== "open") return bound(target, name);
    return (path: string, mode: Parameters<Platform["open"]>[1]): FileHandle => {
      const file = platform.open(path, mode);
      return new Proxy(file, {
        get(handle, member) {
          if (member !== "read") return bound(handle, member);
          return (buf: Uint8Array, position: number) => {
            if (failing !== undefined && path.endsWith(failing)) throw new PlatformError(`read ${path}: injected fault`, "EIO", { operation: "read", path });
            return file.read(buf, position);
          };
        },
      });
    };
  },
}) as Platform;
const { open } = bindDatabaseApi(failingPlatform);

/** What `call` threw, or a failure naming that it did not throw. */
function thrown(call: () => unknown): unknown {
  try {
    call();
  } catch (error) {
    return error;
  }
  return new Error("it did not throw");
}

function assertFsError(error: unknown, what: string): void {
  assert.ok(error instanceof FileSystemError, `${what}: ${(error as Error)?.constructor?.name} ${(error as { code?: string })?.code}: ${(error as Error)?.message}`);
  assert.is((error as FileSystemError).code, "SHARDLINE_FS", what);
  assert.is((error as FileSystemError).osCode, "EIO", what);
  assert.ok(((error as FileSystemError).cause as Error) instanceof PlatformError, `${what}: the platform's error is its cause`);
}

test("a table read failing with EIO: get, getString, has, scan and a snapshot's get throw FileSystemError, then work again once the disk reads", async () => {
  const db = await open(tempDir(), { memtableBytesMax: 64 * 1024 });
  try {
    for (let i = 0; i < 3000; i++) await db.put(`k${i}`, `value ${i} `.padEnd(100, "."));
    await db.flush();
    // k5..k8 are in each shard's first memtable, frozen long before the last put: once no
    // frozen memtable is left they are in tables. (db.flush() makes the log durable only: a
    // CI run under Deno read k6 from a memtable the actor had not flushed yet, and getString
    // did not throw.)
    await eventually(() => db.stats().shards.every((s) => s.frozenMemtables === 0), "the frozen memtables flushed", 20_000);
    failing = ".sst";
    try {
      assertFsError(thrown(() => db.get("k5")), "get");
      assertFsError(thrown(() => db.getString("k6")), "getString");
      assertFsError(thrown(() => db.has("k7")), "has");
      assertFsError(thrown(() => [...db.scan()]), "scan");
      const snapshot = db.snapshot();
      assertFsError(thrown(() => db.get("k8", { snapshot })), "a snapshot's get");
      snapshot.release();
      await db.put("written while reads fail", "yes");
    } finally {
      failing = undefined;
    }
    assert.is(text(db.get("k5")), `value 5 `.padEnd(100, "."));
    assert.is(text(db.get("written while reads fail")), "yes");
    assert.is([...db.scan()].length, 3001);
  } finally {
    await db.close();
  }
});

test("a change feed whose read of the log fails with EIO: next() rejects with FileSystemError", async () => {
  const db = await open(tempDir());
  try {
    const feed = db.subscribe();
    await db.put("a", "1");
    await db.flush();
    failing = ".wal";
    let error: unknown = new Error("next() resolved");
    try {
      await feed.next();
    } catch (e) {
      error = e;
    } finally {
      failing = undefined;
    }
    assertFsError(error, "the feed's next()");
    await feed.return?.();
  } finally {
    await db.close();
  }
});

test.after(cleanup);
test.run();
