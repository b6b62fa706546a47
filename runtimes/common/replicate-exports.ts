// What `shardline/replicate` exports besides the two functions each runtime entry binds
// itself (`startPublisher`, `openFollower`): shared by runtimes/{node,bun,deno}/replicate.ts.
// Values are named one by one so that the Platform binder (bindReplicateApi) is not
// exported at run time (see wal-exports.ts).

export { Follower, Publisher, ReplicationError, ReplicationGapError } from "../../src/replicate/public.ts";
export type * from "../../src/replicate/public.ts";
