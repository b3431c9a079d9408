import { pspEpochMs } from './psp-time';

/**
 * What the storefront needs when a PSP asks for the customer (3-D Secure, a redirect to Klarna or a
 * wallet, an app to open): reported on the ACTION_REQUIRED event as `payment.action`. The PSP's own object
 * goes verbatim in `psp_action` (Stripe `next_action`, Adyen `action`), so the storefront hands it to the
 * PSP's client library unchanged (Stripe.js `handleNextAction({clientSecret})`, Adyen Checkout
 * `createFromAction(action)`).
 *
 * Stripe's `client_secret` is the key of one PaymentIntent that Stripe designs to be handed to the
 * customer's browser; it is kept on the operation's record and its event only (never logged: the log
 * redaction drops every `client_secret` key), and the record drops it when the operation leaves
 * ACTION_REQUIRED.
 */
export const ACTION_KINDS = ['redirect', 'three_ds', 'sdk', 'voucher', 'await', 'other'] as const;
export type ActionKind = (typeof ACTION_KINDS)[number];

export interface CustomerAction {
  /**
   * `redirect`: send the browser to `url` (or let the PSP library do it); `three_ds`: run 3-D Secure with
   * the PSP's library; `sdk`: hand the object to the PSP's SDK (wallet app, QR code); `voucher`: show it;
   * `await`: the customer acts elsewhere (an app), nothing to show; `other`: a kind we do not name.
   */
  kind: ActionKind;
  /** Redirect target when the PSP gave one. */
  url?: string;
  /** Stripe: the PaymentIntent's client secret (for Stripe.js). */
  client_secret?: string;
  /** The PSP's own action object, verbatim. */
  psp_action?: Record<string, unknown>;
}

/**
 * Largest action kept (bytes of its JSON, UTF-8): Adyen's 3-D Secure 2 tokens run to a few KiB. A bigger one
 * loses its PSP object first, then what still does not fit (see {@link boundedAction}).
 */
export const MAX_ACTION_BYTES = 32 * 1024;
/** Longest `url` kept of an action above {@link MAX_ACTION_BYTES} (bytes): browsers and servers refuse longer ones. */
export const MAX_ACTION_URL_BYTES = 8 * 1024;
/** Longest `client_secret` kept of an action above {@link MAX_ACTION_BYTES} (bytes): Stripe's run to some 60 characters. */
export const MAX_ACTION_SECRET_BYTES = 1024;

/** A part of an action {@link boundedAction} may drop (the `part` label of `pb_customer_actions_trimmed_total`). */
export type ActionPart = 'psp_action' | 'client_secret' | 'url' | 'other';

/** An action as kept, what was dropped of it and how big it came (bytes of JSON; 0 when it was kept whole). */
export interface BoundedAction {
  action: CustomerAction;
  dropped: ActionPart[];
  bytes: number;
}

/** Bytes of `value` as JSON, or Infinity for anything that does not serialise (it cannot be stored either). */
function jsonBytes(value: unknown): number {
  try {
    return Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
  } catch {
    return Infinity;
  }
}

/**
 * `action` bounded to {@link MAX_ACTION_BYTES}, whole or not at all part by part (a cut object or URL is no
 * use to the storefront): above it, the PSP object (`psp_action`) is dropped; when what is left is still above
 * it (a PSP sending a huge `url` or `client_secret`), only `kind` is kept for sure, the `url` when it is at
 * most {@link MAX_ACTION_URL_BYTES} and the `client_secret` when it is at most {@link MAX_ACTION_SECRET_BYTES}.
 * Any other key an action may hold goes too (`other`). The same object when it fits. Pure.
 */
export function boundedAction(action: CustomerAction): BoundedAction {
  const bytes = jsonBytes(action);
  if (bytes <= MAX_ACTION_BYTES) return { action, dropped: [], bytes: 0 };
  const { psp_action: pspAction, ...rest } = action;
  const dropped: ActionPart[] = pspAction !== undefined ? ['psp_action'] : [];
  if (jsonBytes(rest) <= MAX_ACTION_BYTES) return { action: rest, dropped, bytes };
  const kept: CustomerAction = { kind: action.kind };
  const fits = (value: unknown, max: number): value is string => typeof value === 'string' && Buffer.byteLength(value, 'utf8') <= max;
  if (fits(action.url, MAX_ACTION_URL_BYTES)) kept.url = action.url;
  else if (action.url !== undefined) dropped.push('url');
  if (fits(action.client_secret, MAX_ACTION_SECRET_BYTES)) kept.client_secret = action.client_secret;
  else if (action.client_secret !== undefined) dropped.push('client_secret');
  if (Object.keys(rest).some((key) => key !== 'kind' && key !== 'url' && key !== 'client_secret')) dropped.push('other');
  return { action: kept, dropped, bytes };
}

/** Reads a stored action back; anything unreadable is dropped. */
export function parseCustomerAction(value: unknown): CustomerAction | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  if (!(ACTION_KINDS as readonly unknown[]).includes(v.kind)) return undefined;
  return v as unknown as CustomerAction;
}

/**
 * A PSP's action deadline as epoch ms (`GatewayOutcome.actionExpiresAt`), when `ms` is one from 1970 to the end
 * of year 9999 (`pspEpochMs`); anything else is no deadline (the fixed timeout applies).
 */
export function actionExpiryMs(ms: number | undefined): number | undefined {
  return pspEpochMs(ms);
}
