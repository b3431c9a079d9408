import type { Config } from './config';

/** What a masked secret prints as; an unset one prints as the empty string, so "missing" stays visible. */
export const MASK = '****';

/** Field names (camelCase, as in {@link Config}) whose values are credentials. */
const SECRET_FIELD = /secret|password|apikey|token|keyid|hmac|credential/i;

/** `scheme://user:password@host` → `scheme://user:****@host`; anything else unchanged. */
export function maskUrlPassword(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/:@\s]*):[^@/\s]*@/i, `$1:${MASK}@`);
}

function mask(value: unknown, key: string): unknown {
  if (typeof value === 'string') {
    if (SECRET_FIELD.test(key)) return value === '' ? '' : MASK;
    return maskUrlPassword(value);
  }
  if (Array.isArray(value)) return value.map((v) => mask(v, key));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mask(v, k)]));
  }
  return value;
}

/**
 * The configuration as the process runs with it (defaults applied, `%env()%` resolved), with every
 * credential masked: secret fields by name, passwords inside URLs (`amqp://user:****@host`). For
 * `payment-bridge check-config --show`; safe to paste into a ticket.
 */
export function maskedConfig(config: Config): unknown {
  return mask(config, '');
}
