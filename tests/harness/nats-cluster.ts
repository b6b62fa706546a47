/**
 * Test harness: a local NATS JetStream cluster of `nats-server` processes (3 by default) on
 * loopback, each with its own store directory under one temp directory, for tests that need
 * a real replicated JetStream: start it, SIGKILL a node, restart it on the same ports and
 * store, stop everything.
 *
 * Invariants:
 * - Only 127.0.0.1. Every node's client, route and monitoring port is picked free by this
 *   process (bind port 0, close) and never handed out twice by it, so several clusters in one
 *   process, and the runtimes running the suite one after another, do not collide; a first
 *   start that still loses a port race starts again on new ports (a restart keeps its ports).
 * - Every wait is bounded and fails with an Error that carries the node's stderr tail; a
 *   missing binary is an Error saying how to install it (`apt-get install nats-server`),
 *   never a skip.
 * - `restart(i)` resolves only once node i serves clients and its /healthz says JetStream is
 *   current (meta leader known, its stream and consumer replicas caught up); `ready()` only
 *   once the account info answers (a meta leader is elected) and every running node is healthy.
 * - `stop()` is idempotent: it SIGKILLs every node, waits for each to exit, and removes the
 *   temp directory. Nodes still running when the test process exits are SIGKILLed, and their
 *   temp directories removed, by an `exit` hook (a test runner killed with SIGKILL still
 *   leaves them behind; Ctrl-C reaches them through the process group).
 * - One node (`nodes: 1`) runs plain JetStream without cluster flags.
 * - `sharedNatsCluster()`: one 3-node cluster per test process, started at its first use and
 *   ended by the exit hook, for the files that only publish and follow on it (each test on
 *   streams of its own). A file that kills, restarts or stops nodes starts its own.
 * - Written for nats-server 2.9.10 (the Debian package): command-line flags only, no config file.
 *
 * Threads: main test thread only; child process and stream events arrive on its event loop.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import process from "node:process";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";

export interface NatsCluster {
  /** Client URLs, one per node, index i is node i: "nats://127.0.0.1:PORT". */
  readonly servers: string[];
  /** Server names, index i is node i (what StreamInfo.cluster.leader and replicas name). */
  readonly names: string[];
  /** The temp directory holding every node's store dir; gone after `stop()`. */
  readonly dir: string;
  /** SIGKILLs node i (no-op if it is not running). */
  kill(i: number): void;
  /** Starts node i again on the same ports and store dir; resolves once it serves and its JetStream is current. */
  restart(i: number): Promise<void>;
  /** Resolves once a JetStream meta leader is elected and every running node is healthy. */
  ready(): Promise<void>;
  /** Name of the JetStream meta leader as a running node's /jsz reports it; undefined if none knows one. */
  metaLeader(): Promise<string | undefined>;
  /** SIGKILLs every node, waits for them to exit, removes the temp store dirs. Idempotent. */
  stop(): Promise<void>;
}

export interface NatsClusterOptions {
  /** Number of nodes, 3 by default. */
  nodes?: number;
}

const NODE_START_TIMEOUT_MS = 10_000;
const READY_TIMEOUT_MS = 20_000;
const RETRY_EVERY_MS = 200;
const EXIT_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 1_000;
const START_ATTEMPTS = 3;
const STDERR_TAIL = 8192;

const INSTALL_HINT =
  "install it with `apt-get install nats-server` (Debian/Ubuntu; `npm test` does this itself when run as root), " +
  "or put a nats-server 2.9+ binary on PATH";

/** Where nats-server is: the first executable on PATH, then /usr/sbin, /usr/local/bin, /usr/bin. */
export function findNatsServer(): string {
  const dirs = [...(process.env.PATH ?? "").split(delimiter).filter(Boolean), "/usr/sbin", "/usr/local/bin", "/usr/bin", "/usr/local/sbin"];
  for (const dir of dirs) {
    const path = join(dir, "nats-server");
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  throw new Error(`nats-server not found on PATH nor in /usr/sbin, /usr/local/bin, /usr/bin: ${INSTALL_HINT}`);
}

/** Ports this process handed out; never handed out again, even after the cluster stopped. */
const handedOut = new Set<number>();

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function freshPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await freePort();
    if (port > 0 && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error("nats-cluster: could not find a free loopback port");
}

/** Running nats-server processes and temp dirs of every cluster in this process not stopped yet, for the exit hook. */
const running = new Set<ChildProcess>();
const roots = new Set<string>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const proc of running) {
      try {
        proc.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
    // Best effort: a SIGKILLed process writes nothing more once the signal is delivered.
    for (const root of roots) {
      try {
        rmSync(root, { recursive: true, force: true });
      } catch {
        // left in the temp dir
      }
    }
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves with `promise`, or rejects with `message()` after `ms`. */
function within<T>(promise: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message())), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

interface Node {
  index: number;
  name: string;
  port: number;
  clusterPort: number;
  httpPort: number;
  storeDir: string;
  proc?: ChildProcess;
  /** Settles when `proc` has exited. */
  exited?: Promise<void>;
  /** kill() sent SIGKILL to `proc` (its exit event may not have arrived yet). */
  killed: boolean;
  /** Tail of the current (or last) process's stderr, where nats-server logs. */
  log: string;
}

class Cluster implements NatsCluster {
  readonly servers: string[];
  readonly names: string[];
  readonly dir: string;
  readonly binary: string;
  readonly root: string;
  readonly clusterName: string;
  readonly nodes: Node[];
  #stopped = false;

  constructor(binary: string, root: string, clusterName: string, nodes: Node[]) {
    this.binary = binary;
    this.root = root;
    this.clusterName = clusterName;
    this.nodes = nodes;
    this.servers = nodes.map((n) => `nats://127.0.0.1:${n.port}`);
    this.names = nodes.map((n) => n.name);
    this.dir = root;
  }

  #node(i: number): Node {
    const node = this.nodes[i];
    if (!node) throw new Error(`nats-cluster: no node ${i} (nodes 0..${this.nodes.length - 1})`);
    return node;
  }

  #describe(node: Node): string {
    return `nats-server ${node.name} (client port ${node.port}, route port ${node.clusterPort})`;
  }

  /** Spawns `node` and resolves once it listens for clients and routes; rejects (process killed) otherwise. */
  async startNode(node: Node): Promise<void> {
    if (this.#stopped) throw new Error("nats-cluster: stopped");
    const clustered = this.nodes.length > 1;
    const args = [
      "-js",
      "-sd", node.storeDir,
      "-a", "127.0.0.1",
      "-p", String(node.port),
      "-m", String(node.httpPort),
      "--server_name", node.name,
    ];
    // One node: plain JetStream, no routes (a one-node "cluster" would still want a meta group).
    if (clustered) {
      args.push(
        "--cluster_name", this.clusterName,
        "--cluster", `nats://127.0.0.1:${node.clusterPort}`,
        "--routes", this.nodes.map((n) => `nats://127.0.0.1:${n.clusterPort}`).join(","),
      );
    }
    node.log = "";
    node.killed = false;
    const proc = spawn(this.binary, args, { stdio: ["ignore", "ignore", "pipe"] });
    node.proc = proc;
    running.add(proc);
    let exitedWith: string | undefined;
    let onChange = () => {};
    node.exited = new Promise<void>((resolve) => {
      const done = (how: string) => {
        if (exitedWith !== undefined) return;
        exitedWith = how;
        running.delete(proc);
        onChange();
        resolve();
      };
      proc.on("exit", (code, signal) => done(signal ? `signal ${signal}` : `code ${code}`));
      proc.on("error", (error) => done(`error ${error.message}`));
    });
    proc.stderr!.setEncoding("utf8");
    proc.stderr!.on("data", (chunk: string) => {
      node.log = (node.log + chunk).slice(-STDERR_TAIL);
      onChange();
    });
    // nats-server logs "Server is ready" once it listens for clients, then opens the route port.
    const listening = new Promise<void>((resolve, reject) => {
      onChange = () => {
        if (exitedWith !== undefined) {
          reject(new Error(`${this.#describe(node)} exited (${exitedWith}) while starting; stderr:\n${node.log}`));
        } else if (node.log.includes("Server is ready") && (!clustered || node.log.includes("Listening for route connections on"))) {
          resolve();
        }
      };
      onChange();
    });
    try {
      await within(listening, NODE_START_TIMEOUT_MS, () => `${this.#describe(node)} not listening within ${NODE_START_TIMEOUT_MS} ms; stderr:\n${node.log}`);
    } catch (error) {
      this.#sigkill(node);
      await within(node.exited, EXIT_TIMEOUT_MS, () => `${this.#describe(node)} did not exit after SIGKILL`).catch(() => {});
      throw error;
    } finally {
      onChange = () => {};
    }
  }

  /** Started and not killed, nor exited. */
  #isRunning(node: Node): boolean {
    return node.proc !== undefined && running.has(node.proc) && !node.killed;
  }

  #sigkill(node: Node): void {
    if (node.proc === undefined || !running.has(node.proc)) return;
    node.killed = true;
    node.proc.kill("SIGKILL");
  }

  /** True if node's /healthz answers {"status":"ok"} (JetStream current with the meta leader, streams caught up). */
  async #healthy(node: Node): Promise<{ ok: boolean; why: string }> {
    try {
      const response = await fetch(`http://127.0.0.1:${node.httpPort}/healthz`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      const body = await response.text();
      return { ok: response.status === 200 && /"status"\s*:\s*"ok"/.test(body), why: `HTTP ${response.status} ${body.trim()}` };
    } catch (error) {
      return { ok: false, why: String((error as Error)?.message ?? error) };
    }
  }

  async #waitHealthy(node: Node, deadline: number): Promise<void> {
    for (;;) {
      if (!this.#isRunning(node)) throw new Error(`${this.#describe(node)} exited; stderr:\n${node.log}`);
      const { ok, why } = await this.#healthy(node);
      if (ok) return;
      if (Date.now() >= deadline) {
        throw new Error(`${this.#describe(node)}: JetStream not healthy within ${READY_TIMEOUT_MS} ms (last /healthz: ${why}); stderr:\n${node.log}`);
      }
      await sleep(RETRY_EVERY_MS);
    }
  }

  kill(i: number): void {
    this.#sigkill(this.#node(i));
  }

  async restart(i: number): Promise<void> {
    const node = this.#node(i);
    if (this.#isRunning(node)) throw new Error(`nats-cluster: node ${i} is still running; kill(${i}) it first`);
    if (node.exited) await within(node.exited, EXIT_TIMEOUT_MS, () => `${this.#describe(node)} did not exit`);
    await this.startNode(node);
    await this.#waitHealthy(node, Date.now() + READY_TIMEOUT_MS);
  }

  async ready(): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    const live = this.nodes.filter((n) => this.#isRunning(n));
    if (live.length === 0) throw new Error("nats-cluster: no node is running");
    let lastError: unknown;
    let nc: NatsConnection | undefined;
    try {
      for (;;) {
        try {
          nc ??= await connect({
            servers: live.map((n) => `nats://127.0.0.1:${n.port}`),
            timeout: REQUEST_TIMEOUT_MS,
            reconnectTimeWait: RETRY_EVERY_MS,
          });
          const jsm = await jetstreamManager(nc, { checkAPI: false, timeout: REQUEST_TIMEOUT_MS });
          await jsm.getAccountInfo();
          break;
        } catch (error) {
          lastError = error;
        }
        if (Date.now() >= deadline) {
          throw new Error(
            `nats-cluster: no JetStream meta leader within ${READY_TIMEOUT_MS} ms (last error: ${(lastError as Error)?.message ?? lastError}); ` +
              live.map((n) => `\n--- ${n.name} stderr:\n${n.log}`).join(""),
          );
        }
        await sleep(RETRY_EVERY_MS);
      }
    } finally {
      await nc?.close().catch(() => {});
    }
    for (const node of live) await this.#waitHealthy(node, deadline);
  }

  async metaLeader(): Promise<string | undefined> {
    for (const node of this.nodes) {
      if (!this.#isRunning(node)) continue;
      try {
        const response = await fetch(`http://127.0.0.1:${node.httpPort}/jsz`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
        const jsz = (await response.json()) as { meta_cluster?: { leader?: string } };
        if (jsz.meta_cluster?.leader) return jsz.meta_cluster.leader;
      } catch {
        // ask the next node
      }
    }
    return undefined;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const node of this.nodes) this.#sigkill(node);
    const stuck: string[] = [];
    await Promise.all(this.nodes.map(async (node) => {
      if (!node.exited) return;
      await within(node.exited, EXIT_TIMEOUT_MS, () => "").catch(() => stuck.push(`${node.name} (pid ${node.proc?.pid})`));
    }));
    rmSync(this.root, { recursive: true, force: true });
    roots.delete(this.root);
    if (stuck.length > 0) throw new Error(`nats-cluster: still running ${EXIT_TIMEOUT_MS} ms after SIGKILL: ${stuck.join(", ")}`);
  }
}

let clusters = 0;

/** Starts a `nodes`-node (3 by default) JetStream cluster on loopback; call `ready()` before using JetStream. */
export async function startNatsCluster(options: NatsClusterOptions = {}): Promise<NatsCluster> {
  const count = options.nodes ?? 3;
  if (!Number.isInteger(count) || count < 1) throw new Error(`nats-cluster: nodes must be a positive integer, not ${count}`);
  const binary = findNatsServer();
  installExitHook();
  const root = mkdtempSync(join(tmpdir(), "shardline-nats-"));
  roots.add(root);
  const clusterName = `shardline-${process.pid}-${++clusters}`;
  for (let attempt = 1; ; attempt++) {
    const nodes: Node[] = [];
    for (let i = 0; i < count; i++) {
      const storeDir = join(root, `attempt-${attempt}`, `n${i}`);
      mkdirSync(storeDir, { recursive: true });
      nodes.push({ index: i, name: `n${i}`, port: await freshPort(), clusterPort: await freshPort(), httpPort: await freshPort(), storeDir, log: "", killed: false });
    }
    const cluster = new Cluster(binary, root, clusterName, nodes);
    const started = await Promise.allSettled(nodes.map((node) => cluster.startNode(node)));
    const failure = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (!failure) return cluster;
    const portRace = nodes.some((n) => /address already in use/i.test(n.log));
    if (!portRace || attempt >= START_ATTEMPTS) {
      await cluster.stop().catch(() => {});
      throw failure.reason;
    }
    // Lost a race for a port to another process: stop this attempt's nodes (keeping the
    // temp dir for the next attempt's store dirs), pick new ports.
    for (const node of nodes) if (node.proc && running.has(node.proc)) node.proc.kill("SIGKILL");
    await Promise.all(nodes.map((n) => n.exited && within(n.exited, EXIT_TIMEOUT_MS, () => `${n.name} did not exit`)));
  }
}

let shared: Promise<NatsCluster> | undefined;

/**
 * The test process's shared 3-node cluster, ready (see the header): files that neither kill
 * nor restart nor stop nodes use it instead of starting one each (a start and stop is
 * ~2 s). Never call kill, restart or stop on it; the exit hook ends it with the process.
 */
export function sharedNatsCluster(): Promise<NatsCluster> {
  shared ??= (async () => {
    const cluster = await startNatsCluster();
    await cluster.ready();
    return cluster;
  })();
  shared.catch(() => (shared = undefined)); // a failed start is tried again by the next file
  return shared;
}
