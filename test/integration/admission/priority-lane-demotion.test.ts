/**
 * The priority lane carries captures, cancels and refunds only. A channel that publishes an authorization,
 * a sale or a validate to the priority exchange (to overtake the backlog) gets it demoted: moved to the
 * normal commands queue, counted and logged, and handled there like any other.
 */
import { ConfirmChannel } from 'amqplib';
import { priorityExchangeOf } from '../../../src/admission/command-priority';
import { channelSignatureHeaders } from '../../../src/channels/channel-signature';
import { Config } from '../../../src/config/config';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { webOrderCreatedExample } from '../../../harness/workload/channel-contract-examples';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';
import { IntakeProcess, startIntakeProcess } from '../../support/intake-process';

jest.setTimeout(90_000);

describe('the priority exchange accepts only captures, cancels and refunds', () => {
  let config: Config;
  let worker: IntakeProcess;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  let channel: ConfirmChannel;
  const logs = captureLogger();

  beforeAll(async () => {
    config = testConfig();
    client = await amqpClient(config);
    worker = await startIntakeProcess(config, logs.logger);
    channel = await client.model.createConfirmChannel();
  });

  afterAll(async () => {
    await channel.close().catch(() => undefined);
    await worker.stop();
    await client.deleteNamespace();
    await client.close();
  });

  /** Publishes a body signed by `signer` to the priority exchange, as a channel trying to jump the queue would. */
  async function publishPriority(routingKey: string, body: object, signer: 'web' | 'pos' = 'web'): Promise<void> {
    const content = Buffer.from(JSON.stringify(body));
    const key = config.channels.credentials[signer]![0];
    channel.publish(priorityExchangeOf(config.amqp), routingKey, content, { persistent: true, headers: channelSignatureHeaders(content, key) });
    await channel.waitForConfirms();
  }

  it.each(['authorize', 'sale', 'validate'] as const)(
    'demotes %s published to the priority exchange to the normal lane: counted, logged, recorded once, never dead-lettered',
    async (type) => {
      const labels = { channel: 'web', command: type };
      const before = await metricValue('pb_priority_lane_demoted_total', labels);
      const accepted = worker.consumer.stats.accepted;
      const demoted = worker.consumer.stats.demoted;
      const command = channelCommand(type);
      await publishPriority(`web.payment.${type}`, command);
      await eventually(async () => (await worker.ledger.get(command.payment.operation_reference!)) !== null);
      // The demoted copy can be recorded from the normal lane before the priority lane's handler has counted it.
      await eventually(() => worker.consumer.stats.demoted === demoted + 1);
      expect(await metricValue('pb_priority_lane_demoted_total', labels)).toBe(before + 1);
      await eventually(() => worker.consumer.stats.accepted === accepted + 1);
      expect(logs.lines.some((l) => l.includes('priority lane') && l.includes('demoted') && l.includes(type))).toBe(true);
      expect(await client.drainDeadLetters()).toEqual([]);
    },
  );

  it('demotes a channel contract that maps to an authorization (an order_created on the priority exchange)', async () => {
    const labels = { channel: 'web', command: 'authorize' };
    const before = await metricValue('pb_priority_lane_demoted_total', labels);
    const event = webOrderCreatedExample(`prio-${Date.now().toString(36)}`);
    await publishPriority('web.order_created', event);
    await eventually(async () => (await worker.ledger.get(`web-order.${(event.order as { order_id: string }).order_id}`)) !== null);
    await eventually(async () => (await metricValue('pb_priority_lane_demoted_total', labels)) === before + 1);
  });

  it.each(['capture', 'cancel', 'refund'] as const)('keeps a %s on the priority lane (not demoted)', async (type) => {
    const labels = { channel: 'web', command: type };
    const before = await metricValue('pb_priority_lane_demoted_total', labels);
    const command = channelCommand(type);
    await publishPriority(`web.payment.${type}`, command);
    await eventually(async () => (await worker.ledger.get(command.payment.operation_reference!)) !== null);
    expect(await metricValue('pb_priority_lane_demoted_total', labels)).toBe(before);
  });

  it('still refuses, not demotes, a message that is not validly signed on the priority lane', async () => {
    const command = channelCommand('authorize');
    const content = Buffer.from(JSON.stringify(command));
    channel.publish(priorityExchangeOf(config.amqp), 'web.payment.authorize', content, { persistent: true });
    await channel.waitForConfirms();
    let dead: Awaited<ReturnType<typeof client.drainDeadLetters>> = [];
    await eventually(async () => (dead = [...dead, ...(await client.drainDeadLetters())]).length > 0);
    expect(dead[0].properties.headers?.['x-pb-code']).toBe('UNAUTHENTICATED_CHANNEL');
    expect(await worker.ledger.get(command.payment.operation_reference!)).toBeNull();
  });
});
