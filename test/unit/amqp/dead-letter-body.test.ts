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

describe('a dead letter from a bus that counts in major units (service_bus.amount_units: major)', () => {
  const call = (amount: number, currency: string) =>
    Buffer.from(
      JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'magento.payments.payments_management.capture', params: { payment: { ...payment, amount, currency } } }),
    );
  const headers = { 'x-pb-code': 'INVALID_PARAMS', 'x-pb-reason': 'bad key' };
  const triage = new DeadLetterTriage({
    redis: {} as RedisClient,
    keyPrefix: 'unused:',
    // 100.00 EUR and more is high impact.
    triage: { minAmount: 10_000, minAmountByCurrency: {}, commands: [], channels: [], indexSize: 10, retentionMs: 1000 },
    logger: silentLogger(),
    busAmountUnits: 'major',
  });

  it.each([
    ['EUR', 150, 15_000, 450],
    ['KWD', 2, 2_000, 6],
    ['JPY', 1500, 1500, 4500],
    // The MIB types amounts as floats: a refused capture of 149.99 EUR is 14 999 minor units, not left out.
    ['EUR', 149.99, 14_999, 449.97],
    ['KWD', 1.234, 1_234, 3.7],
  ])('reads %s %d (major) as %i minor units, in the triage summary and the archive record', (currency, major, minor, impact) => {
    expect(describeDeadLetterBody(call(major, currency), 'major').amount).toBe(minor);
    const record = recordFromMessage(
      { content: call(major, currency), properties: { headers }, fields: {} } as unknown as Parameters<typeof recordFromMessage>[0],
      0,
      undefined,
      'major',
    );
    expect(record).toMatchObject({ amount: minor, impact });
    expect(triage.summarise('dl-1', call(major, currency), { code: 'INVALID_PARAMS', field: 'f', reason: 'r', source: 'http:intake' }, new Date()).amount).toBe(
      minor,
    );
  });

  it('counts 150 EUR as high impact (over the 100.00 EUR threshold), not as 1.50 EUR', () => {
    const summary = triage.summarise('dl-1', call(150, 'EUR'), { code: 'INVALID_PARAMS', field: 'f', reason: 'r', source: 'http:intake' }, new Date());
    expect(summary.impact).toBe('high');
  });

  it('leaves out an amount that is none in minor units; a channel command is minor units whatever the bus counts in', () => {
    expect(describeDeadLetterBody(call(99_999_999_999_999, 'EUR'), 'major').amount).toBeUndefined();
    expect(describeDeadLetterBody(call(10.555, 'EUR'), 'major').amount).toBeUndefined();
    expect(describeDeadLetterBody(JSON.stringify({ version: 1, command: 'capture', channel: 'web', payment }), 'major').amount).toBe(1250);
  });
});

describe('the archive id of a dead letter', () => {
  const body = Buffer.from('{"command":"sale","payment":{"amount":1.5}}');
  const idOf = (content: Buffer, headers: Record<string, string>) =>
    recordFromMessage({ content, properties: { headers }, fields: {} } as unknown as Parameters<typeof recordFromMessage>[0], 0).id;
  const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();
  const reason = { 'x-pb-code': 'INVALID_PARAMS', 'x-pb-reason': 'bad amount', 'x-pb-source': 'amqp:commands' };
  // Version 8: derived from the message's identity (`deadLetterIdOf`); version 4: random (a write without one).
  const derived = '0123abcd-4567-8def-9012-3456789abcde';
  const random = '0123abcd-4567-4def-9012-3456789abcde';

  it('is one for two dead letters of one message (its derived id) published at two times', () => {
    expect(idOf(body, { ...reason, 'x-pb-dead-letter-id': derived, 'x-pb-dead-lettered-at': at(0) })).toBe(
      idOf(body, { ...reason, 'x-pb-dead-letter-id': derived, 'x-pb-dead-lettered-at': at(900) }),
    );
  });

  it("is two for another body or reason under the same derived id (a header is anyone's to set), and for a random id at two times", () => {
    const first = idOf(body, { ...reason, 'x-pb-dead-letter-id': derived, 'x-pb-dead-lettered-at': at(0) });
    expect(idOf(Buffer.from('{"command":"sale"}'), { ...reason, 'x-pb-dead-letter-id': derived, 'x-pb-dead-lettered-at': at(0) })).not.toBe(first);
    expect(idOf(body, { ...reason, 'x-pb-reason': 'other', 'x-pb-dead-letter-id': derived, 'x-pb-dead-lettered-at': at(0) })).not.toBe(first);
    expect(idOf(body, { ...reason, 'x-pb-dead-letter-id': random, 'x-pb-dead-lettered-at': at(0) })).not.toBe(
      idOf(body, { ...reason, 'x-pb-dead-letter-id': random, 'x-pb-dead-lettered-at': at(900) }),
    );
  });
});
