// Arguments and options are read once (review of the write paths, second pass, 2026-12-06;
// each seen failing before its fix in Node, Bun and Deno): they were read more than once.
// A value is validated on one read and used from another, so what was checked is not what
// runs: an attach handle's durability, a batch operation's type, enqueue's timeoutMs.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Database } from "../../src/engine/database.ts";
import { attach, cleanup, open, tempDir, text } from "./helpers.ts";

const test = suite("engine: arguments read once");

test("attach validates the handle's durability on one read and uses another: an attached handle of a full database ends up with durability 'bogus'", async () => {
  const db = await open(tempDir(), { shards: 1 });
  let attached: Database | undefined;
  try {
    const handle = db.share();
    let reads = 0;
    const hostile = { ...handle, get durability() { reads++; return reads === 1 ? "full" : "bogus"; } } as unknown as typeof handle;
    attached = await attach(hostile).catch((error) => {
      // A typed refusal would also be fine: what was checked must be what is used.
      assert.ok(error instanceof TypeError, `untyped refusal: ${error}`);
      return undefined;
    });
    if (attached) {
      assert.is(attached.durability, "full", "the attached handle must use the durability that was validated");
      assert.is(reads, 1, "the handle's durability is read once");
    }
  } finally {
    await attached?.close();
    await db.close();
  }
});

test("batch reads an operation's type once: a getter read twice gives a TypeError that names a valid type", async () => {
  const db = await open(tempDir(), { shards: 1 });
  try {
    let reads = 0;
    const op = { get type() { reads++; return reads === 1 ? "delete" : "put"; }, key: "a", value: "z" } as never;
    let error: unknown;
    let ts: bigint | undefined;
    try {
      ts = await db.batch([op]);
    } catch (e) {
      error = e;
    }
    assert.is(reads, 1, `the operation's type was read ${reads} times (error: ${error})`);
    assert.is(error, undefined, "the type read was \"delete\": a valid operation");
    assert.ok(ts !== undefined && ts > 0n);
    assert.is(text(db.get("a")), undefined, "the delete the type said");
  } finally {
    await db.close();
  }
});

test("enqueue reads its timeoutMs option once", async () => {
  const db = await open(tempDir(), { shards: 1 });
  try {
    let reads = 0;
    await db.enqueue([{ type: "put", key: "a", value: "1" }], { get timeoutMs() { reads++; return 1000; } });
    assert.is(text(db.get("a")), "1");
    assert.is(reads, 1, "timeoutMs read once");
  } finally {
    await db.close();
  }
});

test("open reads each option once: a fastWrite getter answering the check a boolean and the open a string is not used unchecked", async () => {
  let reads = 0;
  const options = {
    durability: "async" as const,
    get fastWrite(): boolean {
      return (++reads === 1 ? false : "yes") as boolean;
    },
  };
  const db = await open(tempDir(), options);
  try {
    assert.is(reads, 1, `fastWrite was read ${reads} times`);
  } finally {
    await db.close();
  }
});

test.after.each(cleanup);
test.run();
