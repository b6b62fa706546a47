// Assertions uvu 0.5 lacks.
import { Assertion } from "uvu/assert";

/** Awaits `fn()` and asserts it rejects with an error accepted by `check` (a class or a predicate). */
export async function rejects<E extends Error = Error>(
  fn: () => Promise<unknown>,
  check?: ((error: Error) => boolean) | (new (...args: never[]) => E),
  message = "expected the promise to reject",
): Promise<E> {
  let error: unknown;
  try {
    await fn();
  } catch (e) {
    error = e;
  }
  if (error === undefined) throw new Assertion({ message, operator: "rejects", generated: false, expects: "rejection", actual: "resolution" } as never);
  const e = error as E;
  if (check) {
    const ok = check.prototype instanceof Error || (check as unknown) === Error ? e instanceof (check as new () => Error) : (check as (e: Error) => boolean)(e);
    if (!ok) throw new Assertion({ message: `${message}: wrong error: ${e?.name}: ${e?.message}`, operator: "rejects", generated: false, expects: String(check), actual: String(e) } as never);
  }
  return e;
}

/**
 * Asserts `fn` throws an instance of `Class` (uvu's `assert.throws(fn, X)` calls X as a
 * predicate, so passing a class there would pass or fail for the wrong reason).
 */
export function throwsA(fn: () => unknown, Class: new (...args: never[]) => Error, message = `expected a ${Class.name}`): Error {
  try {
    fn();
  } catch (e) {
    if (e instanceof Class) return e;
    throw new Assertion({ message: `${message}: got ${(e as Error)?.name}: ${(e as Error)?.message}`, operator: "throws", generated: false, expects: Class.name, actual: String(e) } as never);
  }
  throw new Assertion({ message: `${message}: nothing was thrown`, operator: "throws", generated: false, expects: Class.name, actual: "no error" } as never);
}

/** `promise`'s outcome, or a rejection naming `what` after `ms`: a hang becomes a failure. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not settled after ${ms} ms`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
