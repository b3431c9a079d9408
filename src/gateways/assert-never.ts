/** Exhaustiveness guard for status maps: an unmapped value is a compile error, and a runtime error. */
export function assertNever(value: never, what = 'value'): never {
  throw new Error(`unmapped ${what}: ${JSON.stringify(value)}`);
}
