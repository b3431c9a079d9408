/** A class of error, for {@link thrownBy} and {@link rejectionOf}. */
type ErrorClass<E extends Error> = abstract new (...args: never[]) => E;

/** The error `fn` throws, when it is an `E`; anything else thrown propagates, and not throwing fails the test. */
export function thrownBy<E extends Error>(fn: () => unknown, type: ErrorClass<E>): E {
  try {
    fn();
  } catch (err) {
    if (err instanceof type) return err;
    throw err;
  }
  throw new Error(`expected ${type.name} to be thrown`);
}

/** The error `promise` rejects with, when it is an `E`; any other rejection propagates, and resolving fails the test. */
export async function rejectionOf<E extends Error>(promise: Promise<unknown>, type: ErrorClass<E>): Promise<E> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof type) return err;
    throw err;
  }
  throw new Error(`expected the promise to reject with ${type.name}`);
}
