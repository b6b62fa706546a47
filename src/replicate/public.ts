/**
 * The public surface of `shardline/replicate` (docs/REPLICATION.md), bound to a runtime's
 * Platform by each runtime entry (runtimes/<rt>/replicate.ts), so users never see one.
 *
 *   const publisher = await startPublisher(db, { servers, stream: "orders" });   // writer side
 *   const follower = await openFollower("./replica", { servers, stream: "orders" });
 *   await follower.db.get("key");
 */
import type { Database } from "../engine/database.ts";
import { publicError } from "../errors.ts";
import type { Platform } from "../platform.ts";
import { Follower, type FollowerOptions } from "./follower.ts";
import { Publisher, type PublisherOptions } from "./publisher.ts";

export { Follower } from "./follower.ts";
export type { FollowerLag, FollowerOptions, FollowerStats } from "./follower.ts";
export { Publisher } from "./publisher.ts";
export type { PublisherOptions, PublisherStats } from "./publisher.ts";
export type { SnapshotInfo } from "./snapshot.ts";
export { ReplicationError, ReplicationGapError } from "./stream-messages.ts";

export interface ReplicateApi {
  /** Ships `db`'s durable records (db: the writer's handle) to a JetStream stream. */
  startPublisher(db: Database, options: PublisherOptions): Promise<Publisher>;
  /** Opens (bootstrapping if empty) a follower of a stream in `dir`. */
  openFollower(dir: string, options: FollowerOptions): Promise<Follower>;
}

/** @internal The runtime entries bind their Platform with it; tests import it from here. */
export function bindReplicateApi(platform: Platform): ReplicateApi {
  return {
    startPublisher: (db, options) => Publisher.start(platform, db, options).catch((error) => Promise.reject(publicError(error))),
    openFollower: (dir, options) => Follower.open(platform, dir, options).catch((error) => Promise.reject(publicError(error))),
  };
}
