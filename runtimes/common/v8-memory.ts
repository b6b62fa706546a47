/**
 * Garbage collection in V8 runtimes: `Platform.collectGarbage` of runtimes/node and
 * runtimes/deno, and `Platform.weighSharedMemory` of runtimes/node.
 *
 * collectGarbage: a full collection on demand without a command-line flag. V8's `gc`
 * function is installed on a context's global when the context is created while the
 * `--expose-gc` flag is set. If this thread's global has one (the process runs with
 * --expose-gc), that is used. Otherwise the flag is set with node:v8's
 * `setFlagsFromString`, one `node:vm` context is created to take its `gc`, and the flag is
 * cleared again, so contexts and workers made later in the process get no `gc` global; the
 * function collects the whole heap of the thread's isolate, whatever context it came from.
 * This is what the `expose-gc` package does, minus leaving the flag set. Both runtimes leave
 * V8's flags writable after start for this (Node by default, Deno's core passes
 * --no-freeze-flags-after-init).
 *
 * weighSharedMemory (Node's adapter only): V8 counts an ArrayBuffer's or a non-shared
 * WebAssembly.Memory's bytes as external memory, and starts a major collection when that
 * grew by 64 MiB since the last one; Node 20's V8 (11.3) counts nothing for a shared
 * memory. So an isolate that drops shared memories, and allocates little on its heap,
 * collects none: Node's opener kept every closed database's memory (and the pages it
 * touched) for hundreds of open/close cycles. Weighing a shared memory hangs an
 * ArrayBuffer of `bytes` on it (a WeakMap entry: reachable exactly as long as the shared
 * memory's object is), which V8 counts. The buffer comes from `Buffer.allocUnsafeSlow`: not
 * zeroed, never read or written, so its pages are never touched and it costs no resident
 * memory (100 weights of 4 MiB after churn: RSS +0 MiB; zeroed `new ArrayBuffer`s, whose
 * calloc clears reused heap memory, +82 MiB). The weights were non-shared
 * WebAssembly.Memory objects until 2026-12-05, but V8 reserves 10 GiB of address space for
 * every wasm memory on 64-bit: with a weight on the opener and on each pooled thread, and
 * a probe core per open, a Node process reserved ~50 GiB per open database, past 1 TiB
 * after 20 of them (docs/PERFORMANCE.md, "Address space"). Deno
 * 2.9's V8 and Bun collect dropped shared memories without it (measured: 400 dropped, 1 MiB
 * touched in each, RSS peaks +34 MiB in Deno, +11 MiB in Bun, +406 MiB in Node), so their
 * adapters have no weights (Bun's address space for wasm memories is short besides: about
 * 100 of 708 MiB).
 *
 * Invariants: the `gc` lookup happens once per thread, on the first call; if it fails,
 * every call returns false and nothing else happens. Two threads that look it up at once
 * can clear the flag under each other, so a lookup that finds no `gc` tries again (3
 * times). A memory is weighed once per isolate, however often it is passed.
 * Threads: any; each thread (isolate) has its own `gc` function and its own weights.
 */
import { Buffer } from "node:buffer";
import v8 from "node:v8";
import vm from "node:vm";

type Gc = () => void;
let found: Gc | null | undefined;

function newContextGc(): Gc | undefined {
  const gc = vm.runInNewContext("globalThis.gc") as unknown;
  return typeof gc === "function" ? (gc as Gc) : undefined;
}

function lookUp(): Gc | null {
  const own = (globalThis as { gc?: unknown }).gc;
  if (typeof own === "function") return own as Gc;
  try {
    const already = newContextGc(); // the flag is set, only this global lost its gc
    if (already) return already;
    for (let attempt = 0; attempt < 3; attempt++) {
      v8.setFlagsFromString("--expose-gc");
      let gc: Gc | undefined;
      try {
        gc = newContextGc();
      } finally {
        v8.setFlagsFromString("--no-expose-gc");
      }
      if (gc) return gc;
    }
  } catch {
    // no node:vm contexts or no writable flags here: no collections on demand
  }
  return null;
}

/** Collects this thread's whole heap now; false if this runtime cannot. */
export function v8CollectGarbage(): boolean {
  if (found === undefined) found = lookUp();
  if (found === null) return false;
  found();
  return true;
}

const weights = new WeakMap<WebAssembly.Memory, ArrayBuffer>();

/** Makes V8 count `bytes` of external memory for as long as `memory` is reachable. */
export function v8WeighSharedMemory(memory: WebAssembly.Memory, bytes: number): void {
  if (weights.has(memory)) return;
  weights.set(memory, Buffer.allocUnsafeSlow(Math.max(1, bytes)).buffer as ArrayBuffer);
}
