import Ajv, { ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parse } from 'yaml';
import { configSchema } from '../../../src/config/config-schema';
import { resolveEnvReferences } from '../../../src/config/load-config';
import { CHANNEL_CONTRACTS } from '../../../src/contracts/channel-contracts';
import { paymentCommandSchema } from '../../../src/contracts/payment-command-schema';
import { GATEWAY_TYPES } from '../../../src/gateways/gateway-registry';
import { SchemaValidator, commandSchemaValidator, configValidator } from '../../../src/validation/precompiled-validator';
import { renderValidators } from '../../../scripts/validators/render-validators';
import { CONTRACT_EXAMPLES } from '../../../harness/workload/channel-contract-examples';
import { channelCommand } from '../../support/fixtures';
import { minimalParameters } from '../../support/minimal-parameters';

type Json = Record<string, unknown>;

const ROOT = join(__dirname, '..', '..', '..');

/** Values of every JSON type, most of them wrong for any one field. */
const WRONG: readonly unknown[] = ['x', '', -1, 0, 1.5, 2 ** 53, true, null, {}, { a: 1 }, [], ['x'], '2026-13-45T99:00:00Z'];

/** `doc` with one field (at any depth up to `depth`) deleted or replaced by each wrong value, `doc` first. */
function variants(doc: Json, depth = 4): Json[] {
  const out: Json[] = [doc];
  const walk = (path: string[], value: unknown, level: number): void => {
    if (level > depth || value === null || typeof value !== 'object') return;
    for (const key of Object.keys(value)) {
      const at = [...path, key];
      out.push(replaced(doc, at, undefined));
      for (const wrong of WRONG) out.push(replaced(doc, at, wrong));
      walk(at, (value as Json)[key], level + 1);
    }
  };
  walk([], doc, 1);
  out.push({ ...doc, not_in_any_schema: 1 });
  return out;
}

function replaced(doc: Json, path: string[], value: unknown): Json {
  const copy = structuredClone(doc);
  let node: Json = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Json;
  const last = path[path.length - 1];
  if (value === undefined) delete node[last];
  else node[last] = value;
  return copy;
}

/** What a validator says of `doc` (a copy: defaults are filled in): valid, the document after it, errors. */
function verdict(validate: (d: unknown) => boolean, errors: () => ErrorObject[] | null | undefined, doc: Json): unknown {
  const copy = structuredClone(doc);
  const valid = validate(copy);
  return { valid, doc: copy, errors: errors() ?? null };
}

function expectSame(reference: ReturnType<Ajv['compile']>, built: SchemaValidator<unknown>, docs: Json[]): void {
  let invalid = 0;
  for (const doc of docs) {
    const expected = verdict(reference, () => reference.errors, doc);
    const actual = verdict(built, () => built.errors, doc);
    if ((expected as { valid: boolean }).valid === false) invalid += 1;
    // Compared cheaply first: thousands of documents; jest's diff only for the one that differs.
    if (!isDeepStrictEqual(actual, expected)) expect({ doc, ...(actual as Json) }).toEqual({ doc, ...(expected as Json) });
  }
  // The corpus reaches the error paths, not only the valid documents.
  expect(invalid).toBeGreaterThan(docs.length / 2);
}

describe('validators generated at build time', () => {
  it('the committed modules are what the schemas generate now (else: npm run generate:validators)', () => {
    for (const [path, text] of renderValidators()) {
      const committed = readFileSync(join(ROOT, path), 'utf8');
      expect(committed === text ? 'current' : `${path} is out of date: run npm run generate:validators`).toBe('current');
    }
  });

  it('the configuration validator answers as Ajv compiling the schema does: validity, defaults filled in, every error and its schema path', () => {
    const reference = new Ajv({ allErrors: true, useDefaults: true, strict: true, allowUnionTypes: true }).compile(configSchema);
    const docs: Json[] = [];
    // Every key alone, wrong in every way, on a minimal valid map; and every required key missing.
    for (const key of Object.keys(configSchema.properties)) {
      for (const wrong of WRONG) docs.push({ ...minimalParameters(), [key]: wrong });
    }
    for (const key of configSchema.required) docs.push(replaced(minimalParameters(), [key], undefined));
    docs.push(minimalParameters(), { ...minimalParameters(), 'delivery.backof_max_ms': 10 });
    // Each gateway type: bare, with an unknown key, and wrong in each field of the shipped example.
    const shipped = resolveEnvReferences(
      (parse(readFileSync(join(ROOT, 'parameters.yml.dist'), 'utf8')) as { parameters: Json }).parameters,
      new Proxy({}, { get: () => '1' }),
    );
    for (const type of GATEWAY_TYPES)
      docs.push({ ...minimalParameters(), gateways: { g: { type } } }, { ...minimalParameters(), gateways: { g: { type, bogus: 1 } } });
    docs.push(...variants(shipped as Json, 3));
    expectSame(reference, configValidator(), docs);
  });

  it('the canonical command and every channel contract validate as Ajv compiling their schemas does: first error, field and schema path', () => {
    const ajv = new Ajv({ allErrors: false, strict: false });
    addFormats(ajv, ['date-time']);
    const commands = (['authorize', 'capture', 'refund', 'sale', 'tokenize', 'balance_inquiry'] as const).map((c) => channelCommand(c) as unknown as Json);
    expectSame(
      ajv.compile(paymentCommandSchema),
      commandSchemaValidator(paymentCommandSchema.$id),
      commands.flatMap((c) => variants(c)),
    );
    for (const [name, contract] of CHANNEL_CONTRACTS) {
      expectSame(ajv.compile(contract.schema), commandSchemaValidator(name), variants(CONTRACT_EXAMPLES[name]('same') as Json));
    }
  });

  it('a schema the generated module does not have is named in the error, with the command that regenerates it', () => {
    expect(() => commandSchemaValidator('web.order_created.v2')).toThrow(
      'no build-time validator for schema "web.order_created.v2": run npm run generate:validators',
    );
  });
});
