import type { PublishingChannel } from '../../config/channels-config';
import { fieldOf, reasonOf } from '../command-validator';
import { CardDetails, CommandType, PaymentCommand, PaymentLine } from '../payment-command';
import { CommandValidationError } from '../../errors/command-validation-error';
import { SchemaValidator, commandSchemaValidator } from '../../validation/precompiled-validator';

/**
 * A channel payload contract: the JSON Schema of what a channel publishes in its own words (a checkout's
 * `order_created`, a POS sale, a marketplace order) and the pure adapter that turns it into the canonical
 * command. A message names its contract in its `contract` field (inside the signed body); the consumer
 * checks the channel's signature, applies the card-data policy to the payload (with the contract's own
 * free-text fields), validates it against this schema (errors name the field in the contract's terms),
 * maps it, and the canonical command then goes through the same validation, profile, rate limits and
 * ledger as any other.
 */
export interface ChannelContract {
  /** `<channel>.<name>.v<version>`, the value of the payload's `contract` field. */
  readonly name: string;
  /** The only channel whose key may sign it. */
  readonly channel: PublishingChannel;
  /** The payload's JSON Schema (draft-07 / ajv), bounded like the canonical schema. */
  readonly schema: object;
  /** Free-text paths in the contract's terms (`order.note`, `order.lines[].name`): card numbers there are masked, elsewhere refused. */
  readonly freeTextFields: readonly string[];
  /** Dotted path of the gateway account in the payload: picks the validation profile before the schema runs. */
  readonly accountPath: string;
  /**
   * Where a dead letter's triage finds the money and identifiers in a payload that may not be valid
   * (dotted paths), and the command type it maps to.
   */
  readonly summary: ContractSummaryPaths;
  /**
   * Validates a (card-data-checked) payload against the schema and the contract's cross-field rules, and maps it.
   * @param receivedAt ISO 8601 time the bridge received it (`received_at` of the command).
   * @throws CommandValidationError naming the field in the contract's terms.
   */
  adapt(payload: unknown, receivedAt: string): PaymentCommand;
}

/** Dotted paths of a contract's money and identifiers, and its command type, for dead-letter triage. */
export interface ContractSummaryPaths {
  amount: string;
  currency: string;
  orderId: string;
  gateway: string;
  /** The command type a payload maps to, read best-effort (the payload may be invalid). */
  command: (payload: Record<string, unknown>) => CommandType;
}

/**
 * Defines a contract: its schema's validator is the one generated at build time (looked up at the first
 * message, so the generator itself can load a contract it has not generated yet); `check` runs after the
 * schema, `toCommand` after both.
 */
export function defineContract<T>(spec: {
  name: string;
  channel: PublishingChannel;
  schema: object;
  freeTextFields: readonly string[];
  accountPath: string;
  summary: ContractSummaryPaths;
  check?: (payload: T) => void;
  toCommand: (payload: T, receivedAt: string) => PaymentCommand;
}): ChannelContract {
  let validate: SchemaValidator<T> | undefined;
  return {
    name: spec.name,
    channel: spec.channel,
    schema: spec.schema,
    freeTextFields: spec.freeTextFields,
    accountPath: spec.accountPath,
    summary: spec.summary,
    adapt(payload: unknown, receivedAt: string): PaymentCommand {
      validate ??= commandSchemaValidator<T>(spec.name);
      if (!validate(payload)) {
        const error = (validate.errors ?? [])[0];
        if (!error) throw new CommandValidationError('(root)', 'is invalid');
        throw new CommandValidationError(fieldOf(error), reasonOf(error));
      }
      spec.check?.(payload);
      return spec.toCommand(payload, receivedAt);
    },
  };
}

/** What a contract may say about a card (`schema-parts.ts` `cardSummary`). */
export interface CardSummary {
  brand?: string;
  bin?: string;
  last4?: string;
  exp_month?: number;
  exp_year?: number;
  funding?: 'credit' | 'debit' | 'prepaid' | 'unknown';
}

/** A web or marketplace payment method (`schema-parts.ts` `paymentMethod`). */
export interface PaymentMethodPayload {
  type?: 'card' | 'wallet' | 'bank_transfer' | 'bnpl' | 'other';
  gateway: string;
  gateway_account: string;
  /** The PSP token charged: the command's `gateway_key`. */
  token: string;
  card?: CardSummary;
}

/** A card summary in the contracts' words (`last4`, `exp_month`) → the canonical card details. */
export function cardDetailsOf(card: CardSummary | undefined): CardDetails | undefined {
  if (!card) return undefined;
  const out: CardDetails = {};
  if (card.brand !== undefined) out.brand = card.brand;
  if (card.bin !== undefined) out.bin = card.bin;
  if (card.last4 !== undefined) out.last_four_digits = card.last4;
  if (card.exp_month !== undefined) out.expiration_month = card.exp_month;
  if (card.exp_year !== undefined) out.expiration_year = card.exp_year;
  return out;
}

/** An order line in the contracts' words → the canonical line. */
export interface ContractLine {
  line_number?: number;
  sku?: string;
  name?: string;
  type?: string;
  quantity: number;
  unit_price: number;
  tax_amount?: number;
  tax_rate?: number;
}

export function canonicalLines(lines: readonly ContractLine[] | undefined): PaymentLine[] | undefined {
  if (!lines || lines.length === 0) return undefined;
  return lines.map((l, i) => {
    const out: PaymentLine = { line_number: l.line_number ?? i + 1, quantity: l.quantity, unit_price_gross: l.unit_price };
    if (l.name !== undefined) out.item_name = l.name;
    if (l.sku !== undefined) out.item_sku = l.sku;
    if (l.type !== undefined) out.item_type = l.type;
    if (l.tax_amount !== undefined) out.tax_amount = l.tax_amount;
    if (l.tax_rate !== undefined) out.tax_rate = l.tax_rate;
    return out;
  });
}

/** Drops undefined members (a canonical command never carries `undefined`: it is stored and hashed as JSON). */
export function defined<T extends Record<string, unknown>>(value: T): T {
  for (const k of Object.keys(value)) if (value[k] === undefined) delete value[k];
  return value;
}

/** `authorize`, or `sale` when the payload's `capture_method` is `automatic`. */
export function byCaptureMethod(payload: Record<string, unknown>): CommandType {
  return payload.capture_method === 'automatic' ? 'sale' : 'authorize';
}
