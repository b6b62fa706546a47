// Helpers of the replication tests: a stream a real publisher made and left, and one
// nats-server of a test's own (a given max_payload; paused, killed and started again),
// on 127.0.0.1, with bounded waits.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import process from "node:process";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { toolCore } from "../../src/cli/database.ts";
import { bindReplicateApi } from "../../src/replicate/public.ts";
import { PIECE_HEADER_ROOM_BYTES, streamEnd } from "../../src/replicate/stream-messages.ts";
import { findNatsServer } from "../harness/nats-cluster.ts";
import { open, platform, tempDir } from "../engine/helpers.ts";

const { startPublisher } = bindReplicateApi(platform);

export interface LeftStream {
  stream: string;
  writer: Awaited<ReturnType<typeof open>>;
  nc: Awaited<ReturnType<typeof connect>>;
  jsm: Awaited<ReturnType<typeof jetstreamManager>>;
  core: Awaited<ReturnType<typeof toolCore>>;
  /** The first snapshot's LSN, and where the publisher left the stream. */
  snapshotLsn: number;
  end: Awaited<ReturnType<typeof streamEnd>>;
  /** The bytes of one piece of a record cut in pieces, as a publisher cuts them. */
  pieceBytes: number;
}

/**
 * Opens a writer, starts its publisher on a new stream named `<name>-...`, puts `puts` keys
 * k<i> = v<i>, waits until they are published and closes the publisher (forgetting its
 * slot); runs `body`, which goes on writing the stream itself; closes everything after.
 */
export async function withLeftStream(servers: string[], name: string, puts: number, body: (s: LeftStream) => Promise<void>): Promise<void> {
  const stream = `${name}-${Date.now().toString(36)}`;
  const writer = await open(tempDir(), { memtableBytesMax: 64 * 1024, shards: 2 });
  const nc = await connect({ servers });
  const core = await toolCore();
  try {
    const publisher = await startPublisher(writer, { servers, stream });
    const snapshotLsn = publisher.stats().lastSnapshotLsn!;
    for (let i = 0; i < puts; i++) await writer.put(`k${i}`, `v${i}`);
    await publisher.caughtUp();
    await publisher.close({ forget: true });
    const jsm = await jetstreamManager(nc);
    const end = await streamEnd(jsm, stream, `shardline.${stream}`);
    const pieceBytes = (nc.info?.max_payload ?? 1 << 20) - PIECE_HEADER_ROOM_BYTES;
    await body({ stream, writer, nc, jsm, core, snapshotLsn, end, pieceBytes });
  } finally {
    core.detach();
    await nc.close();
    await writer.close();
  }
}

/** A free loopback port (bind 0, close). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** One JetStream nats-server of a test's own, on 127.0.0.1. */
export interface OwnNatsServer {
  url: string;
  /** SIGSTOP: it keeps its connections open and answers nothing. */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  /** SIGKILL, and its exit waited for (at most 5 s); start() runs it again on the same port and store. */
  kill(): Promise<void>;
  start(): Promise<void>;
  /** kill(), then its store removed. */
  stop(): Promise<void>;
}

/** Starts one JetStream server on 127.0.0.1 (with `max_payload`, if given); bounded waits. */
export async function ownNatsServer(options: { maxPayload?: number } = {}): Promise<OwnNatsServer> {
  const root = mkdtempSync(`${tmpdir()}/shardline-nats-own-`);
  const port = await freePort();
  const payload = options.maxPayload === undefined ? "" : `max_payload: ${options.maxPayload}\n`;
  writeFileSync(`${root}/server.conf`, `listen: "127.0.0.1:${port}"\n${payload}jetstream { store_dir: "${root}/store" }\n`);
  const url = `nats://127.0.0.1:${port}`;
  let child: ReturnType<typeof spawn>;
  let exited: Promise<void>;
  // process.kill by pid: Deno's ChildProcess.kill sends only the first signal it is asked for.
  const signal = (name: "SIGSTOP" | "SIGCONT" | "SIGKILL") => {
    try {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, name);
    } catch {
      // it is gone already
    }
  };
  const kill = async () => {
    signal("SIGCONT");
    signal("SIGKILL");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
  };
  const start = async () => {
    child = spawn(findNatsServer(), ["-c", `${root}/server.conf`], { stdio: "ignore" });
    exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    for (let attempt = 0; ; attempt++) {
      try {
        const nc = await connect({ servers: url, timeout: 500 });
        await nc.close();
        return;
      } catch (error) {
        if (attempt >= 50) throw new Error(`nats-server on ${url} did not start: ${(error as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  const stop = async () => {
    await kill();
    rmSync(root, { recursive: true, force: true });
  };
  try {
    await start();
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, pause: () => signal("SIGSTOP"), resume: () => signal("SIGCONT"), kill, start, stop };
}

/** One JetStream server on 127.0.0.1 with `max_payload`; stop() SIGKILLs it and removes its store. */
export function serverWithMaxPayload(maxPayload: number): Promise<OwnNatsServer> {
  return ownNatsServer({ maxPayload });
}

/** `p`'s outcome, or "timed out" after `ms` (the timer is cleared either way). */
export async function within<T>(ms: number, p: Promise<T>): Promise<T | "timed out"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<"timed out">((r) => (timer = setTimeout(() => r("timed out"), ms)));
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits (bounded) until a writer's merges have settled: no compaction for 300 ms. */
export async function mergesSettled(db: { stats(): { compactions: number } }, limitMs = 4_000): Promise<void> {
  const until = Date.now() + limitMs;
  let last = db.stats().compactions;
  let since = Date.now();
  while (Date.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
    const now = db.stats().compactions;
    if (now !== last) [last, since] = [now, Date.now()];
    else if (Date.now() - since >= 300) return;
  }
}

/** "settled", or "rejected: <message>": what became of `p`. */
export const settled = (p: Promise<unknown>): Promise<string> => p.then(() => "settled", (e) => `rejected: ${(e as Error)?.message ?? e}`);

/**
 * `nc`, with its requests to the subjects `holds` picks (an object store's chunks, its
 * metadata) held while `state.gate` is set: a test stops an upload at a chosen point.
 */
export function gated(nc: NatsConnection, holds: (subject: string) => boolean): { proxy: NatsConnection; state: { gate: Promise<void> | undefined; held: number } } {
  const state = { gate: undefined as Promise<void> | undefined, held: 0 };
  const proxy = new Proxy(nc, {
    get(target, prop) {
      if (prop === "request") {
        return async (subject: string, data?: unknown, opts?: unknown) => {
          if (state.gate && holds(subject)) {
            state.held++;
            await state.gate;
          }
          return (target.request as (...a: unknown[]) => unknown)(subject, data, opts);
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { proxy, state };
}
