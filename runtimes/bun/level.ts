/**
 * `shardline/level` for Bun: an abstract-level database backed by shardline (src/level/).
 *
 *   import { ShardlineLevel } from "shardline/level";
 *   const db = new ShardlineLevel("./data", { valueEncoding: "json" });
 */
import { bindDatabaseApi } from "../../src/engine/public.ts";
import { bindLevel } from "../../src/level/shardline-level.ts";
import { bunPlatform } from "./platform.ts";

export type { LevelRuntime, ShardlineLevelBase, ShardlineLevelClass, ShardlineLevelOptions } from "../../src/level/shardline-level.ts";
export const ShardlineLevel = bindLevel({ open: bindDatabaseApi(bunPlatform).open });
