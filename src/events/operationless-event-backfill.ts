import { ALL_SHARDS, shardKeysOf } from '../redis/key-layout';
import { globLiteral, scanKeys } from '../redis/key-scan';
import { LuaScript, luaInputs } from '../redis/lua-script';
import { RedisClient } from '../redis/redis-connection';
import { operationlessEventKind } from './operationless-events';

/** What one backfill did. */
export interface OperationlessEventBackfill {
  /** True when an earlier run had finished it (nothing was looked at). */
  alreadyDone: boolean;
  /** Events of no operation delivered or set aside before their index existed, put in it now. */
  indexed: number;
}

/** The key marking the backfill done (a string: when it finished, epoch ms). */
export function operationlessEventBackfillMarker(prefix: string): string {
  return `${prefix}migrations:operationless-events`;
}

// One event of no operation into its shard's index (`ShardKeys.operationlessEvents`), unless it is gone or still
// unsent (its delivery or setting aside indexes it): scored by when it was set aside, else by `now` (when it was
// delivered is nowhere on record). NX: an entry already there keeps its time. Returns 1 when added.
const INDEX_SCRIPT = new LuaScript(
  luaInputs(['event', 'unsent', 'operationless'], ['event_id', 'now']),
  `
if redis.call('EXISTS', K.event) == 0 then return 0 end
if redis.call('ZSCORE', K.unsent, A.event_id) then return 0 end
local at = redis.call('HGET', K.event, 'rejected_at') or A.now
return redis.call('ZADD', K.operationless, 'NX', at, A.event_id)
`,
);

/**
 * Puts in their shard's index (`ShardKeys.operationlessEvents`) the outbox events of no operation
 * (src/events/operationless-events.ts) that an earlier release delivered or set aside before the index existed, once,
 * so retention deletes them too: `retention.expire_after_days` after they were set aside, or after now for a delivered
 * one. Found by one scan of the namespace's event keys (every primary's, on a cluster), each indexed in one script of
 * its shard (a few hundred bytes each, otherwise kept for ever). Idempotent; the marker ({@link operationlessEventBackfillMarker}) is written last, so a run cut short runs
 * again whole at the next start.
 */
export async function backfillOperationlessEventIndex(redis: RedisClient, prefix: string, now = Date.now()): Promise<OperationlessEventBackfill> {
  const marker = operationlessEventBackfillMarker(prefix);
  if ((await redis.exists(marker)) === 1) return { alreadyDone: true, indexed: 0 };
  const report: OperationlessEventBackfill = { alreadyDone: false, indexed: 0 };
  const shards = shardKeysOf(prefix);
  // One scan of every shard's event keys (`<prefix>{s:<n>}:event:<id>`), each key then to its own shard.
  const bases = new Map(ALL_SHARDS.map((n) => [shards[n].event(''), shards[n]] as const));
  await scanKeys(redis, `${globLiteral(prefix)}{s:*}:event:*`, async (found) => {
    for (const key of found) {
      const at = key.indexOf(':event:', prefix.length);
      const keys = at < 0 ? undefined : bases.get(key.slice(0, at + ':event:'.length));
      if (keys === undefined) continue;
      const eventId = key.slice(at + ':event:'.length);
      // Its send lease (`event:<id>:sending`) is not an event.
      if (eventId.endsWith(':sending') || operationlessEventKind(eventId) === null) continue;
      const added = await INDEX_SCRIPT.run(redis, {
        keys: { event: key, unsent: keys.unsentEvents, operationless: keys.operationlessEvents },
        args: { event_id: eventId, now },
      });
      report.indexed += Number(added);
    }
  });
  await redis.set(marker, String(now));
  return report;
}
