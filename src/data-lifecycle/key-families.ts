import { orderKeyPart } from '../ledger/order-index';
import { ALL_SHARDS, ShardKeys } from '../redis/key-layout';

/**
 * The Redis keys one operation owns or appears in, in its shard (src/redis/key-layout.ts; docs/DATA.md lists
 * every family with its lifetime). The ledger, the outbox (`src/events/event-store.ts`) and the adjustment
 * store (`src/adjustments/adjustment-store.ts`) each write their own; export, import, retention and erasure
 * need all of them for one operation, so their names come from one place, the key layout's `ShardKeys`.
 */
export class OperationKeys extends ShardKeys {
  /** The order index of `orderId` (in this shard: the order's); `''` when there is no order. */
  orderOf(orderId: string | undefined): string {
    const part = orderKeyPart(orderId);
    return part === '' ? '' : this.order(part);
  }
  /** String: epoch ms up to which the gateway's operations are reconciled without a gap (`Ledger.recordReconciledWindow`; not sharded). */
  reconciledThrough(gateway: string): string {
    return `${this.prefix}retention:reconciled_through:${gateway}`;
  }
}

/** `OperationKeys` of every shard of `prefix`, index = shard number. */
export function operationKeysOf(prefix: string): OperationKeys[] {
  return ALL_SHARDS.map((n) => new OperationKeys(prefix, n));
}

/**
 * Suffixes of the event ids an operation's events carry after `<operation id>.` (src/events/): one per
 * reported state, the refund pre-notice, the expiry warning, the review hold (`risk-review`), the success restated
 * with its token (`stored-token`). Adjustment events (`adj.<id>`) are found from
 * the operation's adjustments; idempotency-conflict events (`idempotency-conflict.<digest>`, in the refused command's
 * shard, not always the operation's) from the unsent index while undelivered (export), and from every shard's unsent,
 * set-aside, dismissed and delivered (`events:conflicts_delivered`) indexes by retention and erasure
 * (`EventStore.conflictEventsOf`).
 */
export const FIXED_EVENT_SUFFIXES = ['SUCCEEDED', 'FAILED', 'PENDING', 'UNRESOLVED', 'refund-pending', 'expiring', 'risk-review', 'stored-token'] as const;

/** Whether `eventId` is one of operation `id`'s events (and not of an operation whose id merely starts with it). */
export function isEventOf(id: string, eventId: string): boolean {
  if (!eventId.startsWith(`${id}.`)) return false;
  const suffix = eventId.slice(id.length + 1);
  return (FIXED_EVENT_SUFFIXES as readonly string[]).includes(suffix) || /^adj\.adj_[0-9a-f]+$/.test(suffix) || /^idempotency-conflict\.[^.]+$/.test(suffix);
}
