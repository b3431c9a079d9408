import { createHash } from 'node:crypto';
import { PaymentCommand } from '../contracts/payment-command';

/**
 * The operation id: `operation_reference` when the channel sends one, otherwise a key derived from the
 * order, the command, the channel's sequence and the amount, so a redelivered or re-sent command maps to
 * the same id. It is also the BullMQ jobId, the gateway Idempotency-Key and the root of event ids.
 */
export function operationIdOf(command: PaymentCommand): string {
  const p = command.payment;
  if (p.operation_reference) return p.operation_reference;
  const material = [
    command.channel,
    p.gateway,
    p.gateway_account,
    p.order_id ?? p.gateway_key,
    command.command,
    String(command.sequence ?? 0),
    String(p.amount),
    p.currency,
  ].join('\u001f');
  return `op-${createHash('sha256').update(material).digest('hex').slice(0, 32)}`;
}

/** What starts every operation id the bridge makes for itself; no channel's reference may start with it. */
export const BRIDGE_ID_PREFIX = '_';

/**
 * The id of an operation the bridge makes for itself (a split tender's step, an orphan void, a recurring
 * cycle's charge): `_<name>`. A channel's `operation_reference` cannot start with `_` (`REFERENCE_PATTERN`), so
 * no command can take the id before the bridge makes it, nor collide with it after: the bridge never takes
 * another command's operation for its own.
 */
export function bridgeOperationId(name: string): string {
  return `${BRIDGE_ID_PREFIX}${name}`;
}

/**
 * Longest operation id a notification may name. The bridge takes channel references of at most 128
 * characters and makes ids of at most 141 (`_<reference>.card-refund`, a split refund's part): room above
 * both, and a bound on what a notification can make the bridge queue and look up.
 */
export const MAX_OPERATION_ID_LENGTH = 256;

/**
 * The alphabet of every operation id: letters, digits, `.`, `_`, `-`, starting with a letter, a digit or
 * the bridge's `_`. `:` too: references recorded before the alphabet lost it may still have operations.
 */
const OPERATION_ID_SHAPE = /^[A-Za-z0-9_][A-Za-z0-9._:-]*$/;

/**
 * Whether `value` can be one of our operation ids (a channel's reference, a derived `op-<hex>`, a bridge
 * id): of their alphabet and length. A value that is not cannot name an operation of ours, whoever sent it.
 */
export function hasOperationIdShape(value: string): boolean {
  return value.length > 0 && value.length <= MAX_OPERATION_ID_LENGTH && OPERATION_ID_SHAPE.test(value);
}
