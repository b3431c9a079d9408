import type { Ledger, OperationRecord } from '../ledger/ledger';
import { isMerchantInitiatedCharge } from '../contracts/payment-method';
import { counter } from '../metrics/metrics-registry';
import { networkTransactionIdOf } from '../gateways/network-transaction-id';
import { ScheduleDefinition, isCycleOf } from './recurring-schedule';

/**
 * Where a cycle's network transaction id came from: the schedule's definition (`schedule`, the OMS's), the payment of
 * the schedule's order that stored its credential (`first_payment`, what the bridge recorded), or nowhere (`none`: the
 * charge goes without one, as before).
 */
export type CycleNetworkIdSource = 'schedule' | 'first_payment' | 'none';

/**
 * How many of the order's operations, oldest first, are searched for its first payment: the payment that stored the
 * credential comes first in its order (before the cycles, captures and refunds that follow it), so a few are enough,
 * whatever the number of cycles run since.
 */
export const FIRST_PAYMENT_SEARCH = 20;

const cycleNetworkIds = counter(
  'pb_recurring_network_transaction_ids_total',
  "Recurring cycle charges started, by where the network transaction id they quote came from (schedule: the schedule's definition, the OMS's; first_payment: the one the bridge recorded for the payment of the schedule's order that stored its credential, as the schedule's earlier charge carried it or found in the order; none: no id, the charge goes without one)",
  ['gateway', 'source'],
);

/** Counts a cycle charge started with its id from `source` (`pb_recurring_network_transaction_ids_total`). */
export function noteCycleNetworkId(gateway: string, source: CycleNetworkIdSource): void {
  cycleNetworkIds.inc({ gateway, source });
}

/**
 * Whether `op` is the customer-initiated first payment of the agreement `definition` charges: an authorize or sale of
 * a channel (never a charge the bridge made, nor any merchant-initiated one) that SUCCEEDED, stored with the payment
 * the very credential the schedule charges (token on first use: its `storedToken`, what the SUCCESS event told the OMS
 * as `payment.token`, is the schedule's `gateway_key`), and for which the PSP named a network transaction id.
 */
function isFirstPaymentOf(op: OperationRecord, definition: ScheduleDefinition): boolean {
  return (
    (op.command === 'authorize' || op.command === 'sale') &&
    op.state === 'SUCCEEDED' &&
    op.networkTransactionId !== undefined &&
    op.channel !== 'bridge' &&
    !isMerchantInitiatedCharge(op.payment) &&
    op.storedToken === definition.gateway_key
  );
}

/**
 * The network transaction id the bridge recorded for the first, customer-initiated payment of `definition`'s agreement
 * among `operations` (its order's, oldest first): the oldest one {@link isFirstPaymentOf} accepts. Undefined when none
 * does. Pure.
 */
export function firstPaymentNetworkId(definition: ScheduleDefinition, operations: readonly OperationRecord[]): string | undefined {
  return operations.find((op) => isFirstPaymentOf(op, definition))?.networkTransactionId;
}

/**
 * The network transaction id every merchant-initiated charge of `definition` quotes (`payment.recurring.network_transaction_id`),
 * with where it came from. An id the definition holds (the OMS's) wins. Else the one an earlier charge of the schedule
 * carried (`earlier`: the operation ids of its previous cycle's, or of this cycle's first attempt, as the runner names
 * them), the first payment's carried forward: retention expires the first payment (a terminal operation,
 * `retention.expire_after_days`) while the subscription runs on, and its cycles keep quoting its id. Else the schedule
 * links to its first payment by its order (`order_id`, the subscription's order in the OMS, which every cycle names
 * too) and its credential (that payment stored `gateway_key`): one read of the order index and of up to
 * {@link FIRST_PAYMENT_SEARCH} records, only for a schedule naming an order and no id of its own or carried.
 */
export async function cycleNetworkId(
  definition: ScheduleDefinition,
  ledger: Pick<Ledger, 'operationsOfOrder' | 'get'>,
  earlier: readonly string[] = [],
): Promise<{ id?: string; source: CycleNetworkIdSource }> {
  if (definition.network_transaction_id) return { id: definition.network_transaction_id, source: 'schedule' };
  for (const id of earlier) {
    const op = await ledger.get(id);
    // Only an id's shape: a card-like one the index does not hold as reported is masked in an archive (docs/DATA.md), so
    // one imported back is never quoted so.
    const carried = op !== null && isCycleOf(op, definition.id) ? networkTransactionIdOf(op.payment.recurring?.network_transaction_id) : undefined;
    if (carried !== undefined) return { id: carried, source: 'first_payment' };
  }
  if (!definition.order_id) return { source: 'none' };
  const id = firstPaymentNetworkId(definition, await ledger.operationsOfOrder(definition.order_id, FIRST_PAYMENT_SEARCH));
  return id !== undefined ? { id, source: 'first_payment' } : { source: 'none' };
}
