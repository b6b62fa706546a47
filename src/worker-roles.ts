/**
 * Every worker role shardline defines, registered by importing this module. Each
 * runtime's worker entry (runtimes/<rt>/worker.ts) imports it before dispatching, since
 * the role registry is per thread.
 */
import "./wal/durability-worker.ts";
import "./engine/actor.ts";
import "./engine/replay-pages.ts";
import "./worker-pool.ts";
