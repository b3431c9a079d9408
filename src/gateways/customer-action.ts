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

/** Largest action kept (bytes of JSON): Adyen's 3-D Secure 2 tokens run to a few KiB. A bigger one keeps kind and url only. */
export const MAX_ACTION_BYTES = 32 * 1024;

/** `action` bounded to {@link MAX_ACTION_BYTES}: the PSP object is dropped, never truncated, when too big. */
export function boundedAction(action: CustomerAction): CustomerAction {
  if (JSON.stringify(action).length <= MAX_ACTION_BYTES) return action;
  const { psp_action: _dropped, ...rest } = action;
  return rest;
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
