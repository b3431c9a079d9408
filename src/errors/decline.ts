import { maskCardNumbers } from '../logging/redact';

/**
 * Why an operation failed, in words the OMS can act on: one closed set of categories shared by every
 * gateway, the PSP's own code verbatim, a message safe to show a customer and a suggested next step.
 * Each gateway maps its own documented codes to a category in `src/gateways/<name>/<name>-declines.ts`;
 * our own refusals (no route, unsupported command, idempotency conflict…) map in `bridge-declines.ts`.
 * The tables are rendered in `docs/gateways/*.md` (`npm run docs:gateways`).
 */

/** The closed set of decline categories. Adding one is a deliberate change: the docs list them all. */
export const DECLINE_CATEGORIES = [
  'insufficient_funds',
  'do_not_honor',
  'expired_card',
  'suspected_fraud',
  'authentication_required',
  'invalid_card_data',
  'card_not_supported',
  'limit_exceeded',
  'try_again_later',
  'processing_error',
  'cancelled',
  'operation_not_permitted',
  'invalid_request',
  'bridge_refused',
  'unknown',
] as const;
export type DeclineCategory = (typeof DECLINE_CATEGORIES)[number];

/**
 * What the OMS (or the customer) should do next. `reauthorize`: the authorization the command acted on is gone (it
 * lapsed at the PSP): obtain a new one (a `revalidate`, or a new authorization) before capturing.
 * `reverse_with_new_transaction`: what the command would have undone can no longer be voided (a stored value
 * transaction past its PSP's void window): it stands; undo its effect with a new transaction (for example a gift card
 * payment of what a load added, or the deactivation of a card it issued or activated). `refund_instead`: a cancel of a
 * payment the PSP captured (Adyen re-captured a capture it had failed): nothing can be cancelled; send a refund.
 */
export const SUGGESTED_ACTIONS = [
  'retry_later',
  'use_another_method',
  'contact_bank',
  'authenticate',
  'check_card_details',
  'fix_request',
  'contact_support',
  'reauthorize',
  'reverse_with_new_transaction',
  'refund_instead',
  'none',
] as const;
export type SuggestedAction = (typeof SUGGESTED_ACTIONS)[number];

/** The decline details a FAIL event carries (`params.payment.decline`) and the ledger record keeps. */
export interface Decline {
  category: DeclineCategory;
  /** The PSP's (or the bridge's) own code, verbatim (at most 64 characters, never card data). */
  gateway_code: string;
  /** Short, customer-safe: no internal detail, no card data, never which fraud check fired. */
  customer_message: string;
  suggested_action: SuggestedAction;
}

interface CategoryDefaults {
  message: string;
  action: SuggestedAction;
  /** One line for the docs. */
  meaning: string;
}

/**
 * Each category's customer message and default action. Fraud, lost and stolen cards get the generic
 * decline message on purpose (the PSPs ask not to tell the shopper which check fired).
 */
export const CATEGORY_DEFAULTS: Readonly<Record<DeclineCategory, CategoryDefaults>> = {
  insufficient_funds: {
    message: 'Your payment was declined because the account has insufficient funds. Please use another payment method.',
    action: 'use_another_method',
    meaning: 'Not enough funds or credit on the account.',
  },
  do_not_honor: {
    message: 'Your bank declined this payment. Please contact your bank or use another payment method.',
    action: 'contact_bank',
    meaning: 'The issuer declined without a specific reason (generic decline).',
  },
  expired_card: {
    message: 'Your card has expired. Please use another payment method.',
    action: 'use_another_method',
    meaning: 'The card is expired (or cancelled by the issuer).',
  },
  suspected_fraud: {
    message: 'Your payment was declined. Please use another payment method.',
    action: 'use_another_method',
    meaning: 'Fraud suspected, card lost or stolen, blocked by risk rules. The customer message stays generic.',
  },
  authentication_required: {
    message: 'Your bank requires you to confirm this payment. Please try again and complete the verification.',
    action: 'authenticate',
    meaning: 'The issuer wants Strong Customer Authentication (3-D Secure, PIN).',
  },
  invalid_card_data: {
    message: 'Some of your card details are incorrect. Please check them and try again.',
    action: 'check_card_details',
    meaning: 'Wrong card number, CVC, expiry, PIN or billing address (AVS).',
  },
  card_not_supported: {
    message: 'This card cannot be used for this purchase. Please use another payment method.',
    action: 'use_another_method',
    meaning: 'Card type, currency or kind of transaction not supported or not allowed.',
  },
  limit_exceeded: {
    message: 'This payment exceeds a limit on your card. Please contact your bank or use another payment method.',
    action: 'contact_bank',
    meaning: 'Credit, amount or frequency limit of the card reached.',
  },
  try_again_later: {
    message: 'Your bank could not be reached. Please try again in a few minutes.',
    action: 'retry_later',
    meaning: 'Temporary: the issuer or network was unavailable; the same payment may succeed later.',
  },
  processing_error: {
    message: 'Your payment could not be processed. Please try again later.',
    action: 'retry_later',
    meaning: 'An error at the PSP, acquirer or processor.',
  },
  cancelled: {
    message: 'This payment was cancelled.',
    action: 'none',
    meaning: 'Cancelled by the shopper, the merchant or the PSP.',
  },
  operation_not_permitted: {
    message: 'This payment cannot be changed in its current state. Please contact us.',
    action: 'fix_request',
    meaning: 'The payment is not in a state that allows the operation (already captured, cancelled, refunded; amount above what is left).',
  },
  invalid_request: {
    message: 'Your payment could not be processed. Please contact us.',
    action: 'fix_request',
    meaning: 'The PSP refused the request itself (missing or invalid field, merchant configuration).',
  },
  bridge_refused: {
    message: 'Your payment could not be processed. Please contact us.',
    action: 'contact_support',
    meaning: 'Refused by payment-bridge before or without the PSP (no route, unsupported command, conflict).',
  },
  unknown: {
    message: 'Your payment could not be completed. Please use another payment method or contact us.',
    action: 'contact_support',
    meaning: 'A code no table knows yet: logged (warn, `pb_decline_unmapped_total`) so the table can be extended.',
  },
};

/** A table row: a category, or a category with its own action (the PSP documents a different next step). */
export type DeclineRule = DeclineCategory | { category: DeclineCategory; action: SuggestedAction };

/** One gateway's code → rule table, with where its codes come from (rendered in the docs). */
export interface DeclineTable {
  /** `stripe`, `adyen`, `cybersource`, `simulator`, `bridge`. */
  readonly gateway: string;
  /** Source documents, one line each (cited in the docs). */
  readonly sources: readonly string[];
  /** Codes are matched exactly first, then case-insensitively. */
  readonly rules: Readonly<Record<string, DeclineRule>>;
  /** Category of a code the table does not know: `unknown` for PSPs (logged), `bridge_refused` for ours. */
  readonly fallback: DeclineCategory;
}

/** Longest raw code kept; longer ones are cut (a code is a code, not a message). */
export const MAX_GATEWAY_CODE_LENGTH = 64;

/**
 * A raw code fit to store and send: trimmed, cut to 64 characters, digit runs that could be a card number
 * masked: 12 or more ASCII digits with spaces or dashes, and every other written form of a card number
 * (`maskCardNumbers`: dots, slashes, tabs, no-break spaces, full-width digits…). Masked on a window past the cut,
 * so a number written across it is masked whole.
 */
export function safeGatewayCode(raw: string): string {
  const head = raw.trim().slice(0, MAX_GATEWAY_CODE_LENGTH + 512);
  const masked = maskCardNumbers(head.replace(/\d[\d -]{10,}\d/g, (run) => (run.replace(/\D/g, '').length >= 12 ? '[redacted]' : run)));
  return masked.slice(0, MAX_GATEWAY_CODE_LENGTH);
}

function ruleParts(rule: DeclineRule): { category: DeclineCategory; action?: SuggestedAction } {
  return typeof rule === 'string' ? { category: rule } : rule;
}

function lookup(table: DeclineTable, code: string): DeclineRule | undefined {
  const exact = table.rules[code];
  if (exact !== undefined) return exact;
  const lower = code.toLowerCase();
  const key = Object.keys(table.rules).find((k) => k.toLowerCase() === lower);
  return key === undefined ? undefined : table.rules[key];
}

/**
 * The rule for `code` in `table`: exact, then case-insensitive, then the part before a `:` (PSPs append
 * detail to a code, e.g. an Adyen webhook `reason` of `"FRAUD: …"`); undefined when none matches.
 */
export function findRule(table: DeclineTable, code: string): DeclineRule | undefined {
  const trimmed = code.trim();
  const rule = lookup(table, trimmed);
  if (rule !== undefined) return rule;
  const colon = trimmed.indexOf(':');
  return colon > 0 ? lookup(table, trimmed.slice(0, colon).trim()) : undefined;
}

/** The decline of a category with its default message and action (or `action` instead). */
export function declineOf(category: DeclineCategory, gatewayCode: string, action?: SuggestedAction): Decline {
  const defaults = CATEGORY_DEFAULTS[category];
  return {
    category,
    gateway_code: safeGatewayCode(gatewayCode),
    customer_message: defaults.message,
    suggested_action: action ?? defaults.action,
  };
}

/**
 * The decline for `code` per `table`; a code the table does not know gets the table's fallback
 * category (`unknown` for a PSP: the outcome recorder logs it with the raw code).
 */
export function describeDecline(table: DeclineTable, code: string): Decline {
  const rule = findRule(table, code);
  if (rule === undefined) return declineOf(table.fallback, code);
  const { category, action } = ruleParts(rule);
  return declineOf(category, code, action);
}

/**
 * The decline of `table`'s row `row` reported under another `gatewayCode`: for a PSP text that names a known row
 * in its own words (a template with the scheme's message inside, another spelling), which no lookup of the text
 * itself finds. Undefined when the table has no such row.
 */
export function declineOfRow(table: DeclineTable, row: string, gatewayCode: string): Decline | undefined {
  const rule = findRule(table, row);
  if (rule === undefined) return undefined;
  const { category, action } = ruleParts(rule);
  return declineOf(category, gatewayCode, action);
}

/** Whether `code` is in `table`. */
export function isKnownCode(table: DeclineTable, code: string): boolean {
  return findRule(table, code) !== undefined;
}

/** Narrows untrusted JSON (a stored record, a queued outcome) to a `Decline`, or undefined. */
export function parseDecline(value: unknown): Decline | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const category = DECLINE_CATEGORIES.find((c) => c === v.category);
  const action = SUGGESTED_ACTIONS.find((a) => a === v.suggested_action);
  if (category === undefined || action === undefined) return undefined;
  if (typeof v.gateway_code !== 'string' || typeof v.customer_message !== 'string') return undefined;
  return { category, gateway_code: v.gateway_code, customer_message: v.customer_message, suggested_action: action };
}
