// For `tsc -p tsconfig.tests.json` only: the tests reach runtimes/deno and runtimes/bun through
// tests/harness/platform.ts, and Node's checker has no types for Deno's globals or Bun's
// modules. Those adapters are typed by their own runtimes; to this checker they are opaque.
declare const Deno: any;
declare namespace Deno {
  type FsFile = any;
  type FileInfo = any;
  type DirEntry = any;
}
declare module "bun:ffi";
declare module "bun:jsc";
