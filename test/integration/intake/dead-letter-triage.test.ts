import amqp from 'amqplib';
import { listDeadLettersByImpact } from '../../../src/amqp/dead-letter-triage';
import { triageQueueOf } from '../../../src/amqp/topology';
import { Config } from '../../../src/config/config';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { IntakeProcess, startIntakeProcess } from '../../support/intake-process';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';

describe('high-impact intake failures go to the priority triage queue, and dead letters list by impact', () => {
  let config: Config;
  let worker: IntakeProcess;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  const logs = captureLogger();

  beforeAll(async () => {
    config = testConfig({
      'channels.triage.min_amount': 50000,
      'channels.triage.min_amount_by_currency': { JPY: 500000 },
      'channels.triage.commands': ['refund'],
      'channels.triage.channels': ['marketplace'],
    });
    client = await amqpClient(config);
    worker = await startIntakeProcess(config, logs.logger);
  });

  afterAll(async () => {
    await worker.stop();
    await client.deleteNamespace();
    await client.close();
  });

  it('copies high-impact dead letters to the triage queue with an alert, leaves the others in the dead-letter queue only, and lists them by impact', async () => {
    const bad = (command: 'sale' | 'refund' | 'authorize', channel: 'web' | 'marketplace', amount: number, currency = 'EUR') =>
      channelCommand(command, { channel }, { amount, currency, gateway_key: '.' });
    const cases = [
      bad('sale', 'web', 1000), // normal
      bad('sale', 'web', 90000), // high: amount
      bad('refund', 'web', 10), // high: command
      bad('authorize', 'marketplace', 5), // high: channel
      bad('sale', 'web', 90000, 'JPY'), // normal: under the JPY threshold
    ];
    const before = await metricValue('pb_dead_letters_high_impact_total', { channel: 'web', command: 'sale', code: 'INVALID_PARAMS' });
    const dlBefore = worker.consumer.stats.deadLettered;
    for (const c of cases) await client.publish(`${c.channel}.payment.${c.command}`, c);
    await eventually(() => worker.consumer.stats.deadLettered >= dlBefore + cases.length);
    expect(await client.drainDeadLetters()).toHaveLength(cases.length);
    await eventually(async () => (await client.queueDepth(triageQueueOf(config.amqp))) === 3);
    // Counted and logged once its triage copy is out: the three lines are the last thing each writes.
    await eventually(() => logs.lines.filter((l) => l.includes('high-impact dead letter')).length === 3);
    expect(await metricValue('pb_dead_letters_high_impact_total', { channel: 'web', command: 'sale', code: 'INVALID_PARAMS' })).toBe(before + 1);

    const listed = await listDeadLettersByImpact(worker.redis, config.redis.keyPrefix);
    expect(listed.map((s) => [s.command, s.amount, s.impact])).toEqual([
      ['sale', 90000, 'high'],
      ['refund', 10, 'high'],
      ['authorize', 5, 'high'],
      ['sale', 90000, 'normal'],
      ['sale', 1000, 'normal'],
    ]);
    expect(listed[0]).toMatchObject({
      channel: 'web',
      code: 'INVALID_PARAMS',
      field: 'payment.gateway_key',
      impactReasons: ['amount'],
      operationReference: cases[1].payment.operation_reference,
    });
    expect((await listDeadLettersByImpact(worker.redis, config.redis.keyPrefix, { highOnly: true, limit: 2 })).map((s) => s.command)).toEqual([
      'sale',
      'refund',
    ]);

    const model = await amqp.connect(config.amqp.url);
    const ch = await model.createChannel();
    const copy = await ch.get(triageQueueOf(config.amqp), { noAck: true });
    expect(copy && copy.properties.headers?.['x-pb-code']).toBe('INVALID_PARAMS');
    await model.close();
  });
});
