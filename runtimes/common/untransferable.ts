/**
 * `Platform.markUntransferable` of runtimes/node and runtimes/deno: node:worker_threads'
 * markAsUntransferable. Checked in Node 20 and Deno 2.9 (tests/engine/value-copies.test.ts):
 * a marked ArrayBuffer in a transfer list is copied (Node) or refused with DataCloneError
 * (Deno), never detached. Bun has the function too, but its adapter leaves pooled copies
 * off (src/engine/value-copies.ts says why).
 */
import { markAsUntransferable } from "node:worker_threads";

export function markUntransferable(buffer: ArrayBuffer): void {
  markAsUntransferable(buffer);
}
