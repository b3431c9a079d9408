import type { ChannelsConfig } from '../config/channels-config';
import { IssuedTokenValues, applyCardDataPolicy } from './card-data-policy';
import { ValidatedCommand, validateCommandReport } from './command-validator';
import { profileFor } from './validation-profile';
import { CommandValidationError } from '../errors/command-validation-error';
import { ChannelContract } from './channel/channel-contract';
import { marketplaceOrder } from './channel/marketplace-order';
import { posSale } from './channel/pos-sale';
import { webOrderCreated } from './channel/web-order-created';
import { webPaymentIntent } from './channel/web-payment-intent';

/**
 * The channel payload contracts, by name. A message on the commands exchange says which one it follows in
 * its `contract` field, inside the signed body (so the choice is covered by the channel's signature); a
 * message without one is the canonical command (`version: 1`). Adding a contract: one file under
 * `channel/`, one line here, `npm run generate:validators` (its schema's validator), its section in
 * docs/CHANNELS.md.
 */
export const CHANNEL_CONTRACTS: ReadonlyMap<string, ChannelContract> = new Map(
  [webOrderCreated, webPaymentIntent, posSale, marketplaceOrder].map((c) => [c.name, c] as const),
);

/** The body field that names a message's contract. */
export const CONTRACT_FIELD = 'contract';

/** `canonical`: the canonical command itself (the label of metrics and logs for messages without a contract). */
export const CANONICAL = 'canonical';

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * The contract a decoded message follows: a {@link ChannelContract}, or `canonical` for a message with no
 * `contract` field that has the canonical envelope's `version`.
 * @throws CommandValidationError `UNSUPPORTED_CONTRACT` (field `contract`) for a contract no adapter reads,
 *   or a message that names none and is not a canonical command either (never quoting the value).
 */
export function contractOf(message: unknown): ChannelContract | typeof CANONICAL {
  if (isObject(message) && Object.prototype.hasOwnProperty.call(message, CONTRACT_FIELD)) {
    const name = message[CONTRACT_FIELD];
    const contract = typeof name === 'string' ? CHANNEL_CONTRACTS.get(name) : undefined;
    if (!contract) {
      throw new CommandValidationError(
        CONTRACT_FIELD,
        `names no supported contract (supported: ${[...CHANNEL_CONTRACTS.keys()].join(', ')})`,
        'UNSUPPORTED_CONTRACT',
      );
    }
    return contract;
  }
  if (isObject(message) && Object.prototype.hasOwnProperty.call(message, 'version')) return CANONICAL;
  throw new CommandValidationError(
    CONTRACT_FIELD,
    `is missing: a channel message names its contract (${[...CHANNEL_CONTRACTS.keys()].join(', ')}) or is a canonical command (version 1)`,
    'UNSUPPORTED_CONTRACT',
  );
}

function valueAt(root: unknown, path: string): unknown {
  let v: unknown = root;
  for (const part of path.split('.')) v = isObject(v) ? v[part] : undefined;
  return v;
}

/** A channel message read into a valid canonical command, with the contract it followed. */
export interface ReadChannelMessage extends ValidatedCommand {
  /** The contract's name, or `canonical`. */
  contract: string;
}

/**
 * Reads a decoded channel message into a valid canonical command, the one governed way in for every contract:
 * 1. card data: the payload goes through the card-data policy of its channel and account's profile, with
 *    the contract's free-text fields (masked there, refused anywhere else, named in the contract's terms);
 * 2. the contract's schema and cross-field rules (errors name the contract's field);
 * 3. the adapter maps it to the canonical command;
 * 4. the canonical validation (schema, splits, the validation profile) as for any command.
 * Pure. The channel's signature has been checked before (the caller also checks that the contract belongs
 * to the signing channel).
 * @param receivedAt ISO 8601 time of receipt: the command's `received_at` for contract messages (unused for a canonical command).
 * @param issued card-like tokens the bridge issued, let through in a canonical command's token fields
 *   (`validateCommandReport`); a channel contract's own fields are checked without them.
 * @throws CommandValidationError naming the field at fault, never quoting its value.
 */
export function readChannelMessage(message: unknown, channels: ChannelsConfig | undefined, receivedAt: string, issued?: IssuedTokenValues): ReadChannelMessage {
  const contract = contractOf(message);
  if (contract === CANONICAL) return { ...validateCommandReport(message, channels, issued), contract: CANONICAL };
  const profile = profileFor(channels, contract.channel, valueAt(message, contract.accountPath));
  const checked = applyCardDataPolicy(message, { freeText: profile?.freeTextCardData ?? 'mask', freeTextFields: contract.freeTextFields });
  const command = contract.adapt(checked.value, receivedAt);
  const validated = validateCommandReport(command, channels);
  return { command: validated.command, masked: [...checked.masked, ...validated.masked], issued: [], contract: contract.name };
}

/**
 * What a (possibly invalid, redacted) contract payload says about its money, in the canonical command's
 * words, for dead-letter triage and refusal identifiers: its channel, the command it maps to, and a
 * payment-like object (`amount`, `currency`, `gateway`, `gateway_account`, `order_id`, each only when the
 * payload holds it). Null when the body names no known contract.
 */
export function describeContractBody(body: Record<string, unknown>): { channel: string; command: string; payment: Record<string, unknown> } | null {
  const name = body[CONTRACT_FIELD];
  const contract = typeof name === 'string' ? CHANNEL_CONTRACTS.get(name) : undefined;
  if (!contract) return null;
  const { summary } = contract;
  const payment: Record<string, unknown> = {};
  const fields: Array<[string, string]> = [
    ['amount', summary.amount],
    ['currency', summary.currency],
    ['gateway', summary.gateway],
    ['gateway_account', contract.accountPath],
    ['order_id', summary.orderId],
  ];
  for (const [key, path] of fields) {
    const v = valueAt(body, path);
    if (v !== undefined) payment[key] = v;
  }
  return { channel: contract.channel, command: summary.command(body), payment };
}
