// What `shardline/wal` exports besides the two functions each runtime entry binds itself
// (`openLog`, `attachLog`): shared by runtimes/{node,bun,deno}/wal.ts.
//
// The values are named one by one because src/wal/public.ts also exports `bindLogApi`,
// the Platform binder only the entries and tests use: `export *` of public.ts would export
// it at run time from every bundle, although the published declarations strip it. Types
// cost nothing at run time and follow public.ts as it is (its declarations hide the binder).
// tests/package/exports.test.ts checks that public.ts exports no other value but the
// binder; tests/package/install.test.ts that the installed package exports exactly the
// public names (README "Exports") in Node, Bun and Deno.

export { Log } from "../../src/wal/public.ts";
export { ClosedError, CorruptionError, FileSystemError, LockedError, LogTrimmedError, ShardlineError, WalFailedError } from "../../src/wal/public.ts";
export type * from "../../src/wal/public.ts";
