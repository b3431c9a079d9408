import { ActionResult, ThreeDsRequirement } from './three-ds';
import type { PaymentMethodSpec, RecurringSpec } from './payment-method';

/**
 * The canonical command model. Every channel (the bus over HTTP, web checkout, POS, marketplace over
 * AMQP) puts the same envelope on the commands exchange; amounts are integers of minor units.
 */

import { STORED_VALUE_COMMAND_TYPES, StoredValueDetails } from './stored-value';
import type { Tender } from './split-tender-command';

/** The five MIB payment commands plus the ones other channels add, then the stored value card commands (`stored-value.ts`). */
export const COMMAND_TYPES = ['validate', 'revalidate', 'capture', 'cancel', 'refund', 'authorize', 'sale', 'tokenize', ...STORED_VALUE_COMMAND_TYPES] as const;
export type CommandType = (typeof COMMAND_TYPES)[number];

/** Channels a command may arrive from (the intake schema's list). */
export const CHANNELS = ['bus', 'web', 'pos', 'marketplace'] as const;
/**
 * `bridge`: an operation the bridge itself started (an orphan reversal's void). It is written to the ledger
 * directly, never accepted from the commands exchange, so no publisher can pass itself off as the bridge.
 */
export type Channel = (typeof CHANNELS)[number] | 'bridge';

export interface PaymentLine {
  line_number?: number;
  item_name?: string;
  item_sku?: string;
  item_type?: string;
  quantity?: number;
  /** Minor units. */
  unit_price_gross?: number;
  /** Minor units. */
  refund_amount?: number;
  /** Minor units. */
  tax_amount?: number;
  /** Percent, e.g. 21 for 21 %; a rate, not money. */
  tax_rate?: number;
}

/** The money fields of a line (minor units of the command's currency): what a change of units converts. */
export const LINE_MONEY_FIELDS = ['unit_price_gross', 'refund_amount', 'tax_amount'] as const satisfies readonly (keyof PaymentLine)[];

export interface CardDetails {
  bin?: string;
  last_four_digits?: string;
  /** 1–12: an integer, or a string of digits as the MIB payment specification sends it (`"03"`); read with {@link cardExpiryMonth}. */
  expiration_month?: number | string;
  /** An integer, or a string of digits (`"2031"`, a two-digit `"31"`) as the MIB sends it; read with {@link cardExpiryYear}. */
  expiration_year?: number | string;
  brand?: string;
  holder_name?: string;
}

/** An integer, or a string trimmed, as the digits an expiry figure is read from. */
function expiryDigits(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return typeof value === 'string' ? value.trim() : undefined;
}

/** An expiry month (an integer, or digits as a string: `3`, `"03"`) as 1–12, or undefined when it is none. */
export function expiryMonthOf(value: unknown): number | undefined {
  const digits = expiryDigits(value);
  if (digits === undefined || !/^\d{1,2}$/.test(digits)) return undefined;
  const month = Number(digits);
  return month >= 1 && month <= 12 ? month : undefined;
}

/** An expiry year (an integer, or digits as a string) as four digits, a two-digit year being 20yy; or undefined. */
export function expiryYearOf(value: unknown): number | undefined {
  const digits = expiryDigits(value);
  if (digits === undefined) return undefined;
  // Adyen's stored method, and the MIB's card: "the last two digits of the year the card expires".
  if (/^\d{2}$/.test(digits)) return 2000 + Number(digits);
  if (!/^\d{4}$/.test(digits)) return undefined;
  const year = Number(digits);
  return year >= 2000 && year <= 2199 ? year : undefined;
}

/** A card's expiry month as a number (the schema admits an integer or a string of digits), or undefined. */
export function cardExpiryMonth(card: Pick<CardDetails, 'expiration_month'> | undefined): number | undefined {
  return expiryMonthOf(card?.expiration_month);
}

/** A card's expiry year as four digits (a two-digit year is 20yy, as the PSPs' are read), or undefined. */
export function cardExpiryYear(card: Pick<CardDetails, 'expiration_year'> | undefined): number | undefined {
  return expiryYearOf(card?.expiration_year);
}

export interface MethodDetails {
  method?: string;
  submethod?: string;
  card?: CardDetails;
  /** A bank account's details: strings (`account_holder_name`, `iban`), and the MIB's integer `security_indicator`. */
  bank?: Record<string, string | number>;
}

/**
 * One part of a split payment (a marketplace order): what goes to a seller's sub-merchant account, or the
 * marketplace's own fee. The parts of a payment add up to its `amount`.
 */
export interface PaymentSplit {
  type: 'seller' | 'marketplace_fee';
  /** The seller's sub-merchant account at the PSP (`seller` parts). */
  account?: string;
  /** The seller's id (`seller` parts). */
  reference?: string;
  /** Minor units. */
  amount: number;
}

/** `params.payment` as the bus sends it. */
export interface Payment {
  gateway: string;
  gateway_account: string;
  gateway_key: string;
  /** Integer of minor units (after intake's conversion when the bus sends major units). */
  amount: number;
  /** ISO 4217 alphabetic code. */
  currency: string;
  order_id?: string;
  operation_reference?: string;
  new_gateway_key?: string;
  lines?: PaymentLine[];
  method_details?: MethodDetails;
  custom_attributes?: Record<string, unknown> | Array<Record<string, unknown>>;
  /** How the amount splits between sellers and the marketplace (marketplace orders); the parts add up to `amount`. */
  splits?: PaymentSplit[];
  /** Stored value card commands: what they need beyond the card token (see `stored-value.ts`). */
  stored_value?: StoredValueDetails;
  /** What pays, when not a stored card: a one-time method, a wallet, BNPL, crypto (payment-method.ts). */
  payment_method?: PaymentMethodSpec;
  /** A merchant-initiated charge on a stored credential (payment-method.ts). */
  recurring?: RecurringSpec;
  /** Split tender (`authorize` / `sale`): the gift card part and the card part of one order (split-tender-command.ts). */
  tenders?: Tender[];
  /** `refund` of a split tender order: `gateway_key` is the split's id (split-tender-command.ts). */
  split_tender?: boolean;
  /** Set by the bridge on the void of an orphaned authorization: why it voided it (echoed on the cancel event). */
  orphan_reversal?: string;
  /**
   * Set by the bridge on the void of an extra authorization (`orphan_reversal: extra_authorization`): the operation id
   * of the authorize that hold belongs to, whose settling the void waits for (src/delivery/extra-authorization-void.ts).
   */
  extra_authorization_of?: string;
  /** 3-D Secure asked for on this authorize/sale (three-ds.ts). */
  three_ds?: ThreeDsRequirement;
  /** The completion of a customer action: the same command again with the challenge's result (three-ds.ts). */
  action_result?: ActionResult;
}

/** What travels on the commands exchange. */
export interface PaymentCommand {
  /** Envelope version, for safe evolution. */
  version: 1;
  command: CommandType;
  channel: Channel;
  /**
   * Channel-supplied sequence (the bus's JSON-RPC id, a POS receipt counter…). Used to derive the operation
   * id when the payment carries no `operation_reference`.
   */
  sequence?: string | number;
  /** ISO 8601 time the bridge (or the channel) received the command. */
  received_at: string;
  payment: Payment;
}
