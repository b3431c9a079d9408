/**
 * An Adyen stored token whose storedPaymentMethodId passes the Luhn check (about one in ten of those starting with 2
 * to 6) is handed to the OMS like any other; the OMS sending it back in `payment.gateway_key` must reach Adyen, not be
 * refused as a card number. End to end on the real Redis, RabbitMQ and processes (namespace of the file's own): the
 * token issued by an AUTHORISATION webhook of ours, then a sale of it posted to the bus intake, consumed by the worker
 * and charged at a local Adyen stand-in. The same digits never issued, and a real card number, are still refused.
 */
import { signBody } from '../../../src/bus/x-signature';
import { Payment } from '../../../src/contracts/payment-command';
import { IssuedTokens } from '../../../src/ledger/issued-tokens';
import { luhnValid } from '../../../src/logging/redact';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { issuedTokenKeyOf } from '../../../src/redis/key-layout';
import { useAdyenStandInStack } from '../../support/adyen-checkout-stand-in';
import { amqpClient } from '../../support/amqp-helpers';
import { channelCommand, payment } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { pendingOperation, postAdyenBatch, signedAdyenItem } from '../../support/webhook-stack';
import { luhnComplete } from '../../support/luhn';

jest.setTimeout(60_000);

const MERCHANT = 'IssuedTokenMerchant';
const ADYEN_HMAC = '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056';
const SHOPPER = 'shopper-issued-0042';
const PAN = '4111111111111111';

const { stack, sent, logs } = useAdyenStandInStack(MERCHANT, ADYEN_HMAC);

let seq = 0;
/** A fresh 16-digit storedPaymentMethodId starting with 5 that passes the Luhn check: a card number to every scan. */
const cardLikeId = (): string => luhnComplete(`5${String(Date.now()).slice(-9)}${String(++seq).padStart(5, '0')}`);

/** Posts a signed JSON-RPC call of `method` with `params` to the web process's intake: its JSON-RPC answer. */
async function rpc(method: string, params: Record<string, unknown>): Promise<Record<string, unknown>> {
  const raw = JSON.stringify({ jsonrpc: '2.0', id: `rpc-issued-${++seq}`, method, params });
  const res = await fetch(stack.web.intakeUrl, {
    method: 'POST',
    body: raw,
    headers: { 'content-type': 'application/json', 'x-signature': signBody(raw, stack.config.serviceBus.secret) },
  });
  return (await res.json()) as Record<string, unknown>;
}

/** The bus's command `method` (its configured JSON-RPC method) for `p`. */
const busCall = (method: 'validate' | 'capture', p: Payment) => rpc(stack.config.serviceBus.methods.commands[method], { payment: p });

/** Creates a monthly recurring schedule at Adyen charging `gatewayKey` (`recurring.rpc_methods.create`). */
const scheduleOf = (gatewayKey: string) =>
  rpc(stack.config.recurring.rpcMethods.create, {
    schedule: {
      id: `sched-issued-${process.pid}-${++seq}`,
      gateway: 'adyen',
      gateway_account: 'acme-eu',
      gateway_key: gatewayKey,
      amount: 1500,
      currency: 'EUR',
      start_at: '2030-01-31T09:00:00Z',
      interval: { unit: 'month', count: 1 },
    },
  });

/** A payment of 50 EUR at Adyen naming `gatewayKey`. */
const paymentOf = (gatewayKey: string) =>
  payment({ gateway: 'adyen', gateway_key: gatewayKey, amount: 5000, currency: 'EUR', order_id: `order-issued-${process.pid}-${++seq}` });

let client: Awaited<ReturnType<typeof amqpClient>>;
beforeAll(async () => {
  client = await amqpClient(stack.config);
});
afterAll(async () => {
  await client?.close();
});

/** A sale of `gatewayKey` published by the web channel (signed with its key) to the commands exchange: its operation id. */
async function publishedSale(gatewayKey: string): Promise<string> {
  const command = channelCommand('sale', {}, paymentOf(gatewayKey));
  await client.publish('web.payment.sale', command);
  return command.payment.operation_reference!;
}

/** The dead letter of operation `id`, once the consumer wrote it: its headers. */
async function deadLetterOf(id: string): Promise<Record<string, unknown>> {
  let found: Record<string, unknown> | undefined;
  await eventually(async () => {
    for (const msg of await client.drainDeadLetters()) if (msg.content.toString('utf8').includes(id)) found = msg.properties.headers ?? {};
    return found !== undefined;
  }, 20_000);
  return found!;
}

/** The token the AUTHORISATION of a payment of ours that stored its card hands the OMS (`<shopper>:<id>`). */
async function issuedThroughWebhook(id: string): Promise<string> {
  const reference = `ISSUEDAUTH${String(++seq).padStart(6, '0')}`;
  const op = await pendingOperation(
    stack.worker,
    'authorize',
    { gateway: 'adyen', amount: 5000, currency: 'EUR', order_id: `order-issued-${process.pid}-${++seq}`, payment_method: { type: 'card', store: true } },
    reference,
  );
  const item = signedAdyenItem(
    {
      eventCode: 'AUTHORISATION',
      merchantReference: op,
      pspReference: reference,
      merchantAccountCode: MERCHANT,
      amount: { value: 5000, currency: 'EUR' },
      additionalData: { 'tokenization.storedPaymentMethodId': id, 'tokenization.shopperReference': SHOPPER },
    },
    ADYEN_HMAC,
  );
  expect(await postAdyenBatch(stack, 'adyen', [item])).toEqual({ status: 200, body: '[accepted]' });
  const token = `${SHOPPER}:${id}`;
  await eventually(async () => sent.some((n) => (n.params.payment as Record<string, unknown>).token === token));
  return token;
}

/** The intake's JSON-RPC refusal of card data in payment.gateway_key (CARD_DATA_REJECTED's reason). */
const CARD_DATA_AT_GATEWAY_KEY = { data: { field: 'payment.gateway_key', reason: expect.stringContaining('holds card data') as unknown } };

describe('a card-like stored token the bridge issued, sent back by the OMS in payment.gateway_key', () => {
  const accepted = (step: string) => metricValue('pb_card_like_tokens_accepted_total', { gateway: 'adyen', step });

  it('issued through an Adyen webhook of ours, is accepted by the consumer and charged at Adyen (kept whole on the record)', async () => {
    const id = cardLikeId();
    const token = await issuedThroughWebhook(id);
    // The index holds its keyed digest, never the token.
    const tokens = new IssuedTokens(stack.worker.ledger, stack.config.serviceBus);
    expect(await stack.worker.redis.get(issuedTokenKeyOf(stack.config.redis.keyPrefix, tokens.digest(token)))).toBe('adyen');
    const before = await accepted('consumer');
    const mark = logs.lines.length;
    const opId = await publishedSale(token);
    await eventually(async () => (await stack.worker.ledger.get(opId))?.state === 'SUCCEEDED', 30_000);
    const op = await stack.worker.ledger.get(opId);
    expect(op?.payment.gateway_key).toBe(token);
    expect(op?.gatewayReference).toMatch(/^AUTH/);
    expect(await accepted('consumer')).toBe(before + 1);
    // The OMS is told of the charge with the token as it sent it.
    await eventually(async () => sent.some((n) => (n.params.payment as Record<string, unknown>).operation_reference === opId));
    const told = sent.filter((n) => (n.params.payment as Record<string, unknown>).operation_reference === opId);
    expect(told.map((n) => (n.params.payment as Record<string, unknown>).gateway_key)).toEqual(told.map(() => token));
    // Its line names the field and the gateway, never the token (nor a mask of it: it is not there to mask).
    const lines = logs.lines.slice(mark);
    expect(lines.some((l) => l.includes('card-like stored token the bridge issued accepted') && l.includes('payment.gateway_key'))).toBe(true);
    expect(lines.filter((l) => l.includes(id) || l.includes('[PAN REDACTED]') || l.includes(`${SHOPPER}:`))).toEqual([]);
  });

  it('is accepted by the bus intake in a command it takes (a validate naming it), counted there', async () => {
    const token = await issuedThroughWebhook(cardLikeId());
    const before = await accepted('intake');
    const answer = await busCall('validate', paymentOf(token));
    expect(answer.error).toBeUndefined();
    expect(await accepted('intake')).toBe(before + 1);
  });

  it("is accepted as a recurring schedule's gateway_key; the same digits never issued are refused there naming params.schedule.gateway_key", async () => {
    const token = await issuedThroughWebhook(cardLikeId());
    const before = await accepted('schedule');
    const created = await scheduleOf(token);
    expect(created.error).toBeUndefined();
    expect(created.result).toMatchObject({ created: true, schedule: { definition: { gateway_key: token } } });
    expect(await accepted('schedule')).toBe(before + 1);
    const refused = await scheduleOf(`${SHOPPER}:${cardLikeId()}`);
    expect(refused.error).toMatchObject({ data: { field: 'params.schedule.gateway_key', reason: expect.stringContaining('card') as unknown } });
  });

  it('the same digits never issued are refused CARD_DATA_REJECTED naming payment.gateway_key, by the intake and the consumer', async () => {
    const never = `${SHOPPER}:${cardLikeId()}`;
    expect((await busCall('validate', paymentOf(never))).error).toMatchObject(CARD_DATA_AT_GATEWAY_KEY);
    const opId = await publishedSale(never);
    expect(await deadLetterOf(opId)).toMatchObject({ 'x-pb-code': 'CARD_DATA_REJECTED', 'x-pb-field': 'payment.gateway_key' });
    expect(await stack.worker.ledger.get(opId)).toBeNull();
  });

  it('an issued id under another shopper (other text around the digits) is refused', async () => {
    const id = cardLikeId();
    await issuedThroughWebhook(id);
    const opId = await publishedSale(`another-shopper:${id}`);
    expect(await deadLetterOf(opId)).toMatchObject({ 'x-pb-code': 'CARD_DATA_REJECTED', 'x-pb-field': 'payment.gateway_key' });
  });

  it('an issued token sent for another gateway (not of its vault) is refused, by the intake and the consumer: never handed to a PSP account that did not issue it', async () => {
    const token = await issuedThroughWebhook(cardLikeId());
    const elsewhere = { ...paymentOf(token), gateway: 'simulator' };
    expect((await busCall('validate', elsewhere)).error).toMatchObject(CARD_DATA_AT_GATEWAY_KEY);
    const command = channelCommand('sale', {}, elsewhere);
    await client.publish('web.payment.sale', command);
    expect(await deadLetterOf(command.payment.operation_reference!)).toMatchObject({ 'x-pb-code': 'CARD_DATA_REJECTED', 'x-pb-field': 'payment.gateway_key' });
  });

  it('a real card number in payment.gateway_key is refused', async () => {
    expect((await busCall('validate', paymentOf(PAN))).error).toMatchObject(CARD_DATA_AT_GATEWAY_KEY);
    const opId = await publishedSale(PAN);
    expect(await deadLetterOf(opId)).toMatchObject({ 'x-pb-code': 'CARD_DATA_REJECTED', 'x-pb-field': 'payment.gateway_key' });
  });
});

describe('a card-like network transaction id the bridge reported, quoted back in payment.recurring.network_transaction_id', () => {
  /** A fresh 15-digit id starting with 4 that passes the Luhn check, as a Visa one may. */
  const cardLikeNti = (): string => luhnComplete(`4${String(Date.now()).slice(-8)}${String(++seq).padStart(5, '0')}`);
  /** A merchant-initiated sale of a stored card at Adyen quoting `nti`. */
  const mitOf = (nti: string) => ({
    ...paymentOf(`${SHOPPER}:tok-plain`),
    payment_method: { type: 'stored_card' as const },
    recurring: { model: 'unscheduled' as const, network_transaction_id: nti },
  });
  const CARD_DATA_AT_NTI = { data: { field: 'payment.recurring.network_transaction_id', reason: expect.stringContaining('holds card data') as unknown } };

  it('is accepted by the bus intake and the consumer (kept whole on the record) once the bridge reported it', async () => {
    const nti = cardLikeNti();
    expect(luhnValid(nti)).toBe(true);
    expect(await new IssuedTokens(stack.worker.ledger, stack.config.serviceBus).recordNetworkId(nti, 'adyen')).toBe(true);
    const answer = await busCall('validate', mitOf(nti));
    expect(answer.error).toBeUndefined();
    const command = channelCommand('sale', {}, mitOf(nti));
    await client.publish('web.payment.sale', command);
    const opId = command.payment.operation_reference!;
    await eventually(async () => (await stack.worker.ledger.get(opId)) !== null, 30_000);
    expect((await stack.worker.ledger.get(opId))?.payment.recurring?.network_transaction_id).toBe(nti);
  });

  it('never reported, is refused CARD_DATA_REJECTED naming the field by the intake and the consumer; its dead letter holds it masked', async () => {
    const never = cardLikeNti();
    expect((await busCall('validate', mitOf(never))).error).toMatchObject(CARD_DATA_AT_NTI);
    const command = channelCommand('sale', {}, mitOf(never));
    await client.publish('web.payment.sale', command);
    const opId = command.payment.operation_reference!;
    let body = '';
    await eventually(async () => {
      for (const msg of await client.drainDeadLetters()) {
        const text = msg.content.toString('utf8');
        if (text.includes(opId)) {
          body = text;
          expect(msg.properties.headers).toMatchObject({ 'x-pb-code': 'CARD_DATA_REJECTED', 'x-pb-field': 'payment.recurring.network_transaction_id' });
        }
      }
      return body !== '';
    }, 20_000);
    expect(body).not.toContain(never);
  });
});
