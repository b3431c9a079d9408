import { describeDeadLetterBody } from '../../../src/amqp/dead-letter-body';
import { DeadLetterTriage } from '../../../src/amqp/dead-letter-triage';
import { recordFromMessage } from '../../../src/ops/dead-letter-store';
import { silentLogger } from '../../../src/logging/logger';
import { webOrderCreatedExample } from '../../../harness/workload/channel-contract-examples';
import { RedisClient } from '../../../src/redis/redis-connection';

const payment = {
  gateway: 'stripe',
  gateway_account: 'acme',
  gateway_key: 'pm_1',
  amount: 1250,
  currency: 'EUR',
  order_id: 'ORD-1',
  operation_reference: 'op-1',
};

describe('describeDeadLetterBody: the one reader of dead-letter bodies', () => {
  it('reads a canonical command', () => {
    expect(describeDeadLetterBody(JSON.stringify({ version: 1, command: 'capture', channel: 'web', payment }))).toEqual({
      channel: 'web',
      command: 'capture',
      orderId: 'ORD-1',
      operationReference: 'op-1',
      gateway: 'stripe',
      account: 'acme',
      amount: 1250,
      currency: 'EUR',
    });
  });

  it('reads a bus JSON-RPC call (channel bus, the method’s last segment)', () => {
    const call = { jsonrpc: '2.0', id: 1, method: 'magento.payments.payments_management.refund', params: { payment } };
    expect(describeDeadLetterBody(Buffer.from(JSON.stringify(call)))).toMatchObject({
      channel: 'bus',
      command: 'refund',
      amount: 1250,
      operationReference: 'op-1',
    });
  });

  it('reads a channel contract’s payload where its contract keeps the money', () => {
    const facts = describeDeadLetterBody(JSON.stringify(webOrderCreatedExample('dl1')));
    expect(facts.channel).toBe('web');
    expect(typeof facts.command).toBe('string');
    expect(Number.isSafeInteger(facts.amount)).toBe(true);
  });

  it('trusts nothing: wrong types, overlong strings and unparsable bodies are left out', () => {
    expect(describeDeadLetterBody('not json')).toEqual({});
    expect(describeDeadLetterBody('[1,2]')).toEqual({});
    expect(describeDeadLetterBody(JSON.stringify({ command: 7, payment: { amount: 1.5, currency: 'EURO', order_id: 'x'.repeat(129) } }))).toEqual({});
  });

  it('the writer’s summary and the archive record say the same of one body (order, operation, money, triage category)', () => {
    const body = Buffer.from(JSON.stringify({ version: 1, command: 'capture', channel: 'web', payment }));
    const triage = new DeadLetterTriage({
      redis: {} as RedisClient,
      keyPrefix: 'unused:',
      triage: { minAmount: 100_000, minAmountByCurrency: {}, commands: [], channels: [], indexSize: 10, retentionMs: 1000 },
      logger: silentLogger(),
    });
    const summary = triage.summarise('dl-1', body, { code: 'INVALID_PARAMS', field: 'payment.gateway_key', reason: 'bad key', source: 'amqp:q' }, new Date());
    const record = recordFromMessage(
      { content: body, properties: { headers: { 'x-pb-code': 'INVALID_PARAMS', 'x-pb-reason': 'bad key' } }, fields: {} } as unknown as Parameters<
        typeof recordFromMessage
      >[0],
      Date.now(),
    );
    expect([summary.orderId, summary.operationReference, summary.command, summary.channel, summary.amount, summary.currency, summary.gateway]).toEqual([
      record.orderId,
      record.operationId,
      record.command,
      record.channel,
      record.amount,
      record.currency,
      record.gateway,
    ]);
    expect(summary.category).toBe(record.category);
    expect(summary.category).toBe('hard');
  });
});
