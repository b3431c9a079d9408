import { actionExpiryMs } from '../customer-action';

/** The action types whose object names its expiry: Checkout v71 `CheckoutVoucherAction.expiresAt` ("The date time of the voucher expiry") and `CheckoutQrCodeAction.expiresAt` ("Expiry time of the QR code"). */
const EXPIRING_ACTIONS: ReadonlySet<string> = new Set(['voucher', 'qrCode']);

/** An ISO 8601 date, or date and time with an optional offset (`2021-01-14T00:00:00`, `2023-05-22T14:19:15+02:00`, `…Z`). */
const ISO_DATE_TIME = /^(\d{4}-\d{2}-\d{2})(?:T(\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(Z|[+-]\d{2}:\d{2})?)?$/;

/** The westmost offset in use (UTC−12): a wall-clock time without an offset names no later instant anywhere. */
const WESTMOST_OFFSET_MS = 12 * 3600 * 1000;

/**
 * An `expiresAt` string as epoch ms. The spec types it a plain string without a format, and Adyen's examples
 * for vouchers give a wall-clock time without an offset (the shopper's local time, a Boleto's in São Paulo, an
 * OXXO's in Mexico City): read then as the latest instant it can name (as if at UTC−12), and a bare date as
 * the end of that day, so the bridge never gives up before the shopper's deadline. `undefined` when unreadable.
 */
export function parseAdyenExpiry(value: string): number | undefined {
  const m = ISO_DATE_TIME.exec(value.trim());
  if (!m) return undefined;
  const [, date, time, offset] = m;
  if (time === undefined) {
    const startOfDay = Date.parse(`${date}T00:00:00Z`);
    return Number.isNaN(startOfDay) ? undefined : actionExpiryMs(startOfDay + 24 * 3600 * 1000 + WESTMOST_OFFSET_MS);
  }
  const at = Date.parse(`${date}T${time}${offset ?? 'Z'}`);
  if (Number.isNaN(at)) return undefined;
  return actionExpiryMs(offset === undefined ? at + WESTMOST_OFFSET_MS : at);
}

/** Until when the shopper may complete an Adyen `action` (a voucher, a QR code), epoch ms, when it says so. */
export function adyenActionExpiresAt(action: unknown): number | undefined {
  if (action === null || typeof action !== 'object' || Array.isArray(action)) return undefined;
  const a = action as Record<string, unknown>;
  if (typeof a.type !== 'string' || !EXPIRING_ACTIONS.has(a.type) || typeof a.expiresAt !== 'string') return undefined;
  return parseAdyenExpiry(a.expiresAt);
}
