import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ALL_SHARDS, SHARD_COUNT, ShardKeys, shardBase, shardOfAnchor, shardOfPayment } from '../../../src/redis/key-layout';
import { LuaScript, luaInputs } from '../../../src/redis/lua-script';
import { installCommandSlotCheck, installSingleSlotCheck, slotsOf } from '../../support/single-slot';
import { Redis } from 'ioredis';
import { watchScriptKeys } from '../../../src/redis/lua-script';
import { impactIndexKeys } from '../../../src/amqp/dead-letter-triage';
import { capsTag } from '../../../src/caps/cap-rules';
import { deadLetterArchiveKeys } from '../../../src/ops/dead-letter-store';
import { recurringKeys } from '../../../src/recurring/recurring-store';
import { abandonedCountsKey } from '../../../src/amqp/shutdown-budget';

const SRC = join(__dirname, '../../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Redis commands whose first argument is a key (those the ledger's and its neighbours' scripts use). */
const KEY_COMMANDS =
  'GET|SET|DEL|EXISTS|EXPIRE|PEXPIRE|PEXPIREAT|INCR|INCRBY|DECR|DECRBY|HGET|HSET|HSETNX|HMGET|HGETALL|HDEL|HINCRBY|HEXISTS|LPUSH|RPUSH|LRANGE|LINDEX|LSET|LTRIM|LLEN|SADD|SREM|SMEMBERS|SISMEMBER|SCARD|ZADD|ZREM|ZSCORE|ZRANGE|ZRANGEBYSCORE|ZREVRANGE|ZCARD|ZCOUNT|ZINCRBY|ZREMRANGEBYSCORE|PTTL|TTL|TYPE';

describe('Redis Cluster key layout', () => {
  it('puts every key family of a shard in that shard slot, and the shards in different slots', () => {
    const prefix = 'pb:';
    const slots = ALL_SHARDS.map((n) => {
      const k = new ShardKeys(prefix, n);
      const keys = [
        k.op('op-1'),
        k.history('op-1'),
        k.dependents('op-1'),
        k.waiters('op-1'),
        k.operationAdjustments('op-1'),
        k.state('SENT'),
        k.created,
        k.settling,
        k.authsExpiry,
        k.authsOpen,
        k.order('ORDER-1'),
        k.reference('stripe:pi_1'),
        k.adjustment('adj_1'),
        k.adjustments,
        k.event('op-1.SUCCEEDED'),
        k.eventLease('op-1.SUCCEEDED'),
        k.unsentEvents,
        k.rejectedEvents,
        k.dismissedEvents,
        k.deliveredConflictEvents,
        k.paymentSequence('stripe:acct:ORDER-1'),
        k.paymentSent('stripe:acct:ORDER-1'),
        k.retentionHold,
      ];
      for (const key of keys) expect(key.startsWith(`${prefix}{s:${n}}:`)).toBe(true);
      const own = slotsOf(keys);
      expect(own).toHaveLength(1);
      return own[0];
    });
    expect(new Set(slots).size).toBe(SHARD_COUNT);
  });

  it("keeps the keys each store names together (script, MULTI, pipeline) in one slot, and the stores' in different slots", () => {
    const prefix = 'pb:';
    const archive = deadLetterArchiveKeys(prefix);
    const triage = impactIndexKeys(prefix);
    const recurring = recurringKeys(prefix);
    const families = [
      [archive.record('dl-1'), archive.record('dl-2'), archive.time, archive.impact],
      [triage.byImpact, triage.summaries],
      // With an order's schedules (an order id may hold braces: the first tag, `{recurring}`, decides), the catch-up's mark and the retention's keys.
      [
        recurring.schedule('sub-1'),
        recurring.schedule('sub-2'),
        recurring.due,
        recurring.all,
        recurring.order('ORD-1'),
        recurring.order('ORD-{2}'),
        recurring.orderIndexMark,
        recurring.ended,
        recurring.endedWalk,
        recurring.deleted,
      ],
      [`${capsTag(prefix, 'EUR')}:res:op-1`, `${capsTag(prefix, 'EUR')}:merchant:m:d20261130:v`],
      // The fleet's abandoned work at a stop: one key, tagged `{shutdown}`, a slot of its own.
      [abandonedCountsKey(prefix)],
    ];
    const slots = families.map((keys) => {
      const own = slotsOf(keys);
      expect(own).toHaveLength(1);
      return own[0];
    });
    expect(new Set(slots).size).toBe(families.length);
  });

  it('assigns shards from the anchor by a stable hash (FNV-1a), the order id before the gateway key', () => {
    // Fixed values: changing them moves every stored operation to another key (docs/DATA.md).
    expect(SHARD_COUNT).toBe(16);
    expect(shardOfAnchor('')).toBe(0x811c9dc5 % 16);
    expect(shardOfAnchor('ORDER-1')).toBe(shardOfAnchor('ORDER-1'));
    const all = new Set(Array.from({ length: 400 }, (_, i) => shardOfAnchor(`order-${i}`)));
    expect(all.size).toBe(SHARD_COUNT);
    expect(shardOfPayment({ order_id: 'ORDER-1', gateway_key: 'x' })).toBe(shardOfAnchor('ORDER-1'));
    expect(shardOfPayment({ gateway_key: 'pi_1' })).toBe(shardOfAnchor('pi_1'));
    expect(shardOfPayment({ order_id: '', gateway_key: 'pi_1' })).toBe(shardOfAnchor('pi_1'));
    expect(() => shardBase('pb:', SHARD_COUNT)).toThrow(/shard/);
  });

  it('refuses to run a script whose keys span two slots (the check every test file runs with)', async () => {
    const violations = installSingleSlotCheck();
    const script = new LuaScript(luaInputs(['a', 'b'], []), "return redis.call('GET', K.a)");
    // A client that answers every command it is sent with 'ran' (EVALSHA goes through sendCommand).
    const redis = { options: {}, sendCommand: (command: { resolve(value: unknown): void }) => command.resolve('ran') } as unknown as Parameters<
      typeof script.run
    >[0];
    await expect(script.run(redis, { keys: { a: 'pb:{s:1}:x', b: 'pb:{s:2}:y' }, args: {} })).rejects.toThrow(/CROSSSLOT/);
    expect(violations).toHaveLength(1);
    await expect(script.run(redis, { keys: { a: 'pb:{s:1}:x', b: 'pb:{s:1}:y' }, args: {} })).resolves.toBe('ran');
    // The suite's own list (single-slot-setup.ts): nothing left from this test for the rest of the file.
    violations.splice(0);
  });

  it('refuses a command src/ sends over keys of two slots even when no script check sees it (raw EVAL, defineCommand)', async () => {
    const violations = installCommandSlotCheck();
    // The script-level check off for this run, so only the command-level one (what raw EVAL and
    // defineCommand scripts, MGET or MULTI from src/ meet) stands between the script and the server.
    watchScriptKeys(undefined);
    const redis = new Redis({ lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    try {
      const script = new LuaScript(luaInputs(['a', 'b'], []), "return redis.call('GET', K.a)");
      await expect(script.run(redis, { keys: { a: 'pb:{s:1}:x', b: 'pb:{s:2}:y' }, args: {} })).rejects.toThrow(
        /CROSSSLOT: EVALSHA from src\/redis\/lua-script\.ts/,
      );
      expect(violations).toEqual([expect.objectContaining({ command: 'EVALSHA', keys: ['pb:{s:1}:x', 'pb:{s:2}:y'] })]);
      // Test code itself (no src/ frame on the stack) is not held to it: it is refused by the server, or not at all.
      await expect(redis.mget('pb:{s:1}:x', 'pb:{s:2}:y')).rejects.not.toThrow(/CROSSSLOT/);
      expect(violations).toHaveLength(1);
    } finally {
      redis.disconnect();
      // Back to the suite's own checks (single-slot-setup.ts), with nothing left from this test.
      violations.splice(0);
      installSingleSlotCheck();
    }
  });

  it('has no Lua in src/ that builds a key from its arguments or by concatenation: every key is declared', () => {
    const offenders: string[] = [];
    const keyCall = new RegExp(`redis\\.call\\(\\s*'(?:${KEY_COMMANDS})'\\s*,\\s*([^,)]*)`, 'gi');
    for (const file of sourceFiles(SRC)) {
      const text = readFileSync(file, 'utf8');
      // Lua locals bound to a declared key (`local mark = KEYS[1]`).
      const locals = new Set([...text.matchAll(/local (\w+) = (?:KEYS\[|K\.|XK\()/g)].map((m) => m[1]));
      text.split('\n').forEach((line, i) => {
        for (const m of line.matchAll(keyCall)) {
          const key = m[1].trim();
          // A key is a declared KEYS entry: K.<name>, KEYS[…], an extra key XK(…), the transition's
          // state_key(…) (it returns only K.<name>: src/ledger/ledger-scripts.ts), or a local bound to one.
          const head = /^(\w+)/.exec(key)?.[1] ?? '';
          const declared = /^(K\.\w+|KEYS\[.*|XK\(.*|state_key\(.*)$/.test(key) || locals.has(head);
          const built = key.includes('..') || /\bA\.|ARGV/.test(key.replace(/^KEYS\[.*?ARGV\[.*$/, 'KEYS[i]'));
          if (built || !declared) offenders.push(`${relative(SRC, file)}:${i + 1}: ${line.trim()}`);
        }
      });
    }
    expect(offenders).toEqual([]);
  });
});
