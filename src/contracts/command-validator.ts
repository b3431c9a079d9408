import type { ErrorObject } from 'ajv';
import { CommandValidationError } from '../errors/command-validation-error';
import type { ChannelsConfig } from '../config/channels-config';
import { IssuedTokenValues, applyCardDataPolicy } from './card-data-policy';
import { refuseGiftCardNumberKeys } from './gift-card-keys';
import { cardDataPolicyOf, checkProfile, profileFor } from './validation-profile';
import { MAX_JSON_DEPTH, exceedsDepth } from './json-limits';
import { PaymentCommand } from './payment-command';
import { paymentCommandSchema } from './payment-command-schema';
import { checkTenders } from './split-tender-command';
import { SchemaValidator, commandSchemaValidator } from '../validation/precompiled-validator';

// Generated at build time from paymentCommandSchema (first error only, `date-time` checked); looked up at
// the first command, so the generator can load this module before it has generated it.
let validate: SchemaValidator<PaymentCommand> | undefined;

/** `/payment/lines/0/quantity` → `payment.lines[0].quantity`. */
export function fieldOf(error: ErrorObject): string {
  let field = '';
  for (const part of error.instancePath.split('/').filter(Boolean)) {
    field += /^\d+$/.test(part) ? `[${part}]` : field ? `.${part}` : part;
  }
  if (error.keyword === 'required') {
    const missing = (error.params as { missingProperty: string }).missingProperty;
    field = field ? `${field}.${missing}` : missing;
  }
  if (error.keyword === 'additionalProperties') {
    const extra = (error.params as { additionalProperty: string }).additionalProperty;
    field = field ? `${field}.${extra}` : extra;
  }
  return field || '(root)';
}

/** A reason for an ajv error, never quoting the value. */
export function reasonOf(error: ErrorObject): string {
  switch (error.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return 'is not allowed';
    case 'enum':
      return error.instancePath.endsWith('/currency') ? 'is not a known ISO 4217 currency' : 'is not one of the allowed values';
    case 'type':
      return `must be ${(error.params as { type: string }).type}`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
      return `must be ${error.message?.replace(/^must be /, '') ?? 'in range'}`;
    case 'not':
      return 'is not an allowed value';
    default:
      return error.message ?? 'is invalid';
  }
}

/** A valid command and the free-text fields whose card numbers were masked on the way. */
export interface ValidatedCommand {
  command: PaymentCommand;
  /** Paths of free-text fields masked by the card-data policy (empty: nothing was masked). */
  masked: string[];
  /** Paths of token fields holding a card-like token the bridge issued, let through (empty for almost every command). */
  issued: string[];
}

/**
 * Validates a decoded message as a canonical command, under the validation profile of its channel and
 * account (`channels` configuration; without it, the base contract and the default card-data policy).
 * Card data is handled first, so no later step (ledger, queue, log) ever holds one: refused in structured
 * fields, masked in free text (the returned command holds the masked text). Then the base schema, then the
 * profile's own rules.
 * @param issued card-like tokens the bridge issued (its issued-token index said so), let through in the token
 *   fields (`ISSUED_TOKEN_FIELDS`); without it every card-like value there is refused.
 * @throws CommandValidationError naming the field at fault (never quoting its value).
 */
export function validateCommandReport(message: unknown, channels?: ChannelsConfig, issued?: IssuedTokenValues): ValidatedCommand {
  // Everything below recurses: bound the depth first (parsed text was checked already; this covers values built in code).
  if (exceedsDepth(message, MAX_JSON_DEPTH)) {
    throw new CommandValidationError('(root)', `nests objects or arrays deeper than ${MAX_JSON_DEPTH} levels`, 'INVALID_REQUEST');
  }
  const envelope = message !== null && typeof message === 'object' && !Array.isArray(message) ? (message as Record<string, unknown>) : {};
  const payment = envelope.payment !== null && typeof envelope.payment === 'object' ? (envelope.payment as Record<string, unknown>) : {};
  const profile = profileFor(channels, envelope.channel, payment.gateway_account);
  const { value, masked, issued: kept } = applyCardDataPolicy(message, cardDataPolicyOf(channels, profile), issued);
  refuseGiftCardNumberKeys(value);
  validate ??= commandSchemaValidator<PaymentCommand>(paymentCommandSchema.$id);
  if (!validate(value)) {
    const error = (validate.errors ?? [])[0];
    if (!error) throw new CommandValidationError('(root)', 'is invalid');
    throw new CommandValidationError(fieldOf(error), reasonOf(error));
  }
  const broken = malformedUnicodeField(value);
  if (broken !== null) {
    // A lone surrogate cannot be encoded into a URL or UTF-8 body: the gateway call would fail forever.
    throw new CommandValidationError(broken, 'holds malformed unicode (a lone surrogate)', 'INVALID_PARAMS');
  }
  checkSplits(value);
  checkRefundLines(value);
  checkTenders(value);
  checkProfile(value, profile);
  return { command: value, masked, issued: kept };
}

/** The parts of a split payment add up to its amount exactly: money that does not add up never moves. */
function checkSplits(command: PaymentCommand): void {
  const splits = command.payment.splits;
  if (!splits) return;
  const parts = splits.reduce((sum, s) => sum + BigInt(s.amount), 0n);
  if (parts !== BigInt(command.payment.amount)) {
    throw new CommandValidationError('payment.splits', `amounts add up to ${parts} minor units, not payment.amount (${command.payment.amount})`);
  }
}

/**
 * A refund by lines (`lines[].refund_amount`) refunds what its lines add up to, which must be its
 * `amount`: every gateway is asked for, and the ledger, caps and events hold, that one figure.
 */
function checkRefundLines(command: PaymentCommand): void {
  if (command.command !== 'refund') return;
  const lines = (command.payment.lines ?? []).filter((l) => l.refund_amount !== undefined);
  if (lines.length === 0) return;
  const total = lines.reduce((sum, l) => sum + BigInt(l.refund_amount ?? 0), 0n);
  if (total !== BigInt(command.payment.amount)) {
    throw new CommandValidationError('payment.lines[].refund_amount', `add up to ${total} minor units, not payment.amount (${command.payment.amount})`);
  }
}

/** {@link validateCommandReport} without the report: the valid (possibly masked) command. */
export function validateCommand(message: unknown, channels?: ChannelsConfig, issued?: IssuedTokenValues): PaymentCommand {
  return validateCommandReport(message, channels, issued).command;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** `String.prototype.isWellFormed` (ES2024, in Node 20): true when the string holds no lone surrogate. */
const nativeWellFormed = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed;

/** Whether a string holds a lone UTF-16 surrogate (natively when the runtime can, else by the pattern). */
export function hasLoneSurrogate(text: string): boolean {
  return nativeWellFormed ? !nativeWellFormed.call(text) : LONE_SURROGATE.test(text);
}

/**
 * The path of the first string (value or key) holding a lone UTF-16 surrogate, or null. Below a key
 * (not at the root) a malformed key is written `(key)`.
 */
export function malformedUnicodeField(value: unknown, path = ''): string | null {
  // Keys and indexes from `value` to the malformed string: the path is only built when one is found.
  const trail: (string | number)[] = [];
  if (!holdsLoneSurrogate(value, trail)) return null;
  let found = path;
  for (const part of trail) {
    if (typeof part === 'number') found = `${found}[${part}]`;
    else found = found ? `${found}.${hasLoneSurrogate(part) ? '(key)' : part}` : part;
  }
  // An empty path (a string at the root, or under empty keys only) is named `(root)`.
  return found || '(root)';
}

/** Depth-first, keys before their values, as {@link malformedUnicodeField} reports; fills `trail` on a hit. */
function holdsLoneSurrogate(value: unknown, trail: (string | number)[]): boolean {
  if (typeof value === 'string') return hasLoneSurrogate(value);
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i += 1) {
      trail.push(i);
      if (holdsLoneSurrogate(value[i], trail)) return true;
      trail.pop();
    }
    return false;
  }
  const record = value as Record<string, unknown>;
  // `for…in` with `Object.hasOwn`: the same keys as `Object.keys`, in the same order, without an array of them a call.
  for (const key in record) {
    if (!Object.hasOwn(record, key)) continue;
    trail.push(key);
    if (hasLoneSurrogate(key) || holdsLoneSurrogate(record[key], trail)) return true;
    trail.pop();
  }
  return false;
}
