/**
 * The explicit-resource-management globals the published declarations mention
 * (`Symbol.dispose`, `Symbol.asyncDispose`, `Disposable`, `AsyncDisposable`), for apps
 * compiled without lib "esnext.disposable" or @types/node, e.g. `tsc --target es2022`.
 * scripts/build.mjs copies it to dist/types/ and references it from every entry's
 * declarations. The members match TypeScript's own lib.esnext.disposable.d.ts, so the
 * two merge when an app has both (checked by tests/package/install.test.ts).
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
}
export {};
