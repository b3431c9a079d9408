import { channelSignatureHeaders } from '../../../src/channels/channel-signature';
import { Config } from '../../../src/config/config';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { amqpClient, deadLettersUntil, ofOrder } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';
import { IntakeProcess, startIntakeProcess } from '../../support/intake-process';

describe('a channel cannot claim to be another: every message is checked against its channel key', () => {
  let config: Config;
  let worker: IntakeProcess;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  const logs = captureLogger();

  beforeAll(async () => {
    config = testConfig();
    client = await amqpClient(config);
    worker = await startIntakeProcess(config, logs.logger);
  });

  afterAll(async () => {
    await worker.stop();
    await client.deleteNamespace();
    await client.close();
  });

  /** Publishes `command` with `publish` and returns the headers of its dead letter: the one of its order, not the first one a count meets (another test's may be confirmed late). */
  async function deadLetterOf(command: PaymentCommand, publish: () => Promise<void>): Promise<Record<string, unknown>> {
    const before = worker.consumer.stats.deadLettered;
    await publish();
    await eventually(() => worker.consumer.stats.deadLettered > before);
    const dead = (await deadLettersUntil(client, (seen) => seen.some(ofOrder(command.payment.order_id)))).filter(ofOrder(command.payment.order_id));
    expect(dead).toHaveLength(1);
    return dead[0].properties.headers ?? {};
  }

  it('accepts a command signed with its channel current key, and with the previous key during a rotation', async () => {
    const current = channelCommand('sale');
    await client.publish('web.payment.sale', current);
    const previous = channelCommand('sale');
    const body = Buffer.from(JSON.stringify(previous));
    await client.publish(
      'web.payment.sale',
      body,
      channelSignatureHeaders(body, { keyId: config.channels.credentials.web![1].keyId, secret: config.channels.credentials.web![1].secret }),
    );
    for (const c of [current, previous]) await eventually(async () => (await worker.ledger.get(c.payment.operation_reference!)) !== null);
  });

  it.each([
    ['an unsigned message', 'unsigned', () => null],
    [
      'a message signed with another key',
      'bad_signature',
      (body: Buffer) => channelSignatureHeaders(body, { keyId: 'web-test-2', secret: 'not-the-web-key-but-long-enough-0123456789' }),
    ],
    [
      'a message under an unknown key id',
      'unknown_key',
      (body: Buffer) => channelSignatureHeaders(body, { keyId: 'stolen', secret: 'not-the-web-key-but-long-enough-0123456789' }),
    ],
  ])('dead-letters %s with UNAUTHENTICATED_CHANNEL, the reason, a metric and a warning, and records nothing', async (_label, reason, headersFor) => {
    const command = channelCommand('sale');
    const body = Buffer.from(JSON.stringify(command));
    const before = await metricValue('pb_channel_messages_refused_total', { channel: 'web', reason });
    const headers = await deadLetterOf(command, () => client.publish('web.payment.sale', body, headersFor(body)));
    expect(headers['x-pb-code']).toBe('UNAUTHENTICATED_CHANNEL');
    expect(headers['x-pb-field']).toBe('x-pb-signature');
    expect(String(headers['x-pb-reason'])).toContain(`channel_auth_${reason}`);
    expect(await metricValue('pb_channel_messages_refused_total', { channel: 'web', reason })).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('channel_unauthenticated') && l.includes(reason))).toBe(true);
    expect(await worker.ledger.get(command.payment.operation_reference!)).toBeNull();
  });

  it('dead-letters a web-signed message whose body claims to come from the bus', async () => {
    const command = channelCommand('capture', { channel: 'bus' });
    const body = Buffer.from(JSON.stringify(command));
    const headers = await deadLetterOf(command, () => client.publish('web.payment.capture', body));
    expect(headers['x-pb-code']).toBe('UNAUTHENTICATED_CHANNEL');
    expect(String(headers['x-pb-reason'])).toContain('channel_auth_channel_mismatch');
    expect(await worker.ledger.get(command.payment.operation_reference!)).toBeNull();
  });

  it('dead-letters a web-signed bus command routed as the bus (the web key cannot sign as the bus)', async () => {
    const command = channelCommand('capture', { channel: 'bus' });
    const body = Buffer.from(JSON.stringify(command));
    const web = config.channels.credentials.web![0];
    const headers = await deadLetterOf(command, () => client.publish('bus.payment.capture', body, channelSignatureHeaders(body, web)));
    expect(String(headers['x-pb-reason'])).toContain('channel_auth_channel_mismatch');
  });

  it('keeps consuming signed commands behind a flood of unsigned ones', async () => {
    const before = worker.consumer.stats.deadLettered;
    for (let i = 0; i < 20; i += 1) await client.publish('pos.payment.sale', channelCommand('sale', { channel: 'pos' }), null);
    const good = channelCommand('sale', { channel: 'pos' });
    await client.publish('pos.payment.sale', good);
    await eventually(async () => (await worker.ledger.get(good.payment.operation_reference!)) !== null);
    // The good one may be recorded before the last unsigned ones are dead-lettered: wait for all 20, so none is a later test's.
    await eventually(() => worker.consumer.stats.deadLettered >= before + 20);
    await client.drainDeadLetters();
  });
});
