import type { ErrorObject } from 'ajv';
import * as commandValidators from './generated/command-validators';
import * as configValidators from './generated/config-validator';

/**
 * A JSON Schema validator Ajv generated at build time (its standalone code): the function `ajv.compile`
 * returns, without compiling at start-up. Compiling the configuration schema and the command and contract
 * schemas took ~0.4-0.8 s of every role's start and left ~20 MiB of garbage in the old space, which V8
 * keeps committed (docs/BENCHMARKS.md, "Validators generated at build time").
 */
export interface SchemaValidator<T> {
  (data: unknown): data is T;
  /** The last call's errors (null after a valid value). */
  errors?: ErrorObject[] | null;
}

/** The export a schema's validator has in its generated module: its `$id` with every non-identifier character `_`. */
export function validatorExportName(schemaId: string): string {
  return schemaId.replace(/[^A-Za-z0-9_$]/g, '_');
}

/** The export of the configuration schema's validator. */
export const CONFIG_VALIDATOR_EXPORT = 'parameters';

/** A flat object schema: one subschema per key, as the configuration schema is. */
export interface FlatObjectSchema {
  properties: Record<string, Record<string, unknown>>;
  [keyword: string]: unknown;
}

/**
 * The configuration schema laid out for generation: each property's subschema moved to `definitions/p<i>`
 * (its `default` stays on the property, where Ajv's `useDefaults` reads it) and referenced, so Ajv
 * generates one function per key. As one function the configuration's validator is too large for
 * TypeScript's control-flow analysis (TS2563), which then stops for the whole program.
 */
export function configSchemaByReference(schema: FlatObjectSchema): object {
  const properties: Record<string, object> = {};
  const definitions: Record<string, object> = {};
  Object.entries(schema.properties).forEach(([key, sub], i) => {
    const { default: fallback, ...rest } = sub;
    definitions[`p${i}`] = rest;
    properties[key] = { $ref: `#/definitions/p${i}`, ...(fallback !== undefined ? { default: fallback } : {}) };
  });
  return { ...schema, properties, definitions };
}

function exported(module: Record<string, unknown>, name: string, schema: string): (data: unknown) => boolean {
  const validator = module[name];
  // A schema added or renamed without regenerating: the unit test of the generated modules fails first.
  if (typeof validator !== 'function') throw new Error(`no build-time validator for ${schema}: run npm run generate:validators`);
  return validator as (data: unknown) => boolean;
}

/**
 * The build-time validator of the `parameters:` map: every error, defaults filled in. Its errors carry the
 * schema paths of the configuration schema itself (`#/properties/<key>/…`), as a validator compiled from
 * it would: a key's own function reports paths from its definition's root (`#/type`), and the key is the
 * first segment of the error's instance path (the map is flat).
 */
export function configValidator(): SchemaValidator<Record<string, unknown>> {
  const generated = exported(configValidators, CONFIG_VALIDATOR_EXPORT, 'the configuration schema') as SchemaValidator<Record<string, unknown>>;
  const ofSchema = (e: ErrorObject): ErrorObject => {
    const key = e.instancePath.split('/')[1];
    // Errors about the map itself (required, unknown keys) come from the top function with the top's paths.
    return key === undefined ? e : { ...e, schemaPath: `#/properties/${encodeURIComponent(key)}${e.schemaPath.slice(1)}` };
  };
  const validate = ((data: unknown) => {
    const valid = generated(data);
    validate.errors = generated.errors ? generated.errors.map(ofSchema) : generated.errors;
    return valid;
  }) as SchemaValidator<Record<string, unknown>>;
  return validate;
}

/**
 * The build-time validator of the canonical command or a channel contract, by its schema's `$id`: stops at
 * the first error; `date-time` checked as ajv-formats' full format.
 * @throws Error when the generated module has none.
 */
export function commandSchemaValidator<T>(schemaId: string): SchemaValidator<T> {
  return exported(commandValidators, validatorExportName(schemaId), `schema "${schemaId}"`) as SchemaValidator<T>;
}
