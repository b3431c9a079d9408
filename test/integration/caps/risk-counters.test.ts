import { RedisClient } from '../../../src/redis/redis-connection';
import { RiskCounters } from '../../../src/risk/risk-counters';
import { RiskConfig } from '../../../src/risk/risk-rules';
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
  for (const k of keys.filter((x) => x.includes(':v:'))) expect(await redis.pttl(k)).toBeGreaterThan(0);
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
    const [counter] = await keysMatching(redis, `${config.redis.keyPrefix}{risk}:v:customer:*`);
    expect(await redis.get(counter)).toBe('40');
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
    const [day] = await keysMatching(redis, `${config.redis.keyPrefix}{risk}:v:customer:86400000:*`);
    expect(await redis.get(day)).toBe('3');
  });
});
