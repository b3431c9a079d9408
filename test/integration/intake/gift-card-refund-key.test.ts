import axios from 'axios';
import { signBody } from '../../../src/bus/x-signature';
import { holdsCardNumber } from '../../../src/contracts/card-data-policy';
import { Config } from '../../../src/config/config';
import { Payment } from '../../../src/contracts/payment-command';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { keysMatching } from '../../../src/redis/key-scan';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { busCall, channelCommand, payment } from '../../support/fixtures';
import { IntakeProcess, startIntakeProcess } from '../../support/intake-process';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

const REFUND = 'magento.payments.payments_management.refund';

/** A fresh 17-digit reference with no Luhn-valid run of 12 to 19 digits: an OMS's numeric operation reference. */
function numericReference(): string {
  for (let i = 0; ; i += 1) {
    const id = `${Date.now()}${String(Math.floor(Math.random() * 10000)).padStart(4, '0')}`;
    if (!holdsCardNumber(id)) return id;
    if (i > 100) throw new Error('no non-Luhn reference found');
  }
}

const giftCard = { method: 'giftcard', submethod: 'givex' } as Payment['method_details'];

describe('intake: a gift card refund keyed by an all-digit operation id of 17 digits or more', () => {
  let config: Config;
  let web: WebProcess;
  let worker: IntakeProcess;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  const logs = captureLogger();

  const post = (body: unknown) => {
    const raw = JSON.stringify(body);
    return axios.post(web.intakeUrl, raw, {
      headers: { 'content-type': 'application/json', 'x-signature': signBody(raw, config.serviceBus.secret) },
      validateStatus: () => true,
      transformRequest: [(d: unknown) => d],
    });
  };

  /** Every key and value under the test's Redis prefix, as one text. */
  const redisText = async (): Promise<string> => {
    const redis = testRedis(config);
    try {
      const keys = await keysMatching(redis, `${config.redis.keyPrefix}*`);
      const parts: string[] = [...keys];
      for (const key of keys) {
        const type = await redis.type(key);
        if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(key)));
        else if (type === 'string') parts.push(String(await redis.get(key)));
        else if (type === 'list') parts.push(JSON.stringify(await redis.lrange(key, 0, -1)));
        else if (type === 'zset') parts.push(JSON.stringify(await redis.zrange(key, 0, -1)));
        else if (type === 'set') parts.push(JSON.stringify(await redis.smembers(key)));
        else if (type === 'stream') parts.push(JSON.stringify(await redis.xrange(key, '-', '+')));
      }
      return parts.join('\n');
    } finally {
      redis.disconnect();
    }
  };

  /** A gift card redemption recorded under numeric operation reference `id`. */
  const redeemed = async (id: string): Promise<void> => {
    await client.publish(
      'web.payment.sale',
      channelCommand('sale', {}, { operation_reference: id, gateway_key: `gc_${id.slice(-6)}`, method_details: giftCard }),
    );
    await eventually(async () => (await worker.ledger.get(id)) !== null);
  };

  beforeAll(async () => {
    config = testConfig();
    client = await amqpClient(config);
    worker = await startIntakeProcess(config, logs.logger);
    web = await startWebProcess(config, logs.logger);
    await eventually(async () => (await axios.get(`${web.server.url}/readyz`, { validateStatus: () => true })).status === 200);
  });

  afterAll(async () => {
    await web.stop();
    await worker.stop();
    await client.deleteNamespace();
    await client.close();
  });

  it('from a channel: accepted and queued naming the redemption when the id is one of our operations', async () => {
    const id = numericReference();
    await redeemed(id);
    const refund = channelCommand('refund', {}, { gateway_key: id, amount: 100, method_details: giftCard });
    await client.publish('web.payment.refund', refund);
    const refundId = refund.payment.operation_reference!;
    await eventually(async () => (await worker.deliveryQueue.getJob(refundId)) !== undefined);
    expect(await worker.ledger.get(refundId)).toMatchObject({ command: 'refund', state: 'RECEIVED', payment: { gateway_key: id } });
  });

  it('from a channel: a long digit run that is none of our operations is dead-lettered CARD_DATA_REJECTED, masked, and never stored', async () => {
    await client.drainDeadLetters();
    const number = numericReference();
    const refund = channelCommand('refund', {}, { gateway_key: number, amount: 100, method_details: giftCard });
    const before = worker.consumer.stats.deadLettered;
    await client.publish('web.payment.refund', refund);
    await eventually(() => worker.consumer.stats.deadLettered > before);
    const dead = await client.drainDeadLetters();
    expect(dead).toHaveLength(1);
    expect(dead[0].properties.headers?.['x-pb-code']).toBe('CARD_DATA_REJECTED');
    expect(dead[0].properties.headers?.['x-pb-field']).toBe('payment.gateway_key');
    expect(dead[0].content.toString()).not.toContain(number);
    expect(await worker.ledger.get(refund.payment.operation_reference!)).toBeNull();
    expect(await redisText()).not.toContain(number);
    expect(logs.lines.join('\n')).not.toContain(number);
  });

  it('from the bus: accepted (result {}) when the id is one of our operations, refused -32602 on payment.gateway_key when not', async () => {
    const id = numericReference();
    await redeemed(id);
    const ours = payment({ gateway_key: id, amount: 100, method_details: giftCard });
    const res = await post(busCall(REFUND, ours, 'rpc-gc-1'));
    expect(res.data).toEqual({ jsonrpc: '2.0', id: 'rpc-gc-1', result: {} });
    await eventually(async () => (await worker.deliveryQueue.getJob(ours.operation_reference!)) !== undefined);
    expect(await worker.ledger.get(ours.operation_reference!)).toMatchObject({ command: 'refund', payment: { gateway_key: id } });

    const number = numericReference();
    const notOurs = payment({ gateway_key: number, amount: 100, method_details: giftCard });
    const refused = await post(busCall(REFUND, notOurs, 'rpc-gc-2'));
    expect(refused.data.error?.code).toBe(-32602);
    expect(refused.data.error?.data?.field).toBe('payment.gateway_key');
    expect(JSON.stringify(refused.data)).not.toContain(number);
    expect(await worker.ledger.get(notOurs.operation_reference!)).toBeNull();
    expect(await redisText()).not.toContain(number);
    expect(logs.lines.join('\n')).not.toContain(number);
  });
});
