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
