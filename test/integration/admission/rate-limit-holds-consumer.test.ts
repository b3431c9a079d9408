/**
 * The worker's rate-limit holds end to end, through the command consumer (`CommandConsumer.admit`) on the real
 * RabbitMQ and Redis: held messages stay unacked while they wait; a stopping worker hands them back to the queue
 * (none lost, none recorded twice, none dead-lettered) without hanging its shutdown; a capture goes before the
 * authorizations of its account held ahead of it; a Redis that answers the take with an error reply neither spins
 * nor wedges the consumer (the limiter tries the take again, holding them in order, then the message is retried
 * with backoff and dead-lettered naming the rate limit), while a Redis outage lets the commands go on unlimited.
 */
import { ConfirmChannel } from 'amqplib';
import { accountDigest, TAKE_ERROR_TRIES } from '../../../src/admission/rate-limiter';
import { priorityExchangeOf } from '../../../src/admission/command-priority';
import { channelSignatureHeaders } from '../../../src/channels/channel-signature';
import { Config } from '../../../src/config/config';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { MESSAGE_FAULT_TRIES } from '../../../src/intake/command-consumer';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { createRedis, RedisClient } from '../../../src/redis/redis-connection';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { IntakeProcess, startIntakeProcess } from '../../support/intake-process';
import { eventually, startTcpProxy } from '../../support/tcp-proxy';
import { onRedisCluster, testConfig } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

jest.setTimeout(120_000);

type Client = Awaited<ReturnType<typeof amqpClient>>;

/** `count` authorizations of one account (gateway `simulator`). */
function authorizations(count: number, account: string): PaymentCommand[] {
  return Array.from({ length: count }, () => channelCommand('authorize', {}, { gateway_account: account }));
}

function refOf(command: PaymentCommand): string {
  return command.payment.operation_reference!;
}

async function recordedCount(worker: IntakeProcess, commands: PaymentCommand[]): Promise<number> {
  return (await Promise.all(commands.map((c) => worker.ledger.get(refOf(c))))).filter((r) => r !== null).length;
}

async function publishAll(client: Client, commands: PaymentCommand[]): Promise<void> {
  for (const c of commands) await client.publish(`web.payment.${c.command}`, c);
}

/** The worker's limiter configuration for one account: `per_s` a second, a burst of `burst`, `lease` tokens a take. */
function limitedConfig(account: string, perS: number, burst: number, lease: number, more: Record<string, unknown> = {}): Config {
  return testConfig({ 'rate_limits.by_account': { [`simulator:${account}`]: { per_s: perS, burst } }, 'rate_limits.lease_tokens': lease, ...more });
}

describe('rate-limit holds through the command consumer', () => {
  const cleanups: (() => Promise<void>)[] = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });

  async function harness(config: Config): Promise<Client> {
    const client = await amqpClient(config);
    cleanups.push(async () => {
      await client.deleteNamespace();
      await client.close();
    });
    return client;
  }

  async function worker(
    config: Config,
    options: Parameters<typeof startIntakeProcess>[2] = {},
    logger = captureLogger('error').logger,
  ): Promise<IntakeProcess> {
    const w = await startIntakeProcess(config, logger, { rateLimits: true, ...options });
    let stopped = false;
    cleanups.push(async () => {
      if (!stopped) await w.stop();
    });
    const stop = w.stop.bind(w);
    w.stop = async () => {
      stopped = true;
      await stop();
    };
    return w;
  }

  it.each([8, 1])(
    'lease %i: a worker stopped while it holds messages hands them back to the queue (not acked, not dead-lettered) within the shutdown bound; a second worker records every command exactly once',
    async (lease) => {
      const account = `acme-stop-${lease}`;
      const config = limitedConfig(account, 2, 1, lease, { 'shutdown.deadline_ms': 10_000 });
      const client = await harness(config);
      const first = await worker(config);
      const commands = authorizations(12, account);
      await publishAll(client, commands);
      // One goes at once (the burst), the others wait for tokens at 2 a second: most are held.
      await eventually(() => first.consumer.stats.rateLimited >= 8, 20_000);
      const started = Date.now();
      await first.stop();
      const stopMs = Date.now() - started;
      expect(stopMs).toBeLessThan(config.shutdown.deadlineMs);

      const byFirst = first.consumer.stats.accepted;
      expect(byFirst).toBeLessThan(commands.length);
      // Every message the first worker did not record went back to the queue, nothing else happened to it.
      expect(first.consumer.stats.requeued).toBe(commands.length - byFirst);
      expect(first.consumer.stats.deadLettered).toBe(0);
      expect(first.consumer.stats.duplicates).toBe(0);
      await eventually(async () => (await client.queueDepth(config.amqp.commandsQueue)) === commands.length - byFirst, 10_000);

      const second = await worker(config);
      await eventually(async () => (await recordedCount(second, commands)) === commands.length, 30_000);
      // Recorded once: the second worker created exactly the ones the first handed back, none was a duplicate.
      await eventually(() => second.consumer.stats.accepted === commands.length - byFirst, 10_000);
      expect(second.consumer.stats.duplicates).toBe(0);
      expect(second.consumer.stats.deadLettered).toBe(0);
      expect(await client.drainDeadLetters()).toHaveLength(0);
      await second.stop();
      expect(await client.queueDepth(config.amqp.commandsQueue)).toBe(0);
    },
  );

  it.each(['priority lane', 'normal lane'] as const)(
    'admits a capture published on the %s before the authorizations of its account held ahead of it',
    async (lane) => {
      const account = `acme-prio-${lane === 'priority lane' ? 'p' : 'n'}`;
      // 4 a second, a burst of 1: 24 authorizations take about 6 s; well under the prefetch (50), all reach the consumer.
      const config = limitedConfig(account, 4, 1, 8);
      const client = await harness(config);
      const w = await worker(config);
      const auths = authorizations(24, account);
      await publishAll(client, auths);
      await eventually(() => w.consumer.stats.rateLimited >= 18, 20_000);
      await eventually(async () => (await recordedCount(w, auths)) >= 1, 10_000);
      const recordedBefore = await recordedCount(w, auths);
      const earlier = auths[0].payment;
      const capture = channelCommand('capture', {}, { gateway_account: account, order_id: earlier.order_id, gateway_key: earlier.gateway_key });
      if (lane === 'priority lane') {
        const channel: ConfirmChannel = await client.model.createConfirmChannel();
        const content = Buffer.from(JSON.stringify(capture));
        channel.publish(priorityExchangeOf(config.amqp), 'web.payment.capture', content, {
          persistent: true,
          headers: channelSignatureHeaders(content, config.channels.credentials.web![0]),
        });
        await channel.waitForConfirms();
        await channel.close();
      } else {
        await client.publish('web.payment.capture', capture);
      }
      await eventually(async () => (await recordedCount(w, [...auths, capture])) === auths.length + 1, 30_000);
      const captured = (await w.ledger.get(refOf(capture)))!;
      const authRecords = await Promise.all(auths.map(async (a) => (await w.ledger.get(refOf(a)))!));
      const after = authRecords.filter((r) => r.createdAt > captured.createdAt).length;
      const remaining = auths.length - recordedBefore;
      // First held first would record it last (none after it). Ahead of them it goes at the next wake or so;
      // a loaded machine may let a few more go before it reaches the consumer.
      expect(remaining).toBeGreaterThanOrEqual(16);
      expect(after).toBeGreaterThanOrEqual(remaining / 2);
      expect(w.consumer.stats.deadLettered).toBe(0);
      expect(w.consumer.stats.demoted).toBe(0);
    },
  );

  it('dead-letters held messages whose take Redis answers with an error reply after MESSAGE_FAULT_TRIES tries with backoff (reason names the rate limit), without spinning, and keeps consuming', async () => {
    const account = 'acme-fault';
    const config = limitedConfig(account, 1, 1, 8);
    const client = await harness(config);
    const logs = captureLogger('warn');
    const w = await worker(config, {}, logs.logger);
    const redis = testRedis(config);
    cleanups.push(async () => redis.disconnect());
    const commands = authorizations(7, account);
    await publishAll(client, commands);
    await eventually(() => w.consumer.stats.rateLimited >= 6, 20_000);
    const takesBefore = await metricValue('pb_rate_limit_takes_total', { where: 'consumer' });
    const retriesBefore = w.consumer.stats.dependencyRetries;
    const takeErrorsBefore = await metricValue('pb_rate_limit_take_errors_total', { where: 'consumer' });
    // The account's bucket is no hash any more: the take script's HMGET answers WRONGTYPE, every time.
    const bucket = `${config.redis.keyPrefix}{ratelimit}:account:${accountDigest('simulator', account)}`;
    await redis.set(bucket, 'not a hash');

    let dead: Awaited<ReturnType<Client['drainDeadLetters']>> = [];
    await eventually(
      async () => {
        dead = [...dead, ...(await client.drainDeadLetters())];
        return dead.length + (await recordedCount(w, commands)) === commands.length;
      },
      30_000,
      200,
    );
    // At one token a second, at most one or two held ones can have been let go before the bucket broke.
    expect(dead.length).toBeGreaterThanOrEqual(4);
    for (const d of dead) {
      expect(d.properties.headers?.['x-pb-code']).toBe('UNEXPECTED_ERROR');
      expect(d.properties.headers?.['x-pb-reason']).toBe('unexpected_error: ReplyError in rate limit');
    }
    expect(w.consumer.stats.deadLettered).toBe(dead.length);
    expect(w.consumer.stats.requeued).toBe(0);
    // Retried with backoff, MESSAGE_FAULT_TRIES - 1 times each, never spun: one take a wake for all held. The
    // limiter keeps them queued in order for TAKE_ERROR_TRIES takes before each consumer try fails (about 3 × 3 takes).
    expect(w.consumer.stats.dependencyRetries - retriesBefore).toBeGreaterThanOrEqual((MESSAGE_FAULT_TRIES - 1) * dead.length);
    const takes = (await metricValue('pb_rate_limit_takes_total', { where: 'consumer' })) - takesBefore;
    expect(takes).toBeLessThanOrEqual(MESSAGE_FAULT_TRIES * dead.length + 5);
    expect((await metricValue('pb_rate_limit_take_errors_total', { where: 'consumer' })) - takeErrorsBefore).toBeGreaterThanOrEqual(TAKE_ERROR_TRIES);
    expect(logs.lines.some((l) => l.includes('rate limit write failed; holding the message and retrying'))).toBe(true);
    expect(logs.lines.some((l) => l.includes('rate limit take failed'))).toBe(true);

    // Not wedged: once the bucket is sound again, the account's next command is recorded.
    await redis.del(bucket);
    const next = authorizations(1, account);
    await publishAll(client, next);
    await eventually(async () => (await recordedCount(w, next)) === 1, 15_000);
    await eventually(async () => (await client.queueDepth(config.amqp.commandsQueue)) === 0, 10_000);
  });

  (onRedisCluster() ? it.skip : it)(
    'lets held and new commands go on unlimited when the limiter’s Redis is down (pb_rate_limit_unavailable_total), none dead-lettered',
    async () => {
      const account = 'acme-outage';
      const config = limitedConfig(account, 1, 1, 8);
      const client = await harness(config);
      const proxy = await startTcpProxy(Number(new URL(config.redis.url).port || 6379), new URL(config.redis.url).hostname);
      const limiterRedis: RedisClient = createRedis({ ...config.redis, url: proxy.url('redis') }, 'commands');
      limiterRedis.on('error', () => undefined);
      cleanups.push(async () => {
        limiterRedis.disconnect();
        await proxy.close();
      });
      const logs = captureLogger('warn');
      const w = await worker(config, { rateLimiterRedis: limiterRedis }, logs.logger);
      const held = authorizations(11, account);
      await publishAll(client, held);
      await eventually(() => w.consumer.stats.rateLimited >= 8, 20_000);
      const unavailableBefore = await metricValue('pb_rate_limit_unavailable_total', { where: 'consumer' });
      proxy.cut();
      const cutAt = Date.now();
      const later = authorizations(10, account);
      await publishAll(client, later);
      const all = [...held, ...later];
      // At one a second the 20 or so left would take 20 s; unlimited they go at once.
      await eventually(async () => (await recordedCount(w, all)) === all.length, 30_000);
      expect(Date.now() - cutAt).toBeLessThan(15_000);
      expect(await metricValue('pb_rate_limit_unavailable_total', { where: 'consumer' })).toBeGreaterThan(unavailableBefore);
      expect(logs.lines.some((l) => l.includes('rate limit not checked'))).toBe(true);
      expect(w.consumer.stats.deadLettered).toBe(0);
      expect(await client.drainDeadLetters()).toHaveLength(0);
    },
  );
});
