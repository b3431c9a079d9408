/**
 * A copy the broker redelivers (its first copy's lane was lost mid-work) whose operation the ledger already holds
 * with the same command is a duplicate: it takes no rate-limit token, which its first copy took. A redelivered
 * message whose operation is new still takes one. Real RabbitMQ and Redis, own namespace.
 */
import { Config } from '../../../src/config/config';
import { operationIdOf } from '../../../src/ledger/operation-id';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { IntakeProcess, startIntakeProcess } from '../../support/intake-process';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';
import { unlinkMatching } from '../../../src/redis/key-scan';

describe('a redelivered copy of a recorded operation takes no rate-limit token', () => {
  let config: Config;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  const workers: IntakeProcess[] = [];
  const logs = captureLogger('error');

  beforeAll(async () => {
    // One token a take: each command the limiter admits is one take (`pb_rate_limit_takes_total{where="consumer"}`).
    config = testConfig({ 'rate_limits.by_account': { 'simulator:acme-eu': { per_s: 1000, burst: 1000 } }, 'rate_limits.lease_tokens': 1 });
    client = await amqpClient(config);
  });

  afterAll(async () => {
    const last = workers[workers.length - 1];
    // `unlinkMatching` walks every node of a Cluster, where KEYS reads one.
    await unlinkMatching(last.redis, `${config.redis.keyPrefix}*`).catch(() => undefined);
    for (const w of workers.reverse()) await w.stop().catch(() => undefined);
    await client.deleteNamespace();
    await client.close();
  });

  /** Leaves the queue's `n` messages redelivered: taken unacked, their channel closed (as a lost lane's are). */
  const redeliverAll = async (n: number) => {
    const ch = await client.model.createChannel();
    for (let i = 0; i < n; i += 1) if (!(await ch.get(config.amqp.commandsQueue, { noAck: false }))) throw new Error('nothing to redeliver');
    await ch.close();
  };

  it('takes a token for a redelivered new operation, none for a redelivered one the ledger holds', async () => {
    const recorded = channelCommand('authorize');
    const fresh = channelCommand('authorize');
    const first = await startIntakeProcess(config, logs.logger, { rateLimits: true });
    workers.push(first);
    await client.publish('web.payment.authorize', recorded);
    await eventually(async () => (await first.ledger.get(operationIdOf(recorded))) !== null);
    await first.consumer.stop();

    // The same message again, redelivered, and a redelivered one whose operation is new.
    await client.publish('web.payment.authorize', recorded);
    await client.publish('web.payment.authorize', fresh);
    await redeliverAll(2);

    const takes = () => metricValue('pb_rate_limit_takes_total', { where: 'consumer' });
    const skipped = () => metricValue('pb_rate_limit_redelivered_skipped_total');
    const before = await takes();
    const skippedBefore = await skipped();
    const second = await startIntakeProcess(config, logs.logger, { rateLimits: true });
    workers.push(second);
    await eventually(() => second.consumer.stats.duplicates + second.consumer.stats.accepted === 2);
    expect(second.consumer.stats).toMatchObject({ duplicates: 1, accepted: 1, rateLimited: 0, deadLettered: 0 });
    expect((await takes()) - before).toBe(1);
    expect((await skipped()) - skippedBefore).toBe(1);
  });
});
