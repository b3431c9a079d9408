import { GATEWAY_CREDENTIAL_FIELDS, GATEWAY_FLAG_FIELDS, GatewayConfig, GatewayCredentials, GatewayFlags, settingKey } from '../gateways/gateway-config';
import { GatewayDefinition } from '../gateways/gateway-definition';
import { GATEWAYS, GATEWAY_TYPES, GatewayType, gatewayDefinition } from '../gateways/gateway-registry';

/**
 * The `gateways` map of `parameters.yml`, from the gateway registry: every gateway has `type`, `base_url`,
 * `timeout_ms`, `max_sockets`, `connect_timeout_ms`, `warm_sockets`, `keep_warm_interval_ms` and optional `vault`, plus the keys its definition declares in `settings` (its required ones
 * must be non-empty) and its boolean `flags` (default false); any other key is refused, naming it. No gateway is named here.
 */

const positiveInt = { type: 'integer', minimum: 1 } as const;
const httpUrl = { type: 'string', pattern: '^https?://[^\\s]+$' } as const;

/** The schema of one gateway type's entry (applied once `type` says which). */
function entrySchema(definition: GatewayDefinition): Record<string, unknown> {
  const properties: Record<string, unknown> = {
    type: { const: definition.type },
    base_url: httpUrl,
    timeout_ms: { ...positiveInt, default: 10000 },
    max_sockets: { ...positiveInt, default: 512 },
    // Connection establishment (TCP + TLS), separate from and shorter than the call's timeout_ms.
    connect_timeout_ms: { ...positiveInt, default: 2000 },
    // Keep-alive connections opened at start and kept open (0: none), and how often they are topped up.
    warm_sockets: { type: 'integer', minimum: 0, default: 16 },
    keep_warm_interval_ms: { ...positiveInt, minimum: 1000, default: 30000 },
    // Token on first use (payment.payment_method.store) is allowed on this gateway.
    store_payment_methods: { type: 'boolean', default: false },
    // 3-D Secure on every authorize/sale of this gateway (Cybersource Payer Authentication).
    payer_authentication: { type: 'boolean', default: false },
    // The PSP vault this entry shares with others of the same name (src/gateways/gateway-vaults.ts); no default.
    vault: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$' },
  };
  const required = ['type', 'base_url'];
  for (const [field, setting] of Object.entries(definition.settings)) {
    if (!setting) continue;
    const key = settingKey(field as keyof GatewayCredentials);
    properties[key] = setting.required ? { type: 'string', minLength: 1 } : { type: 'string', default: '' };
    if (setting.required) required.push(key);
  }
  for (const field of GATEWAY_FLAG_FIELDS) if (definition.flags?.[field]) properties[settingKey(field)] = { type: 'boolean', default: false };
  return { type: 'object', additionalProperties: false, required, properties };
}

/** JSON Schema of `gateways`: the name → entry map, each entry checked by the schema of its `type`. */
export function gatewaysSchema(): Record<string, unknown> {
  return {
    type: 'object',
    default: {},
    propertyNames: { pattern: '^[a-z][a-z0-9_-]*$' },
    additionalProperties: {
      type: 'object',
      required: ['type'],
      properties: { type: { enum: [...GATEWAY_TYPES] } },
      allOf: GATEWAYS.map((definition) => ({
        if: { properties: { type: { const: definition.type } }, required: ['type'] },
        then: entrySchema(definition),
      })),
    },
  };
}

/** A validated `gateways.<name>` entry (defaults applied) → the typed configuration; undeclared fields are ''. */
export function toGatewayConfig(name: string, raw: Record<string, unknown>): GatewayConfig {
  const type = raw.type as GatewayType;
  const definition = gatewayDefinition(type);
  const settings = definition.settings;
  const credentials = Object.fromEntries(
    GATEWAY_CREDENTIAL_FIELDS.map((field) => [field, settings[field] ? String(raw[settingKey(field)] ?? '') : '']),
  ) as Record<keyof GatewayCredentials, string>;
  // Only the switches its definition declares (the schema refuses the others).
  const flags = Object.fromEntries(
    GATEWAY_FLAG_FIELDS.filter((field) => definition.flags?.[field]).map((field) => [field, raw[settingKey(field)] === true]),
  ) as GatewayFlags;
  return {
    name,
    type,
    baseUrl: String(raw.base_url).replace(/\/+$/, ''),
    ...credentials,
    ...flags,
    timeoutMs: raw.timeout_ms as number,
    maxSockets: raw.max_sockets as number,
    connectTimeoutMs: raw.connect_timeout_ms as number,
    warmSockets: raw.warm_sockets as number,
    keepWarmIntervalMs: raw.keep_warm_interval_ms as number,
    storePaymentMethods: raw.store_payment_methods === true,
    payerAuthentication: raw.payer_authentication === true,
    ...(typeof raw.vault === 'string' ? { vault: raw.vault } : {}),
  };
}
