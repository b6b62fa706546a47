/** `shardline/replicate` for Node: followers on other machines through NATS JetStream (docs/REPLICATION.md). */
import { bindReplicateApi } from "../../src/replicate/public.ts";
import { nodePlatform } from "./platform.ts";

export * from "../common/replicate-exports.ts";
export const { startPublisher, openFollower } = bindReplicateApi(nodePlatform);
