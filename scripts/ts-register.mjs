// `node --import ./scripts/ts-register.mjs file.ts`: run TypeScript sources on Node 20.
// Worker threads inherit `--import` through execArgv, so workers load `.ts` entries too;
// the engine's own threads run from a bundle instead (scripts/ts-engine-workers.mjs).
import { register } from "node:module";
register("./ts-hooks.mjs", import.meta.url);
await import("./ts-engine-workers.mjs");
