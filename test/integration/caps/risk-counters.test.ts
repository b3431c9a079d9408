import { RedisClient } from '../../../src/redis/redis-connection';
import { RiskCounters } from '../../../src/risk/risk-counters';
import { RiskConfig } from '../../../src/risk/risk-rules';
import { createRedis } from '../../../src/redis/redis-connection';
import { testConfig } from '../../support/test-config';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { Config } from '../../../src/config/config';
import { keysMatching } from '../../../src/redis/key-scan';

let redis: RedisClient;
let config: Config;
beforeAll(() => {
  config = testConfig();
  redis = createRedis(config.redis, 'commands');
});
afterAll(async () => {
  redis.disconnect();
  await purgeNamespace(config).catch(() => undefined);
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
  expect(first).toEqual({ velocity: { email: 1, ip: 1 }, newToken: true });
  expect(await counters.count('op-1', payment('Shopper@Example.com'))).toEqual(first); // a retry counts nothing twice
  const second = await counters.count('op-2', payment('shopper@example.com'));
  expect(second).toEqual({ velocity: { email: 2, ip: 2 }, newToken: false });
  const keys = await keysMatching(redis, `${prefix}*`);
  expect(keys.length).toBeGreaterThan(0);
  for (const k of keys) {
    expect(k).not.toMatch(/example|shopper|203\.0\.113|tok_risk/i);
  }
  for (const k of keys.filter((x) => x.includes(':v:'))) expect(await redis.pttl(k)).toBeGreaterThan(0);
});

test('nothing configured for the payment: no Redis call, no key', async () => {
  const prefix = `${config.redis.keyPrefix}r2:`;
  const counters = new RiskCounters(redis, prefix, { ...risk, velocity: [], newTokenAmounts: {} }, 'k');
  expect(await counters.count('op-3', payment('a@b.c'))).toEqual({ velocity: {} });
  expect(await keysMatching(redis, `${prefix}*`)).toEqual([]);
});
