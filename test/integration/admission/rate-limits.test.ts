/**
 * Rate limits per channel and per account, in Redis token buckets shared by every process: over a limit
 * the intake answers 429 with Retry-After (JSON-RPC -32002) whichever web process the bus reached, and the
 * worker holds an AMQP channel's messages until a token is free (none dropped, none dead-lettered).
 */
import axios from 'axios';
import { signBody } from '../../../src/bus/x-signature';
import { JSON_RPC } from '../../../src/bus/json-rpc';
import { Config } from '../../../src/config/config';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { busCall, channelCommand, payment } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';
import { startIntakeProcess } from '../../support/intake-process';
import { testRedis } from '../../support/test-redis';
import { keysMatching } from '../../../src/redis/key-scan';

jest.setTimeout(60_000);

const CAPTURE = 'magento.payments.payments_management.capture';

function post(web: WebProcess, config: Config, body: unknown) {
  const raw = JSON.stringify(body);
  return axios.post(web.intakeUrl, raw, {
    headers: { 'content-type': 'application/json', 'x-signature': signBody(raw, config.serviceBus.secret) },
    validateStatus: () => true,
    transformRequest: [(d: unknown) => d],
  });
}

async function keysOf(config: Config): Promise<string[]> {
  const redis = testRedis(config);
  try {
    return await keysMatching(redis, `${config.redis.keyPrefix}{ratelimit}:*`);
  } finally {
    redis.disconnect();
  }
}

describe('rate limits at the intake, shared by every web process', () => {
  let config: Config;
  const webs: WebProcess[] = [];
  let client: Awaited<ReturnType<typeof amqpClient>>;

  beforeAll(async () => {
    config = testConfig({
      // 6 bus commands at once, then one a second; the account 'acme-slow' gets 2 at once.
      'rate_limits.by_channel': { bus: { per_s: 1, burst: 6 } },
      'rate_limits.by_account': { 'simulator:acme-slow': { per_s: 1, burst: 2 }, 'simulator:acme-notify': { per_s: 1, burst: 1 } },
    });
    client = await amqpClient(config);
    const logger = captureLogger('error').logger;
    webs.push(await startWebProcess(config, logger), await startWebProcess(config, logger));
    for (const w of webs) await eventually(async () => (await axios.get(`${w.server.url}/readyz`, { validateStatus: () => true })).status === 200);
  });

  afterAll(async () => {
    for (const w of webs) await w.stop();
    await client.deleteNamespace();
    await client.close();
  });

  it('shares one channel bucket across two web processes: 6 (+ what refilled meanwhile, 1 a second) of 12 accepted, the rest 429 with Retry-After and JSON-RPC -32002', async () => {
    const limitedBefore = await metricValue('pb_rate_limited_total', { channel: 'bus', scope: 'channel', where: 'intake' });
    const answers = [];
    const started = Date.now();
    for (let i = 0; i < 12; i += 1) answers.push(await post(webs[i % 2], config, busCall(CAPTURE, payment())));
    // The bucket refills 1 a second while the 12 go: on a loaded machine they can take seconds, not a fraction of one.
    const refilled = Math.max(1, Math.floor((Date.now() - started) / 1000));
    const accepted = answers.filter((a) => a.status === 200 && a.data.result !== undefined);
    const limited = answers.filter((a) => a.status === 429);
    expect(accepted.length).toBeGreaterThanOrEqual(6);
    expect(accepted.length).toBeLessThanOrEqual(6 + refilled);
    expect(limited.length).toBe(12 - accepted.length);
    // Both processes refused some: the bucket is the same one, not one per process.
    expect(webs[0].intake.stats.rateLimited).toBeGreaterThan(0);
    expect(webs[1].intake.stats.rateLimited).toBeGreaterThan(0);
    for (const a of limited) {
      expect(Number(a.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(a.data.error.code).toBe(JSON_RPC.RATE_LIMITED);
      expect(a.data.error.data).toMatchObject({ reason: 'rate_limited', scope: 'channel' });
      expect(a.data.id).toBeDefined();
    }
    expect(await metricValue('pb_rate_limited_total', { channel: 'bus', scope: 'channel', where: 'intake' })).toBe(limitedBefore + limited.length);
  });

  it('refuses a JSON-RPC notification over the limit with 429 and Retry-After but no reply body (JSON-RPC 2.0: no reply to a notification)', async () => {
    const answers = [];
    for (let i = 0; i < 3; i += 1) {
      const { id: _id, ...notification } = busCall(CAPTURE, payment({ gateway_account: 'acme-notify' }));
      answers.push(await post(webs[0], config, notification));
    }
    const limited = answers.filter((a) => a.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(1);
    for (const a of limited) {
      expect(Number(a.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(a.data).toBe('');
    }
  });

  it('limits one account on its own (scope account) while other accounts go on, and keeps account text out of Redis keys', async () => {
    // Let the channel bucket refill enough for this test (1/s): wait for 5 tokens.
    await new Promise((r) => setTimeout(r, 5200));
    // Until the account's bucket (2, then 1 a second) refuses one: the third on an unloaded machine, later only if
    // seconds went by meanwhile (the account refills no faster than the channel, which holds 5: the account runs out first).
    const slow = [];
    const started = Date.now();
    while (slow.length < 8 && slow.at(-1)?.status !== 429)
      slow.push(await post(webs[slow.length % 2], config, busCall(CAPTURE, payment({ gateway_account: 'acme-slow' }))));
    const refilled = Math.floor((Date.now() - started) / 1000);
    const refused = slow.at(-1)!;
    expect(refused.status).toBe(429);
    expect(refused.data.error.data.scope).toBe('account');
    expect(slow.slice(0, -1).map((a) => a.status)).toEqual(slow.slice(0, -1).map(() => 200));
    expect(slow.length - 1).toBeGreaterThanOrEqual(2);
    expect(slow.length - 1).toBeLessThanOrEqual(2 + refilled);
    const other = await post(webs[0], config, busCall(CAPTURE, payment({ gateway_account: 'acme-other' })));
    expect(other.status).toBe(200);
    const keys = await keysOf(config);
    expect(keys).toContain(`${config.redis.keyPrefix}{ratelimit}:channel:bus`);
    expect(keys.some((k) => /\{ratelimit\}:account:[A-Za-z0-9_-]{22}$/.test(k))).toBe(true);
    expect(keys.join(' ')).not.toMatch(/acme/);
  });
});

describe('rate limits at the worker: AMQP channels are slowed, never dropped', () => {
  it('holds web-channel messages over the limit until tokens come (all 8 recorded, none dead-lettered, ≥ 1 s for the 6 over the burst)', async () => {
    const config = testConfig({ 'rate_limits.by_channel': { web: { per_s: 5, burst: 2 } }, 'rate_limits.lease_tokens': 1 });
    const client = await amqpClient(config);
    const worker = await startIntakeProcess(config, captureLogger('error').logger, { rateLimits: true });
    try {
      const commands = Array.from({ length: 8 }, () => channelCommand('authorize'));
      const started = Date.now();
      for (const c of commands) await client.publish('web.payment.authorize', c);
      await eventually(
        async () => (await Promise.all(commands.map((c) => worker.ledger.get(c.payment.operation_reference!)))).every((r) => r !== null),
        15_000,
      );
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(1000);
      expect(worker.consumer.stats.rateLimited).toBeGreaterThan(0);
      expect(worker.consumer.stats.deadLettered).toBe(0);
      expect(await client.drainDeadLetters()).toHaveLength(0);
    } finally {
      await worker.stop();
      await client.deleteNamespace();
      await client.close();
    }
  });
});
