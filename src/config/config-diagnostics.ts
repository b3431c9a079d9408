import type { ErrorObject } from 'ajv';

/**
 * Turns schema errors into what an operator can act on: the key, what is wrong, the allowed values of an
 * enum, and the nearest known key when a key is unknown (usually a typo). Pure; used by `buildConfig` and
 * `payment-bridge check-config`.
 */

type Schema = { properties?: Record<string, unknown>; additionalProperties?: unknown };

/** A JSON pointer (`/gateways/stripe/base_url`) as the path segments of the key it points at. */
function pointerSegments(pointer: string): string[] {
  return pointer
    .split('/')
    .filter(Boolean)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

type ArraySchema = Schema & { type?: unknown; items?: unknown };

/**
 * `segments` as a key: dotted, an element of an array (as `schema` says, when given) as `[<index>]`, as the
 * `%env()%` resolution and the cross-field rules name it (`console.accounts[1].role`, not `console.accounts.1.role`).
 */
function keyOfSegments(segments: readonly string[], schema?: object): string {
  let node: ArraySchema | null = (schema as ArraySchema | undefined) ?? null;
  let key = '';
  for (const segment of segments) {
    if (node?.type === 'array' && /^\d+$/.test(segment)) {
      key += `[${segment}]`;
      node = node.items && typeof node.items === 'object' ? (node.items as ArraySchema) : null;
      continue;
    }
    key += key === '' ? segment : `.${segment}`;
    const next: unknown = node?.properties?.[segment] ?? (node && typeof node.additionalProperties === 'object' ? node.additionalProperties : undefined);
    node = next && typeof next === 'object' ? (next as ArraySchema) : null;
  }
  return key;
}

/** The dotted key a schema error is about (`gateways.stripe.base_url`, `service_bus.url`, `console.accounts[1].role`). */
export function keyOfError(error: ErrorObject, schema?: object): string {
  const path = pointerSegments(error.instancePath);
  if (error.keyword === 'additionalProperties') {
    path.push(String((error.params as { additionalProperty: string }).additionalProperty));
    return keyOfSegments(path, schema);
  }
  if (error.keyword === 'required') path.push(String((error.params as { missingProperty: string }).missingProperty));
  // A bad map key (a gateway name) is reported at the map; name the key itself.
  const badName = error.propertyName ?? (error.params as { propertyName?: string }).propertyName;
  if (badName !== undefined) path.push(badName);
  return keyOfSegments(path, schema) || '(root)';
}

/**
 * The schema object that describes the object at `pointer` (`''` = the root, `/gateways/stripe` = one
 * gateway), following `properties` and `additionalProperties`; null when it cannot be found.
 */
function schemaAt(root: Schema, pointer: string): Schema | null {
  let node: Schema | null = root;
  for (const segment of pointerSegments(pointer)) {
    if (!node) return null;
    const next: unknown = node.properties?.[segment] ?? (typeof node.additionalProperties === 'object' ? node.additionalProperties : undefined);
    node = next && typeof next === 'object' ? (next as Schema) : null;
  }
  return node;
}

/**
 * The schema object holding the keyword that failed, found by the error's `schemaPath`
 * (`#/properties/gateways/additionalProperties/allOf/1/then/additionalProperties`: a gateway entry is checked
 * by the schema of its type, which the instance path alone does not say); null when it cannot be followed.
 */
function schemaOfError(root: Schema, error: ErrorObject): Schema | null {
  const segments = error.schemaPath
    .replace(/^#\/?/, '')
    .split('/')
    .filter(Boolean)
    .slice(0, -1)
    .map((p) => decodeURIComponent(p.replace(/~1/g, '/').replace(/~0/g, '~')));
  let node: unknown = root;
  for (const segment of segments) {
    if (!node || typeof node !== 'object') return null;
    node = (node as Record<string, unknown>)[segment];
  }
  return node && typeof node === 'object' ? (node as Schema) : null;
}

/** Levenshtein distance, early-exit above `limit` (keys are short; this is start-up code). */
export function editDistance(a: string, b: string, limit = Infinity): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost);
      rowMin = Math.min(rowMin, current[j]);
    }
    if (rowMin > limit) return rowMin;
    previous = current;
  }
  return previous[b.length];
}

/**
 * The known key closest to `unknown` among `candidates`, or null when none is close enough to be a typo
 * (at most a third of the key's length in edits, and never more than 4).
 */
export function nearestKey(unknown: string, candidates: readonly string[]): string | null {
  const limit = Math.min(4, Math.max(1, Math.floor(unknown.length / 3)));
  let best: string | null = null;
  let bestDistance = limit + 1;
  for (const candidate of candidates) {
    const d = editDistance(unknown.toLowerCase(), candidate.toLowerCase(), bestDistance);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** What is wrong, in words: allowed values for an enum, the nearest key for an unknown one. */
export function describeError(error: ErrorObject, schema: object): string {
  switch (error.keyword) {
    case 'additionalProperties': {
      const unknown = String((error.params as { additionalProperty: string }).additionalProperty);
      const known = Object.keys((schemaOfError(schema as Schema, error) ?? schemaAt(schema as Schema, error.instancePath))?.properties ?? {});
      const near = nearestKey(unknown, known);
      return near ? `unknown key (did you mean "${near}"?)` : 'unknown key';
    }
    case 'required':
      return 'is required';
    case 'enum': {
      const allowed = (error.params as { allowedValues: unknown[] }).allowedValues;
      return `must be one of: ${allowed.map((v) => JSON.stringify(v)).join(', ')}`;
    }
    default:
      return error.message ?? 'is invalid';
  }
}

/**
 * Every schema problem as `key: problem`, unknown keys first (a typo's "missing" twin says less),
 * without duplicates (ajv repeats a problem once per failing branch).
 */
export function schemaProblems(errors: readonly ErrorObject[], schema: object): Array<[key: string, problem: string]> {
  // A gateway entry failing its type's schema also reports the `if` that chose that schema: the inner errors say more.
  const sorted = errors
    .filter((e) => e.keyword !== 'if')
    .sort((a, b) => Number(b.keyword === 'additionalProperties') - Number(a.keyword === 'additionalProperties'));
  const seen = new Set<string>();
  const out: Array<[string, string]> = [];
  for (const error of sorted) {
    const entry: [string, string] = [keyOfError(error, schema), describeError(error, schema)];
    const id = entry.join(': ');
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(entry);
  }
  return out;
}
