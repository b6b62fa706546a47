/**
 * Deno KV, Deno's built-in store (`Deno.openKv(path)`, SQLite underneath, `--unstable-kv`),
 * in its only mode: `await kv.set([key], value)`, one transaction per set, fsynced before
 * it resolves (checked with strace: one fsync per set) — durable. Keys are `[Uint8Array]`
 * (ordered byte-wise, like every other system here); reads use `await kv.get` and
 * `kv.list`. The string workloads use `[string]` keys and string values. Only in Deno:
 * elsewhere it is unavailable, with that reason.
 *
 * Threads: the thread that opened it; no writes from workers here, because the workload
 * that uses workers measures non-durable writes, which Deno KV does not have.
 */
import { runtimeName } from "../../runtimes/current.ts";
import { reasonOf, type Store, type StringStore, type System, touch } from "./system.ts";

type KvKey = Array<Uint8Array | string>;
interface Kv {
  set(key: KvKey, value: Uint8Array | string): Promise<unknown>;
  get(key: KvKey): Promise<{ value: unknown }>;
  list(selector: { start: KvKey; end: KvKey }, options: { limit: number; batchSize: number }): AsyncIterable<{ value: unknown }>;
  atomic(): { set(key: KvKey, value: Uint8Array | string): unknown; commit(): Promise<{ ok: boolean }> };
  close(): void;
}
/** Loads keys and values in atomic operations of 1,000 mutations (Deno KV's limit per operation). */
async function loadAll(kv: Kv, keys: readonly (Uint8Array | string)[], values: (i: number) => Uint8Array | string): Promise<void> {
  const CHUNK = 1000;
  for (let i = 0; i < keys.length; i += CHUNK) {
    const op = kv.atomic();
    for (let j = i; j < Math.min(keys.length, i + CHUNK); j++) op.set([keys[j]], values(j));
    const { ok } = await op.commit();
    if (!ok) throw new Error("Deno KV atomic load failed");
  }
}

interface DenoKvNamespace {
  openKv?: (path: string) => Promise<Kv>;
  version: { deno: string };
}

const deno = (globalThis as unknown as { Deno?: DenoKvNamespace }).Deno;
/** Above every 16-byte benchmark key: the end of a scan's range. */
const END_KEY = new Uint8Array(17).fill(0xff);

export const denoKv: System = {
  id: "deno-kv",
  name: "Deno KV",
  library: deno ? `Deno KV (Deno ${deno.version.deno}, SQLite backend)` : "Deno KV",
  mode: "await kv.set; fsync per set",
  family: "deno-kv",
  durability: "durable",
  readApi: "await kv.get; kv.list",
  stringReadApi: "await kv.get, [string] keys, string values",
  noNonDurable: "Deno KV has no non-durable mode: every set is fsynced",
  noWorkers: "Deno KV has no non-durable mode, which the two-worker workload measures",
  async available() {
    if (runtimeName() !== "deno") return `Deno KV is built into Deno only (this is ${runtimeName()})`;
    if (typeof deno?.openKv !== "function") return "Deno.openKv is missing (run deno with --unstable-kv)";
    try {
      const probe = await deno.openKv(":memory:");
      probe.close();
      return true;
    } catch (e) {
      return `Deno.openKv failed: ${reasonOf(e)}`;
    }
  },
  async open(dir): Promise<Store> {
    const kv = await deno!.openKv!(`${dir}/kv.sqlite`);
    return {
      writeStyle: "await",
      put: (k, v) => kv.set([k], v),
      readStyle: "await",
      get: async (k) => (await kv.get([k])).value as Uint8Array | undefined ?? undefined,
      async scan(start, limit) {
        let n = 0;
        let bytes = 0;
        for await (const entry of kv.list({ start: [start], end: [END_KEY] }, { limit, batchSize: 1000 })) {
          bytes += (entry.value as Uint8Array).length;
          n++;
        }
        touch(bytes);
        return n;
      },
      load: (keys, values) => loadAll(kv, keys, values),
      // Every commit is already durable.
      flush: async () => {},
      close: async () => kv.close(),
    };
  },
  async openStrings(dir): Promise<StringStore> {
    const kv = await deno!.openKv!(`${dir}/kv.sqlite`);
    return {
      writeStyle: "await",
      put: (k, v) => kv.set([k], v),
      readStyle: "await",
      get: async (k) => (await kv.get([k])).value as string | undefined ?? undefined,
      load: (keys, values) => loadAll(kv, keys, values),
      flush: async () => {},
      close: async () => kv.close(),
    };
  },
};
