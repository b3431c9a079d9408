/**
 * A shallow copy of `source`'s own enumerable properties, as `{ ...source }` gives, meant to have more
 * properties added to it (an event's `payment` echo). V8 adds a property to an object spread's copy through its
 * slow path, building a new hidden class each time (about a microsecond and a few hundred bytes per property,
 * a dozen properties per event); to this copy, built from an empty literal, it adds them along cached
 * transitions. Same keys, same order, same values.
 */
export function extensibleCopy(source: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const from = source as Record<string, unknown>;
  for (const key of Object.keys(from)) {
    // An own `__proto__` (JSON.parse makes one) stays a plain property, as a spread keeps it.
    if (key === '__proto__') Object.defineProperty(out, key, { value: from[key], enumerable: true, writable: true, configurable: true });
    else out[key] = from[key];
  }
  return out;
}
