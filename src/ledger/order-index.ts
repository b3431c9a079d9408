import { createHash } from 'node:crypto';
import { RedisClient } from '../redis/redis-connection';
import { shardKeysOf, shardOfOrder } from '../redis/key-layout';

/** Order ids up to this many characters are used in the key as they are; longer ones are hashed. */
const MAX_PLAIN_ORDER_ID = 64;

/**
 * The order part of the order index's key `S order:<part>` (src/redis/key-layout.ts; S is the order's
 * shard, the same as its operations'): a sorted set of the order's operation ids scored by creation time
 * (epoch ms). The ledger's create script adds to it in the same round trip as the record, so "what happened
 * to order X" needs no scan. Every key under `S order:` is this index, so no order id can name another key
 * family; ids that are long or hold characters outside a plain alphabet are hashed (`#<sha256 hex>`),
 * keeping keys short and printable whatever the channel sends.
 * @returns `''` when the command names no order (the create script then indexes nothing).
 */
export function orderKeyPart(orderId: string | undefined): string {
  if (orderId === undefined || orderId === '') return '';
  const plain = orderId.length <= MAX_PLAIN_ORDER_ID && /^[A-Za-z0-9._-]+$/.test(orderId);
  return plain ? orderId : `#${createHash('sha256').update(orderId).digest('hex')}`;
}

/** The order index key of `orderId` under `prefix`, in the order's shard; `''` for no order. */
export function orderIndexKey(prefix: string, orderId: string | undefined): string {
  const part = orderKeyPart(orderId);
  if (part === '' || orderId === undefined) return '';
  return shardKeysOf(prefix)[shardOfOrder(orderId)].order(part);
}

/** The operation ids of `orderId`, oldest first (at most `limit`). Operations created before the index existed are not listed. */
export async function operationIdsOfOrder(redis: RedisClient, prefix: string, orderId: string, limit = 200): Promise<string[]> {
  const key = orderIndexKey(prefix, orderId);
  if (key === '') return [];
  return redis.zrange(key, 0, limit - 1);
}
