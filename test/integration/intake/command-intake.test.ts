import axios from 'axios';
import http from 'node:http';
import { signBody } from '../../../src/bus/x-signature';
import { Config } from '../../../src/config/config';
import { operationIdOf } from '../../../src/ledger/operation-id';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { amqpClient, deadLettersUntil, holding, ofOrder } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { busCall, channelCommand, payment } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { IntakeProcess, startIntakeProcess } from '../../support/intake-process';
import { eventually } from '../../support/tcp-proxy';
import { testRedis } from '../../support/test-redis';
import { keysMatching } from '../../../src/redis/key-scan';
import { OVERSIZED_DEAD_LETTER_BURST } from '../../../src/intake/intake-route';

const CAPTURE = 'magento.payments.payments_management.capture';

describe('command intake: signed bus commands and channel commands end as queued delivery jobs', () => {
  let config: Config;
  let web: WebProcess;
  let worker: IntakeProcess;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  const logs = captureLogger();

  const post = (body: unknown, opts: { signature?: string; raw?: string } = {}) => {
    const raw = opts.raw ?? JSON.stringify(body);
    return axios.post(web.intakeUrl, raw, {
      headers: { 'content-type': 'application/json', 'x-signature': opts.signature ?? signBody(raw, config.serviceBus.secret) },
      validateStatus: () => true,
      transformRequest: [(d: unknown) => d],
    });
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

  it('answers the bus probe with X-Magento-Service-Bus', async () => {
    const res = await axios.options(web.intakeUrl, { validateStatus: () => true });
    expect(res.status).toBe(200);
    expect(res.headers['x-magento-service-bus']).toBe('*');
  });

  it('accepts a signed capture, answers result {} with the same id, and queues one delivery job', async () => {
    const p = payment();
    const res = await post(busCall(CAPTURE, p, 'rpc-1'));
    expect(res.status).toBe(200);
    expect(res.data).toEqual({ jsonrpc: '2.0', id: 'rpc-1', result: {} });
    await eventually(async () => (await worker.deliveryQueue.getJob(p.operation_reference!)) !== undefined);
    const record = await worker.ledger.get(p.operation_reference!);
    expect(record).toMatchObject({ state: 'RECEIVED', command: 'capture', channel: 'bus' });
    expect(record?.payment.amount).toBe(1999);
  });

  it('refuses a reference holding the ledger key separator ":" (it could name another operation\'s key)', async () => {
    const p = payment({ operation_reference: `ord:${Date.now().toString(36)}:capture:1` });
    const res = await post(busCall(CAPTURE, p));
    expect(res.data.error?.data?.field).toBe('payment.operation_reference');
    expect(await worker.ledger.get(p.operation_reference!)).toBeNull();
  });

  it('queues a JSON-RPC notification (no id) and does not reply to it (204, no body), nor to a refused one, which is dead-lettered', async () => {
    const p = payment();
    const { id: _id, ...notification } = busCall(CAPTURE, p) as Record<string, unknown>;
    const accepted = await post(notification);
    expect(accepted.status).toBe(204);
    expect(accepted.data).toBe('');
    await eventually(async () => (await worker.deliveryQueue.getJob(p.operation_reference!)) !== undefined);

    await client.drainDeadLetters();
    const { id: _id2, ...bad } = busCall(CAPTURE, payment({ currency: 'XXY' })) as Record<string, unknown>;
    const refused = await post(bad);
    expect(refused.status).toBe(204);
    expect(refused.data).toBe('');
    await eventually(async () => (await client.drainDeadLetters()).some((m) => m.properties.headers?.['x-pb-field'] === 'payment.currency'));
  });

  it('accepts sha256 signatures as well', async () => {
    const p = payment();
    const raw = JSON.stringify(busCall('magento.payments.payments_management.refund', p));
    const res = await post(null, { raw, signature: signBody(raw, config.serviceBus.secret, 'sha256') });
    expect(res.status).toBe(200);
    await eventually(async () => (await worker.deliveryQueue.getJob(p.operation_reference!)) !== undefined);
  });

  it('queues an AMQP command from another channel', async () => {
    const cmd = channelCommand('authorize', { channel: 'pos', sequence: 7 }, { operation_reference: undefined });
    await client.publish('pos.payment.authorize', cmd);
    const id = operationIdOf(cmd);
    expect(id).toMatch(/^op-[0-9a-f]{32}$/);
    await eventually(async () => (await worker.deliveryQueue.getJob(id)) !== undefined);
    expect((await worker.ledger.get(id))?.channel).toBe('pos');
  });

  it('accepts a channel command whose gift note holds a card number: the masked text is what the ledger stores', async () => {
    const cmd = channelCommand('sale', {}, { custom_attributes: { gift_note: 'happy birthday 4111 1111 1111 1111 love' } });
    await client.publish('web.payment.sale', cmd);
    await eventually(async () => (await worker.deliveryQueue.getJob(cmd.payment.operation_reference!)) !== undefined);
    const record = await worker.ledger.get(cmd.payment.operation_reference!);
    expect(record?.payment.custom_attributes).toEqual({ gift_note: 'happy birthday [PAN REDACTED] love' });
    expect(logs.lines.join('\n')).not.toContain('4111 1111 1111 1111');
    expect(logs.lines.some((l) => l.includes('card data masked in free text') && l.includes('payment.custom_attributes.gift_note'))).toBe(true);
  });

  it('accepts a bus command whose note holds a card number and publishes the masked text', async () => {
    const p = payment({ custom_attributes: { note: 'call back on 5555-5555-5555-4444' } });
    const res = await post(busCall(CAPTURE, p));
    expect(res.data).toMatchObject({ result: {} });
    await eventually(async () => (await worker.ledger.get(p.operation_reference!)) !== null);
    expect((await worker.ledger.get(p.operation_reference!))?.payment.custom_attributes).toEqual({ note: 'call back on [PAN REDACTED]' });
  });

  it('turns the same command sent twice into one job and one ledger record', async () => {
    const p = payment();
    const before = worker.consumer.stats.duplicates;
    expect((await post(busCall(CAPTURE, p, 'dup-1'))).status).toBe(200);
    expect((await post(busCall(CAPTURE, p, 'dup-1'))).status).toBe(200);
    await eventually(() => worker.consumer.stats.duplicates > before);
    const jobs = await worker.deliveryQueue.getJobs(['waiting', 'delayed', 'active', 'completed', 'failed']);
    expect(jobs.filter((j) => j.id === p.operation_reference)).toHaveLength(1);
    const interactions = await worker.ledger.interactions(p.operation_reference!);
    expect(interactions.filter((i) => i.event === 'received')).toHaveLength(1);
  });

  it('refuses a bad signature with 401 and queues nothing', async () => {
    const p = payment();
    const depthBefore = await client.queueDepth(config.amqp.commandsQueue);
    const res = await post(busCall(CAPTURE, p), { signature: 'sha1=0000000000000000000000000000000000000000' });
    expect(res.status).toBe(401);
    expect(res.data.error.data.field).toBe('X-Signature');
    // RFC 9110 §15.5.2: a 401 MUST carry a WWW-Authenticate challenge naming what the resource expects.
    expect(res.headers['www-authenticate']).toBe('X-Signature realm="bus", algorithm="sha1 sha256"');
    const unsigned = await axios.post(web.intakeUrl, busCall(CAPTURE, p), { validateStatus: () => true });
    expect(unsigned.status).toBe(401);
    expect(unsigned.headers['www-authenticate']).toBe('X-Signature realm="bus", algorithm="sha1 sha256"');
    // A signed command sent afterwards is processed, so the bad ones had their chance to show up first.
    const marker = payment();
    await post(busCall(CAPTURE, marker));
    await eventually(async () => (await worker.ledger.get(marker.operation_reference!)) !== null);
    expect(await worker.ledger.get(p.operation_reference!)).toBeNull();
    expect(await worker.deliveryQueue.getJob(p.operation_reference!)).toBeUndefined();
    expect(await client.queueDepth(config.amqp.commandsQueue)).toBeLessThanOrEqual(depthBefore);
  });

  it.each([
    ['malformed JSON', null, '{"jsonrpc":"2.0",', -32700, '(root)'],
    ['a batch', [busCall(CAPTURE, payment())], undefined, -32600, '(root)'],
    ['a wrong jsonrpc version', { jsonrpc: '1.0', id: 1, method: CAPTURE, params: {} }, undefined, -32600, 'jsonrpc'],
    ['params that are not an object', { jsonrpc: '2.0', id: 1, method: CAPTURE, params: [1] }, undefined, -32602, 'params'],
    ['an unknown method', busCall('magento.payments.payments_management.explode', payment()), undefined, -32601, 'method'],
    ['a missing amount', busCall(CAPTURE, { ...payment(), amount: undefined as unknown as number }), undefined, -32602, 'payment.amount'],
    ['a fractional amount', busCall(CAPTURE, payment({ amount: 10.5 })), undefined, -32602, 'payment.amount'],
    ['an unknown currency', busCall(CAPTURE, payment({ currency: 'XXY' })), undefined, -32602, 'payment.currency'],
    ['a card number in a free-text field', busCall(CAPTURE, payment({ order_id: 'card 4111 1111 1111 1111' })), undefined, -32602, 'payment.order_id'],
    // A security code under Shopify's and Authorize.Net's names: no scan can tell three digits from any other.
    [
      'a CVV named verification_value',
      busCall(CAPTURE, payment({ method_details: { method: 'card', card: { verification_value: '737' } } } as never)),
      undefined,
      -32602,
      'payment.method_details.card.verification_value',
    ],
    [
      'a CVV named cardCode',
      busCall(CAPTURE, payment({ custom_attributes: { cardCode: '737' } } as never)),
      undefined,
      -32602,
      'payment.custom_attributes.cardCode',
    ],
  ])('answers %s with JSON-RPC %s naming the field, and dead-letters it', async (_label, body, raw, code, field) => {
    await client.drainDeadLetters();
    const res = await post(body, { raw: raw as string | undefined });
    expect(res.status).toBe(200);
    expect(res.data.error.code).toBe(code);
    expect(res.data.error.data.field).toBe(field);
    await eventually(async () => {
      const dead = await client.drainDeadLetters();
      return dead.some((m) => m.properties.headers?.['x-pb-field'] === field && m.properties.headers?.['x-pb-source'] === 'http:intake');
    });
  });

  it('puts the order id and the JSON-RPC id of a refused bus call on its log line and its dead letter', async () => {
    await client.drainDeadLetters();
    const rejectsBefore = await metricValue('pb_intake_rejects_total', { code: 'INVALID_PARAMS' });
    const p = payment({ currency: 'XXY', order_id: 'ORD-REFUSED-1' });
    const res = await post(busCall(CAPTURE, p, 'rpc-refused-1'));
    expect(res.data.error.code).toBe(-32602);
    expect(await metricValue('pb_intake_rejects_total', { code: 'INVALID_PARAMS' })).toBe(rejectsBefore + 1);
    const line = logs.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.message === 'intake rejected a command' && l.rpc_id === 'rpc-refused-1');
    expect(line).toMatchObject({ order_id: 'ORD-REFUSED-1', rpc_id: 'rpc-refused-1', field: 'payment.currency' });
    let headers: Record<string, unknown> | undefined;
    await eventually(async () => {
      const dead = await client.drainDeadLetters();
      headers = dead.find((m) => m.properties.headers?.['x-pb-rpc-id'] === 'rpc-refused-1')?.properties.headers;
      return headers !== undefined;
    });
    expect(headers?.['x-pb-order-id']).toBe('ORD-REFUSED-1');
  });

  it('never puts part of a card number on a refusal when the order id is cut to 128 characters across it', async () => {
    await client.drainDeadLetters();
    const pan = '4111111111111111';
    // 113 characters, then the number: the cut at 128 keeps its first 15 digits, which fail the Luhn check
    // on their own, and the 16th (the check digit) follows from them.
    const orderId = `${'A'.repeat(113)}${pan}`;
    const command = channelCommand('sale', {}, { order_id: orderId });
    const before = worker.consumer.stats.deadLettered;
    await client.publish('web.payment.sale', command);
    await eventually(() => worker.consumer.stats.deadLettered > before);
    // Its own dead letter, told by its reference (the order id is masked): the count may have been met by another.
    const mine = holding(command.payment.operation_reference);
    const dead = (await deadLettersUntil(client, (seen) => seen.some(mine))).filter(mine);
    const line = logs.lines.find((l) => l.includes('"message":"command dead-lettered"') && l.includes('AAAAAAAAAA'));
    expect(line).toBeDefined();
    const header = String(dead.find((m) => m.properties.headers?.['x-pb-code'] === 'CARD_DATA_REJECTED')?.properties.headers?.['x-pb-order-id']);
    expect(header).toMatch(/^A{113}/);
    for (const text of [line as string, header]) expect(text).not.toContain(pan.slice(0, 12));
  });

  it('refuses a body over the size limit with 413 and a dead letter saying why, its size and the limit, without a byte of the body', async () => {
    await client.drainDeadLetters();
    const pan = '4111111111111111';
    const p = payment({ order_id: 'ORD-TOO-LARGE-MARK' });
    const big = { ...busCall(CAPTURE, p), card: { number: pan }, padding: 'y'.repeat(config.http.bodyLimitBytes) };
    const raw = JSON.stringify(big);
    const before = await metricValue('pb_intake_rejects_total', { code: 'BODY_TOO_LARGE' });
    const res = await axios.post(web.intakeUrl, raw, {
      headers: { 'content-type': 'application/json', 'x-signature': signBody(raw, config.serviceBus.secret), 'x-request-id': 'req-too-large-1' },
      validateStatus: () => true,
      transformRequest: [(d: unknown) => d],
      maxBodyLength: Infinity,
    });
    expect(res.status).toBe(413);
    expect(res.data.error?.data?.field).toBe('(root)');
    expect(await metricValue('pb_intake_rejects_total', { code: 'BODY_TOO_LARGE' })).toBe(before + 1);
    let dead: Awaited<ReturnType<typeof client.drainDeadLetters>> = [];
    await eventually(async () => {
      dead.push(...(await client.drainDeadLetters()));
      return dead.some((m) => m.properties.headers?.['x-pb-code'] === 'BODY_TOO_LARGE');
    });
    dead = dead.filter((m) => m.properties.headers?.['x-pb-code'] === 'BODY_TOO_LARGE');
    expect(dead).toHaveLength(1);
    const headers = dead[0].properties.headers ?? {};
    expect(headers).toMatchObject({
      'x-pb-field': '(root)',
      'x-pb-source': 'http:intake',
      'x-pb-route': `POST ${config.http.intakePath}`,
      'x-pb-signature': 'present, not checked (body not read)',
      'x-pb-request-id': 'req-too-large-1',
    });
    expect(String(headers['x-pb-reason'])).toBe(
      `body too large: of ${Buffer.byteLength(raw)} bytes (Content-Length), over the ${config.http.bodyLimitBytes}-byte limit (http.body_limit_bytes)`,
    );
    expect(Date.parse(String(headers['x-pb-dead-lettered-at']))).toBeGreaterThan(Date.now() - 60_000);
    expect(headers['x-pb-authenticated-channel']).toBeUndefined();
    // Nothing of the body: not its order id, its card number or its padding.
    const stored = `${dead[0].content.toString('utf8')} ${JSON.stringify(headers)}`;
    for (const part of ['ORD-TOO-LARGE-MARK', pan.slice(0, 6), 'yyyyyyyy']) expect(stored).not.toContain(part);
    expect(JSON.parse(dead[0].content.toString('utf8'))).toEqual({
      withheld: 'body too large: not read, not kept',
      bytes: Buffer.byteLength(raw),
      limit: config.http.bodyLimitBytes,
    });
  });

  it('dead-letters a chunked body (no Content-Length) over the limit with the size it had reached', async () => {
    await client.drainDeadLetters();
    const { status } = await new Promise<{ status: number }>((resolve, reject) => {
      const url = new URL(web.intakeUrl);
      const req = http.request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
        },
        (r) => {
          r.resume();
          r.on('end', () => resolve({ status: r.statusCode ?? 0 }));
        },
      );
      req.on('error', reject);
      req.end('z'.repeat(config.http.bodyLimitBytes + 10));
    });
    expect(status).toBe(413);
    let found: Record<string, unknown> | undefined;
    await eventually(async () => {
      found = (await client.drainDeadLetters()).find((m) => m.properties.headers?.['x-pb-code'] === 'BODY_TOO_LARGE')?.properties.headers;
      return found !== undefined;
    });
    expect(String(found?.['x-pb-reason'])).toMatch(/^body too large: of at least \d+ bytes, over the \d+-byte limit/);
    expect(found?.['x-pb-signature']).toBe('absent');
  });

  it('bounds the dead letters of 413s, which anyone can cause with a Content-Length header alone: the rest are answered and counted', async () => {
    await client.drainDeadLetters();
    const skippedBefore = await metricValue('pb_intake_oversized_dead_letters_skipped_total');
    const rejectsBefore = await metricValue('pb_intake_rejects_total', { code: 'BODY_TOO_LARGE' });
    const sent = OVERSIZED_DEAD_LETTER_BURST + 5;
    const url = new URL(web.intakeUrl);
    // Headers only, no byte of a body: refused on its declared length.
    const headersOnly = () =>
      new Promise<number>((resolve, reject) => {
        const req = http.request({
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': String(config.http.bodyLimitBytes * 4) },
        });
        req.on('response', (r) => {
          r.resume();
          resolve(r.statusCode ?? 0);
          req.destroy();
        });
        req.on('error', reject);
        req.flushHeaders();
      });
    const statuses: number[] = [];
    for (let i = 0; i < sent; i += 1) statuses.push(await headersOnly());
    expect(statuses.every((s) => s === 413)).toBe(true);
    expect(await metricValue('pb_intake_rejects_total', { code: 'BODY_TOO_LARGE' })).toBe(rejectsBefore + sent);
    const skipped = (await metricValue('pb_intake_oversized_dead_letters_skipped_total')) - skippedBefore;
    expect(skipped).toBeGreaterThanOrEqual(5);
    let letters = 0;
    await eventually(async () => {
      letters += (await client.drainDeadLetters()).filter((m) => m.properties.headers?.['x-pb-code'] === 'BODY_TOO_LARGE').length;
      return letters === sent - skipped;
    });
    expect(letters).toBeLessThanOrEqual(OVERSIZED_DEAD_LETTER_BURST);
  });
});

describe('command consumer: every malformed channel command is dead-lettered with its reason', () => {
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

  const base = () => channelCommand('capture');
  const cases: Array<[string, Buffer | object, string, string]> = [
    ['not JSON', Buffer.from('not json at all'), 'PARSE_ERROR', '(root)'],
    ['an unknown command', { ...base(), command: 'explode' }, 'INVALID_PARAMS', 'command'],
    ['an unknown channel', { ...base(), channel: 'fax' }, 'INVALID_PARAMS', 'channel'],
    ['a missing payment', { ...base(), payment: undefined }, 'INVALID_PARAMS', 'payment'],
    ['a negative amount', channelCommand('capture', {}, { amount: -5 }), 'INVALID_PARAMS', 'payment.amount'],
    ['a zero capture', channelCommand('capture', {}, { amount: 0 }), 'INVALID_PARAMS', 'payment.amount'],
    ['a fractional amount', channelCommand('refund', {}, { amount: 1.25 }), 'INVALID_PARAMS', 'payment.amount'],
    ['an enormous amount', channelCommand('sale', {}, { amount: 1e20 }), 'INVALID_REQUEST', 'payment.amount'],
    ['an amount as a string', channelCommand('capture', {}, { amount: '100' as unknown as number }), 'INVALID_PARAMS', 'payment.amount'],
    ['an unknown currency', channelCommand('capture', {}, { currency: 'ABC' }), 'INVALID_PARAMS', 'payment.currency'],
    ['a huge string', channelCommand('capture', {}, { gateway_key: 'k'.repeat(100000) }), 'INVALID_PARAMS', 'payment.gateway_key'],
    [
      'a wrong line type',
      channelCommand('refund', {}, { lines: [{ refund_amount: 'ten' as unknown as number }] }),
      'INVALID_PARAMS',
      'payment.lines[0].refund_amount',
    ],
    ['a tokenize without card details', channelCommand('tokenize'), 'INVALID_PARAMS', 'payment.method_details'],
    [
      'a CVV field',
      channelCommand('authorize', {}, { method_details: { card: { cvv: '123' } as never } }),
      'CARD_DATA_REJECTED',
      'payment.method_details.card.cvv',
    ],
    ['a card number in a structured field', channelCommand('sale', {}, { order_id: '5555-5555-5555-4444' }), 'CARD_DATA_REJECTED', 'payment.order_id'],
    [
      'a security code in free text',
      channelCommand('sale', {}, { custom_attributes: { card_cvv: '123' } }),
      'CARD_DATA_REJECTED',
      'payment.custom_attributes.card_cvv',
    ],
  ];

  it.each(cases)('dead-letters %s with code and field in the headers, then acks', async (_label, body, code, field) => {
    const before = worker.consumer.stats.deadLettered;
    await client.publish('web.payment.capture', body);
    await eventually(() => worker.consumer.stats.deadLettered > before);
    const dead = await client.drainDeadLetters();
    expect(dead).toHaveLength(1);
    const headers = dead[0].properties.headers ?? {};
    expect(headers['x-pb-code']).toBe(code);
    expect(headers['x-pb-field']).toBe(field);
    expect(String(headers['x-pb-reason']).length).toBeGreaterThan(3);
    expect(dead[0].content.toString()).not.toMatch(/4111111111111111|5555-5555-5555-4444/);
    expect(await client.queueDepth(config.amqp.commandsQueue)).toBe(0);
  });

  it('keeps consuming valid commands behind a bad one', async () => {
    const good = channelCommand('capture');
    const before = worker.consumer.stats.deadLettered;
    await client.publish('web.payment.capture', Buffer.from('{broken'));
    await client.publish('web.payment.capture', good);
    await eventually(async () => (await worker.deliveryQueue.getJob(good.payment.operation_reference!)) !== undefined);
    // The bad one's dead letter may land after the good one's job: wait for it, so it is not the next test's.
    await eventually(() => worker.consumer.stats.deadLettered > before);
    expect((await deadLettersUntil(client, (seen) => seen.some((m) => m.properties.headers?.['x-pb-code'] === 'PARSE_ERROR'))).length).toBe(1);
  });

  it("refuses a gift card redemption carrying the card's PIN under a compound name: nothing recorded, the PIN in no log, dead letter or Redis value", async () => {
    const pin = '86420975';
    const command = channelCommand(
      'authorize',
      {},
      { amount: 3000, currency: 'EUR', method_details: { method: 'giftcard', submethod: 'givex' }, custom_attributes: { giftCardSecurityCode: pin } },
    );
    await client.drainDeadLetters();
    const before = worker.consumer.stats.deadLettered;
    await client.publish('web.payment.authorize', command);
    await eventually(() => worker.consumer.stats.deadLettered > before);
    const dead = await deadLettersUntil(client, (seen) => seen.some(ofOrder(command.payment.order_id)));
    const mine = dead.filter(ofOrder(command.payment.order_id));
    expect(mine).toHaveLength(1);
    expect(mine[0].properties.headers?.['x-pb-code']).toBe('CARD_DATA_REJECTED');
    expect(mine[0].properties.headers?.['x-pb-field']).toBe('payment.custom_attributes.giftCardSecurityCode');
    const redis = testRedis(config);
    try {
      const keys = await keysMatching(redis, `${config.redis.keyPrefix}*`);
      expect(keys.filter((k) => k.includes(command.payment.operation_reference!))).toEqual([]);
      const values: string[] = [];
      for (const k of keys) {
        const type = await redis.type(k);
        if (type === 'hash') values.push(JSON.stringify(await redis.hgetall(k)));
        else if (type === 'list') values.push(...(await redis.lrange(k, 0, -1)));
        else if (type === 'string') values.push(String(await redis.get(k)));
      }
      const everything = [...logs.lines, ...dead.map((m) => m.content.toString() + JSON.stringify(m.properties.headers)), ...values].join('\n');
      expect(everything).not.toContain(pin);
    } finally {
      redis.disconnect();
    }
  });

  it('never writes a card number anywhere: logs, dead letters, Redis', async () => {
    const pan = '4000056655665556';
    const variants = [
      channelCommand('sale', {}, { order_id: pan }),
      channelCommand('sale', {}, { gateway_key: `tok ${pan.replace(/(\d{4})/g, '$1 ').trim()}` }),
      channelCommand('sale', {}, { lines: [{ item_sku: `card:${pan}` }] }),
      channelCommand('sale', {}, { method_details: { card: { number: pan } as never } }),
      { ...channelCommand('sale'), extra: pan },
    ];
    const before = worker.consumer.stats.deadLettered;
    for (const v of variants) await client.publish('web.payment.sale', v);
    await eventually(() => worker.consumer.stats.deadLettered >= before + variants.length);
    const dead = await deadLettersUntil(client, (seen) => seen.length >= variants.length);
    const redis = testRedis(config);
    try {
      const keys = await keysMatching(redis, `${config.redis.keyPrefix}*`);
      const values: string[] = [];
      for (const k of keys) {
        const type = await redis.type(k);
        if (type === 'hash') values.push(JSON.stringify(await redis.hgetall(k)));
        else if (type === 'list') values.push(...(await redis.lrange(k, 0, -1)));
        else if (type === 'string') values.push(String(await redis.get(k)));
        else if (type === 'zset') values.push(...(await redis.zrange(k, 0, -1)));
      }
      const everything = [...logs.lines, ...dead.map((m) => m.content.toString() + JSON.stringify(m.properties.headers)), ...keys, ...values].join('\n');
      expect(everything).not.toContain(pan);
      expect(everything.replace(/[ -]/g, '')).not.toContain(pan);
    } finally {
      redis.disconnect();
    }
  });
});
