/** `shardline/replicate` for Deno: followers on other machines through NATS JetStream (docs/REPLICATION.md). */
import { bindReplicateApi } from "../../src/replicate/public.ts";
import { denoPlatform } from "./platform.ts";

export * from "../common/replicate-exports.ts";
export const { startPublisher, openFollower } = bindReplicateApi(denoPlatform);
