/**
 * The explicit-resource-management globals the published declarations mention
 * (`Symbol.dispose`, `Symbol.asyncDispose`, `Disposable`, `AsyncDisposable`), for apps
 * compiled without lib "esnext.disposable" or @types/node, e.g. `tsc --target es2022`.
 * scripts/build.mjs copies it to dist/types/ and references it from every entry's
 * declarations. The members match TypeScript's own lib.esnext.disposable.d.ts, so the
 * two merge when an app has both (checked by tests/package/install.test.ts).
 *
 * And the `WebAssembly` types they name (a handle's module and memory), which only the DOM
 * and webworker libs declare, not @types/node: a Node project typed the usual way (lib
 * es2022, @types/node) failed with "Cannot find namespace 'WebAssembly'" (review,
 * 2026-12-07). Empty interfaces, which merge with the libs' own where an app has them.
 */
declare global {
  interface SymbolConstructor {
    readonly dispose: unique symbol;
    readonly asyncDispose: unique symbol;
  }
  interface Disposable {
    [Symbol.dispose](): void;
  }
  interface AsyncDisposable {
    [Symbol.asyncDispose](): PromiseLike<void>;
  }
  namespace WebAssembly {
    interface Module {}
    interface Memory {}
    interface Instance {}
  }
}
export {};
