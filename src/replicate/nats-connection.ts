/**
 * The NATS connection a publisher or follower uses: the caller's own (`connection`, left
 * open on close) or one made from `servers` (closed with it). Reconnects forever: a
 * cluster that loses a server, or restarts, is waited for, not given up on.
 *
 * Threads: the thread that connects.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";

export interface NatsTarget {
  /** NATS server URLs ("nats://127.0.0.1:4222"), used when `connection` is not given. */
  servers?: string | string[];
  /** An open connection to use instead (not closed by shardline). */
  connection?: NatsConnection;
}

export interface HeldConnection {
  nc: NatsConnection;
  /** Closes the connection if shardline opened it. */
  release(): Promise<void>;
}

export async function holdConnection(target: NatsTarget, name: string): Promise<HeldConnection> {
  if (target.connection) return { nc: target.connection, release: async () => {} };
  if (target.servers === undefined || (Array.isArray(target.servers) && target.servers.length === 0)) {
    throw new TypeError("replication needs `servers` (NATS URLs) or an open `connection`");
  }
  const nc = await connect({ servers: target.servers, name, maxReconnectAttempts: -1, reconnectTimeWait: 250, timeout: 10_000 });
  return { nc, release: () => releaseConnection(nc) };
}

/** How long a release lets the connection drain before it closes it. */
export const DRAIN_MS_MAX = 2_000;

/**
 * Drains `nc` (what it sent reaches the server), for at most DRAIN_MS_MAX, then closes it:
 * a drain waits for the server's answer to a flush, and a server that answers nothing (a
 * stopped process, a partition that keeps the socket open) held close() for minutes
 * (review, 2026-12-06). What a close cuts short is nothing the caller waits for: a
 * publisher's unacknowledged messages are sent again by the next publisher, a follower's
 * unapplied ones read again.
 */
async function releaseConnection(nc: NatsConnection): Promise<void> {
  if (nc.isClosed()) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), DRAIN_MS_MAX)));
  try {
    const drained = await Promise.race([nc.drain().then(() => "drained" as const, () => "failed" as const), late]);
    if (drained !== "drained") await nc.close().catch(() => {});
  } finally {
    clearTimeout(timer);
  }
}

/** Names JetStream accepts for a stream (and, suffixed, a bucket): no dots, spaces or wildcards. */
export const STREAM_NAME = /^[A-Za-z0-9_-]{1,200}$/;

export function checkStreamName(stream: unknown): string {
  if (typeof stream !== "string" || !STREAM_NAME.test(stream)) throw new TypeError(`stream must be a name matching ${STREAM_NAME}, got ${JSON.stringify(stream)}`);
  return stream;
}

export function defaultSubject(stream: string): string {
  return `shardline.${stream}`;
}

/** A subject to publish on: dot-separated tokens, no wildcards or spaces. */
const SUBJECT = /^[^\s.*>]+(\.[^\s.*>]+)*$/;

export function checkSubject(subject: unknown, stream: string): string {
  if (subject === undefined) return defaultSubject(stream);
  if (typeof subject !== "string" || subject.length > 256 || !SUBJECT.test(subject)) {
    throw new TypeError(`subject must be a NATS subject without wildcards or spaces (at most 256 characters), got ${JSON.stringify(subject)}`);
  }
  return subject;
}

/**
 * caughtUp's arguments, judged before any wait: an LSN (a number or a bigint, as
 * `stats().wal.durableLsn` is) and a timeout in milliseconds. NaN resolved at once as if
 * caught up, and a NaN timeout never expired (review, 2026-12-06).
 */
export function checkCaughtUpArguments(lsn: unknown, timeoutMs: unknown, timeoutMsMax: number): number {
  const n = typeof lsn === "bigint" && lsn >= 0n && lsn <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(lsn) : lsn;
  if (typeof n !== "number") throw new TypeError(`caughtUp: lsn must be a number or a bigint, got ${typeof lsn}`);
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`caughtUp: lsn must be an integer from 0 to 2^53 - 1, got ${String(lsn)}`);
  if (typeof timeoutMs !== "number") throw new TypeError(`caughtUp: timeoutMs must be a number, got ${typeof timeoutMs}`);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > timeoutMsMax) throw new RangeError(`caughtUp: timeoutMs must be an integer from 0 to ${timeoutMsMax}, got ${timeoutMs}`);
  return n;
}

/** Time a publisher or follower gives a busy cluster to answer its setup requests. */
export const JETSTREAM_SETUP_TIMEOUT_MS = 30_000;
const SETUP_RETRY_EVERY_MS = 250;

/**
 * Whether a JetStream request failed only because the cluster could not answer yet: while
 * it elects a meta or stream leader (after losing a server, or while one rejoins) requests
 * time out, find no responder, or get a 503 from the API for a few seconds.
 */
export function isTransientJetStreamError(error: unknown): boolean {
  const e = error as { name?: string; status?: number; cause?: unknown } | undefined;
  if (e?.name === "TimeoutError" || e?.name === "NoResponders") return true;
  if (e?.name === "RequestError") return isTransientJetStreamError(e.cause);
  return e?.name === "JetStreamApiError" && e.status === 503;
}

/**
 * Runs `step` (a setup request that may be sent again: a read, or a create that finds what
 * an earlier try made) until it succeeds, retrying transient failures until `deadline`
 * (Date.now() milliseconds). Any other error, or a transient one past the deadline, is thrown.
 */
export function retryTransient<T>(deadline: number, step: () => Promise<T>): Promise<T> {
  return retryWhile(deadline, step, isTransientJetStreamError);
}

/** Runs `step` until it succeeds, again every SETUP_RETRY_EVERY_MS while its error is `retryable` and `deadline` has not passed. */
async function retryWhile<T>(deadline: number, step: () => Promise<T>, retryable: (error: unknown) => boolean): Promise<T> {
  for (;;) {
    try {
      return await step();
    } catch (error) {
      if (!retryable(error) || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, SETUP_RETRY_EVERY_MS));
    }
  }
}

/**
 * A JetStream manager once JetStream answers: while a cluster elects a new meta leader
 * (after losing a server) its API times out for a few seconds; that is waited out, up to
 * `timeoutMs`.
 */
export function readyJetStream(nc: NatsConnection, timeoutMs = JETSTREAM_SETUP_TIMEOUT_MS): Promise<JetStreamManager> {
  return retryWhile(Date.now() + timeoutMs, () => jetstreamManager(nc), () => true);
}
