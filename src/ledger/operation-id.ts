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
