/** `shardline/wal` for Node: the durable write-ahead log on its own (docs/wal-format.md). */
import { bindLogApi } from "../../src/wal/public.ts";
import { nodePlatform } from "./platform.ts";

export * from "../common/wal-exports.ts";
export const { openLog, attachLog } = bindLogApi(nodePlatform);
