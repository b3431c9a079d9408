import { RedisClient } from '../../../src/redis/redis-connection';
import { RiskCounters } from '../../../src/risk/risk-counters';
import { RiskConfig, riskSignals } from '../../../src/risk/risk-rules';
import { createRedis } from '../../../src/redis/redis-connection';
import { testConfig } from '../../support/test-config';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { Config } from '../../../src/config/config';
import { keysMatching } from '../../../src/redis/key-scan';
import { RiskStage } from '../../../src/orchestration/risk-stage';
import { StageInput } from '../../../src/orchestration/orchestration-stage';
import { OperationRecord } from '../../../src/ledger/ledger';

let redis: RedisClient;
let config: Config;
/** Every namespace a test built, purged after the file. */
const configs: Config[] = [];
beforeAll(() => {
  config = testConfig();
  redis = createRedis(config.redis, 'commands');
});
afterAll(async () => {
  redis.disconnect();
  await purgeNamespace(config).catch(() => undefined);
  for (const c of configs) await purgeNamespace(c).catch(() => undefined);
});

const risk: RiskConfig = {
  rules: [{ name: 'new', when: ['new_token_high_amount'], action: 'hold' }],
  amountThresholds: {},
  velocity: [
    { by: 'email', windowMs: 3600000, maxCount: 2 },
    { by: 'ip', windowMs: 3600000, maxCount: 2 },
  ],
  newTokenAmounts: { EUR: 1000 },
  tokenMemoryMs: 60000,
  reviewWindowMs: 1000,
  hashKey: 'test-hash-key',
};
const payment = (email: string) => ({
  gateway: 'sim',
  gateway_account: 'acme',
  gateway_key: 'tok_risk_1',
  amount: 5000,
  currency: 'EUR',
  custom_attributes: { email, ip_address: '203.0.113.9' },
});

test('velocity counts each operation once, by e-mail (case-insensitive) and IP, with only hashes in Redis keys', async () => {
  const prefix = `${config.redis.keyPrefix}r1:`;
  const counters = new RiskCounters(redis, prefix, risk, risk.hashKey);
  const first = await counters.count('op-1', payment('Shopper@Example.com'));
  expect(first).toEqual({ velocity: { 'email:3600000': 1, 'ip:3600000': 1 }, newToken: true });
  expect(await counters.count('op-1', payment('Shopper@Example.com'))).toEqual(first); // a retry counts nothing twice
  const second = await counters.count('op-2', payment('shopper@example.com'));
  expect(second).toEqual({ velocity: { 'email:3600000': 2, 'ip:3600000': 2 }, newToken: false });
  const keys = await keysMatching(redis, `${prefix}*`);
  expect(keys.length).toBeGreaterThan(0);
  for (const k of keys) {
    expect(k).not.toMatch(/example|shopper|203\.0\.113|tok_risk/i);
  }
  const sliding = keys.filter((x) => x.includes(':sliding:'));
  expect(sliding).toHaveLength(2);
  for (const k of sliding) expect(await redis.pttl(k)).toBeGreaterThan(0);
});

test('a retry under another configuration reads its first counts by name: limits reordered keep their own, one added is not counted', async () => {
  const prefix = `${config.redis.keyPrefix}rn:`;
  const counters = new RiskCounters(redis, prefix, risk, risk.hashKey);
  // Another IP first (and the token): the e-mail counter stands at 2, the IP counter at 1, for op-b.
  await counters.count('op-a', { ...payment('named@example.com'), custom_attributes: { email: 'named@example.com', ip_address: '198.51.100.7' } });
  expect(await counters.count('op-b', payment('named@example.com'))).toEqual({ velocity: { 'email:3600000': 2, 'ip:3600000': 1 }, newToken: false });
  const reordered: RiskConfig = { ...risk, velocity: [risk.velocity[1], { by: 'customer', windowMs: 60000, maxCount: 1 }, risk.velocity[0]] };
  const retried = new RiskCounters(redis, prefix, reordered, risk.hashKey);
  const b = { ...payment('named@example.com'), custom_attributes: { email: 'named@example.com', ip_address: '203.0.113.9', customer_id: 'c' } };
  expect(await retried.count('op-b', b)).toEqual({ velocity: { 'email:3600000': 2, 'ip:3600000': 1 }, newToken: false });
  // A mark the release before wrote (counts by position, no names) is read by the positions of the limits then.
  await redis.set(`${prefix}{risk}:op:op-old`, '4,3,seen', 'PX', 60000);
  expect(await counters.count('op-old', payment('named@example.com'))).toEqual({ velocity: { 'email:3600000': 4, 'ip:3600000': 3 }, newToken: false });
});

test('a mark this release writes reads right in the release before (a rolling upgrade): its counts by position, then its seen-token answer', async () => {
  const prefix = `${config.redis.keyPrefix}ro:`;
  // Two limits alike (one counter now; the release before counted its key twice) between two others.
  const alike: RiskConfig = {
    ...risk,
    velocity: [risk.velocity[0], { by: 'ip', windowMs: 3600000, maxCount: 5 }, risk.velocity[1], { by: 'email', windowMs: 86400000, maxCount: 9 }],
  };
  const counters = new RiskCounters(redis, prefix, alike, risk.hashKey);
  await counters.count('op-1', payment('upgrade@example.com'));
  expect(await counters.count('op-2', payment('upgrade@example.com'))).toEqual({
    velocity: { 'email:3600000': 2, 'ip:3600000': 2, 'email:86400000': 2 },
    newToken: false,
  });
  /** How the release before read a mark it found (src/risk/risk-counters.ts there): one count per limit with a value. */
  const readBefore = (mark: string, dims: string[], tokenAsked: boolean) => {
    const reply = mark.split(',');
    const velocity: Record<string, number> = {};
    dims.forEach((by, i) => (velocity[by] = Math.max(velocity[by] ?? 0, Number(reply[i]))));
    return { velocity, ...(tokenAsked ? { newToken: reply[dims.length] === 'new' } : {}) };
  };
  const mark = (await redis.get(`${prefix}{risk}:op:op-2`))!;
  expect(readBefore(mark, ['email', 'ip', 'ip', 'email'], true)).toEqual({ velocity: { email: 2, ip: 2 }, newToken: false });
  const first = (await redis.get(`${prefix}{risk}:op:op-1`))!;
  expect(readBefore(first, ['email', 'ip', 'ip', 'email'], true)).toEqual({ velocity: { email: 1, ip: 1 }, newToken: true });
  // Without a token asked, and this release still reads its own mark by name.
  const noToken = new RiskCounters(redis, prefix, { ...alike, newTokenAmounts: {} }, risk.hashKey);
  expect(await noToken.count('op-3', payment('upgrade@example.com'))).toEqual({ velocity: { 'email:3600000': 3, 'ip:3600000': 3, 'email:86400000': 3 } });
  expect(readBefore((await redis.get(`${prefix}{risk}:op:op-3`))!, ['email', 'ip', 'ip', 'email'], false)).toEqual({ velocity: { email: 3, ip: 3 } });
  expect(await noToken.count('op-3', payment('upgrade@example.com'))).toEqual({ velocity: { 'email:3600000': 3, 'ip:3600000': 3, 'email:86400000': 3 } });
  // And the other way: a mark of the release before, whose limits alike counted their one key twice (the larger is the later).
  await redis.set(`${prefix}{risk}:op:op-old`, '2,3,4,5,new', 'PX', 60000);
  expect(await counters.count('op-old', payment('upgrade@example.com'))).toEqual({
    velocity: { 'email:3600000': 2, 'ip:3600000': 4, 'email:86400000': 5 },
    newToken: true,
  });
});

test('nothing configured for the payment: no Redis call, no key', async () => {
  const prefix = `${config.redis.keyPrefix}r2:`;
  const counters = new RiskCounters(redis, prefix, { ...risk, velocity: [], newTokenAmounts: {} }, 'k');
  expect(await counters.count('op-3', payment('a@b.c'))).toEqual({ velocity: {} });
  expect(await keysMatching(redis, `${prefix}*`)).toEqual([]);
});

describe('the risk stage on velocity, against real Redis', () => {
  const NOW = Date.parse('2026-03-01T10:00:00Z');
  const clients: RedisClient[] = [];
  afterAll(() => clients.forEach((c) => c.disconnect()));

  /** `n` risk stages as `n` workers have them, each on its own Redis connection, sharing `config`'s namespace. */
  function workers(config: Config, n: number): RiskStage[] {
    configs.push(config);
    return Array.from({ length: n }, () => {
      const client = createRedis(config.redis, 'commands');
      clients.push(client);
      return new RiskStage(config, client);
    });
  }

  function authorize(id: string, customer: string, now = NOW): StageInput {
    const p = {
      gateway: 'sim',
      gateway_account: 'acme',
      gateway_key: 'pm_card_visa',
      amount: 1000,
      currency: 'EUR',
      custom_attributes: { customer_id: customer },
    };
    const op = {
      id,
      command: 'authorize',
      channel: 'web',
      state: 'RECEIVED',
      payment: p,
      receivedAt: now,
      createdAt: now,
      updatedAt: now,
      attempts: 0,
    } as OperationRecord;
    return { op, plan: { candidates: ['sim'], index: 0, payment: p, decisions: [] }, now };
  }

  test('concurrent commands of one customer from four workers: exactly max_count pass; each redelivered concurrently is counted once and decided the same', async () => {
    const config = testConfig({
      'risk.rules': [{ name: 'busy-customer', when: ['velocity_customer'], action: 'decline' }],
      'risk.velocity': [{ by: 'customer', window_ms: 3600000, max_count: 5 }],
    });
    const fleet = workers(config, 4);
    const ids = Array.from({ length: 40 }, (_, i) => `op-velocity-${String.fromCharCode(97 + (i % 26))}${i >= 26 ? 'x' : ''}`);
    const first = await Promise.all(ids.map((id, i) => fleet[i % 4].decide(authorize(id, 'cust-busy'))));
    const verdicts = first.map((r) => r.verdict);
    expect([verdicts.filter((v) => v === 'continue').length, verdicts.filter((v) => v === 'refuse').length]).toEqual([5, 35]);
    // Every command redelivered twice at once, to other workers: the same decision, nothing counted again.
    const again = await Promise.all([...ids, ...ids].map((id, i) => fleet[(i + 1) % 4].decide(authorize(id, 'cust-busy'))));
    expect(again.map((r) => r.verdict)).toEqual([...first, ...first].map((r) => r.verdict));
    // 40 counted; the set keeps the newest max_count + 1 (enough to read any count above max_count as above it).
    const [counter] = await keysMatching(redis, `${config.redis.keyPrefix}{risk}:sliding:customer:*`);
    expect(await redis.zcard(counter)).toBe(6);
  });

  test('each velocity limit is checked against its own window: a day limit of one customer does not lend its count to an hour limit, nor two alike count twice', async () => {
    const config = testConfig({
      'risk.rules': [{ name: 'busy-customer', when: ['velocity_customer'], action: 'decline' }],
      'risk.velocity': [
        { by: 'customer', window_ms: 3600000, max_count: 1 },
        { by: 'customer', window_ms: 86400000, max_count: 10 },
        // The same window again (a stricter and a looser bound): one counter, counted once per operation.
        { by: 'customer', window_ms: 86400000, max_count: 12 },
      ],
    });
    const [stage] = workers(config, 1);
    const hour = 3600000;
    // 10:00, first of the day and of the hour: on. 11:00, second of the day, first of its hour: on (the day's 2 is within 10).
    expect((await stage.decide(authorize('op-ten', 'cust-day', NOW))).verdict).toBe('continue');
    const eleven = await stage.decide(authorize('op-eleven', 'cust-day', NOW + hour));
    expect(eleven.verdict).toBe('continue');
    expect(eleven.decision.reasons).toEqual(['no_rule_matched']);
    // 11:30, second of that hour: refused, naming the hour's count and the day's left alone.
    const half = await stage.decide(authorize('op-half', 'cust-day', NOW + hour + hour / 2));
    expect(half).toMatchObject({ verdict: 'refuse', decision: { reasons: ['decline', 'rule:busy-customer', 'signal:velocity_customer'] } });
    expect(half.decision.details?.risk_signals).toBe('2 authorizations by customer within 3600000 ms (max 1)');
    const [day] = await keysMatching(redis, `${config.redis.keyPrefix}{risk}:sliding:customer:86400000:*`);
    expect(await redis.zrange(day, 0, -1)).toEqual(['op-ten', 'op-eleven', 'op-half']);
  });

  /** A stage declining more than `max` authorizations of one customer within an hour. */
  function hourLimit(max: number): RiskStage {
    const config = testConfig({
      'risk.rules': [{ name: 'busy-customer', when: ['velocity_customer'], action: 'decline' }],
      'risk.velocity': [{ by: 'customer', window_ms: 3600000, max_count: max }],
    });
    return workers(config, 1)[0];
  }

  test('sliding window: max_count within the hour pass, one more within it is refused, one once they left it passes', async () => {
    const stage = hourLimit(3);
    const minute = 60000;
    for (const [id, at] of [
      ['op-a', NOW],
      ['op-b', NOW + 10 * minute],
      ['op-c', NOW + 20 * minute],
    ] as const)
      expect((await stage.decide(authorize(id, 'cust-slide', at))).verdict).toBe('continue');
    const fourth = await stage.decide(authorize('op-d', 'cust-slide', NOW + 59 * minute));
    expect(fourth).toMatchObject({ verdict: 'refuse', decision: { reasons: ['decline', 'rule:busy-customer', 'signal:velocity_customer'] } });
    expect(fourth.decision.details?.risk_signals).toBe('4 authorizations by customer within 3600000 ms (max 3)');
    // An hour after the last of them (the refused one counted too, as before): none left within the window.
    expect((await stage.decide(authorize('op-e', 'cust-slide', NOW + 119 * minute))).verdict).toBe('continue');
  });

  test('a flood: a refusal whose count the trimmed counter can only bound tells the OMS a floor ("at least"), never a smaller count as the count', async () => {
    const stage = hourLimit(3);
    const refused: string[] = [];
    for (let i = 0; i < 10; i += 1) {
      const r = await stage.decide(authorize(`op-flood-${String.fromCharCode(97 + i)}`, 'cust-flood', NOW + i));
      if (r.verdict === 'refuse') refused.push(String(r.decision.details?.risk_signals));
    }
    // The 4th is exact; the 5th to the 10th (5 to 10 within the hour) read 5 from a set kept to 4 members.
    expect(refused).toEqual([
      '4 authorizations by customer within 3600000 ms (max 3)',
      ...Array.from({ length: 6 }, () => 'at least 5 authorizations by customer within 3600000 ms (max 3)'),
    ]);
  });

  test('sliding window: max_count at the end of one fixed hour and one just after its boundary is refused (2 x max_count never pass)', async () => {
    const stage = hourLimit(3);
    // NOW is 10:00:00.000, a multiple of the hour: three at 09:59:57-59, then one at 10:00:00.001.
    for (const [id, at] of [
      ['op-a', NOW - 3000],
      ['op-b', NOW - 2000],
      ['op-c', NOW - 1000],
    ] as const)
      expect((await stage.decide(authorize(id, 'cust-edge', at))).verdict).toBe('continue');
    const after = await stage.decide(authorize('op-d', 'cust-edge', NOW + 1));
    expect(after).toMatchObject({ verdict: 'refuse', decision: { reasons: ['decline', 'rule:busy-customer', 'signal:velocity_customer'] } });
    expect(after.decision.details?.risk_signals).toBe('4 authorizations by customer within 3600000 ms (max 3)');
  });
});

describe('sliding velocity windows, counted in Redis', () => {
  const T = Date.parse('2026-03-01T10:00:00Z');
  const limits = (velocity: RiskConfig['velocity']): RiskConfig => ({ ...risk, velocity, newTokenAmounts: {} });
  const customer = (id: string) => ({ ...payment('x@example.com'), custom_attributes: { customer_id: id } });
  const setOf = async (prefix: string) => {
    const keys = await keysMatching(redis, `${prefix}{risk}:sliding:*`);
    expect(keys).toHaveLength(1);
    return keys[0];
  };

  test('an operation retried counts once: by its mark, and by its member when the mark is gone', async () => {
    const prefix = `${config.redis.keyPrefix}sr:`;
    const counters = new RiskCounters(redis, prefix, limits([{ by: 'customer', windowMs: 60000, maxCount: 5 }]), risk.hashKey);
    const first = await counters.count('op-a', customer('c'), T);
    expect(first).toEqual({ velocity: { 'customer:60000': 1 } });
    expect(await counters.count('op-b', customer('c'), T + 1)).toEqual({ velocity: { 'customer:60000': 2 } });
    expect(await counters.count('op-a', customer('c'), T + 2)).toEqual(first);
    expect(await counters.count('op-c', customer('c'), T + 3)).toEqual({ velocity: { 'customer:60000': 3 } });
    // Its mark gone (7 days; here removed) while it is still within the window: one member an operation, first time kept.
    await redis.del(`${prefix}{risk}:op:op-a`);
    expect(await counters.count('op-a', customer('c'), T + 4)).toEqual({ velocity: { 'customer:60000': 3 } });
    const set = await setOf(prefix);
    expect(await redis.zrange(set, 0, -1, 'WITHSCORES')).toEqual(['op-a', String(T), 'op-b', String(T + 1), 'op-c', String(T + 3)]);
  });

  test('members leave the window as it slides, and the set expires a window (and a margin) after its last count', async () => {
    const prefix = `${config.redis.keyPrefix}se:`;
    const counters = new RiskCounters(redis, prefix, limits([{ by: 'customer', windowMs: 60000, maxCount: 5 }]), risk.hashKey);
    expect(await counters.count('op-a', customer('c'), T)).toEqual({ velocity: { 'customer:60000': 1 } });
    expect(await counters.count('op-b', customer('c'), T + 30000)).toEqual({ velocity: { 'customer:60000': 2 } });
    // A window after op-a: it is out (within = less than window_ms ago), op-b still in.
    expect(await counters.count('op-c', customer('c'), T + 60000)).toEqual({ velocity: { 'customer:60000': 2 } });
    expect(await counters.count('op-d', customer('c'), T + 90001)).toEqual({ velocity: { 'customer:60000': 2 } });
    const set = await setOf(prefix);
    expect(await redis.zrange(set, 0, -1)).toEqual(['op-c', 'op-d']);
    const ttl = await redis.pttl(set);
    expect(ttl).toBeGreaterThan(55000);
    expect(ttl).toBeLessThanOrEqual(61000);
  });

  test('a flood keeps max_count + 1 members, every count above max_count still reads above it, and the count is exact once the flood slides out', async () => {
    const prefix = `${config.redis.keyPrefix}sf:`;
    const config3 = limits([{ by: 'customer', windowMs: 60000, maxCount: 3 }]);
    const counters = new RiskCounters(redis, prefix, config3, risk.hashKey);
    const counts: number[] = [];
    for (let i = 0; i < 50; i += 1)
      counts.push((await counters.count(`op-${String.fromCharCode(97 + (i % 26))}${i >= 26 ? 'x' : ''}`, customer('c'), T + i)).velocity['customer:60000']!);
    expect(counts.slice(0, 5)).toEqual([1, 2, 3, 4, 5]);
    expect(counts.slice(3).every((n) => n > 3)).toBe(true);
    const set = await setOf(prefix);
    expect(await redis.zcard(set)).toBe(4);
    // T + 60047: the operations counted at T + 48 and T + 49 are the last within the window, so this one is the third.
    const after = await counters.count('op-after', customer('c'), T + 60047);
    expect(after).toEqual({ velocity: { 'customer:60000': 3 } });
    expect(riskSignals(config3, customer('c'), after)).toEqual([]);
  });

  test('limits sharing a counter: one set, counted once, kept to the larger max_count + 1 so the looser limit still fires', async () => {
    const prefix = `${config.redis.keyPrefix}ss:`;
    const shared = limits([
      { by: 'customer', windowMs: 60000, maxCount: 2 },
      { by: 'customer', windowMs: 60000, maxCount: 5 },
    ]);
    const counters = new RiskCounters(redis, prefix, shared, risk.hashKey);
    const details: string[][] = [];
    for (const id of ['op-a', 'op-b', 'op-c', 'op-d', 'op-e', 'op-f', 'op-g']) {
      const counts = await counters.count(id, customer('c'), T);
      details.push(riskSignals(shared, customer('c'), counts).map((s) => s.detail));
    }
    expect(details[1]).toEqual([]);
    expect(details[2]).toEqual(['3 authorizations by customer within 60000 ms (max 2)']);
    expect(details[5]).toEqual(['6 authorizations by customer within 60000 ms (max 2)', '6 authorizations by customer within 60000 ms (max 5)']);
    // Above what the set keeps (6), a count is told as a floor.
    expect(details[6]).toEqual([
      'at least 7 authorizations by customer within 60000 ms (max 2)',
      'at least 7 authorizations by customer within 60000 ms (max 5)',
    ]);
    expect(await redis.zcard(await setOf(prefix))).toBe(6);
  });

  test("rolling upgrade: the release before's string counter and mark sit beside the sets (no WRONGTYPE); its mark is read, nothing counted again", async () => {
    const prefix = `${config.redis.keyPrefix}su:`;
    const limit = { by: 'customer' as const, windowMs: 3600000, maxCount: 5 };
    const counters = new RiskCounters(redis, prefix, limits([limit]), risk.hashKey);
    // The key the release before counts this customer's hour in (src/risk/risk-counters.ts there).
    const before = `${prefix}{risk}:v:customer:3600000:${counters.hashed('customer', 'c')}:${Math.floor(T / 3600000)}`;
    await redis.incrby(before, 7);
    expect(await counters.count('op-a', customer('c'), T)).toEqual({ velocity: { 'customer:3600000': 1 } });
    expect(await redis.get(before)).toBe('7');
    // A mark the release before wrote (its counts by position): read, and the set left alone.
    await redis.set(`${prefix}{risk}:op:op-old`, '8', 'PX', 60000);
    expect(await counters.count('op-old', customer('c'), T + 1)).toEqual({ velocity: { 'customer:3600000': 8 } });
    expect(await redis.zrange(await setOf(prefix), 0, -1)).toEqual(['op-a']);
  });
});
