import { GatewayError } from '../errors/gateway-error';

/**
 * One URL path segment built from a command's value (a gateway key): percent-encoded, and never empty,
 * `.` or `..`, which survive encoding and would make the PSP (or a proxy) resolve another path.
 * @throws GatewayError `invalid_request` (gatewayCode `INVALID_PATH_SEGMENT`) naming the field.
 */
export function pathSegment(value: string, field: string, gateway: string): string {
  if (value === '' || value === '.' || value === '..') {
    throw new GatewayError('invalid_request', gateway, `${field} cannot be used in a URL path`, { gatewayCode: 'INVALID_PATH_SEGMENT' });
  }
  return encodeURIComponent(value);
}
