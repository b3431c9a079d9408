import http from 'node:http';
import { AddressInfo } from 'node:net';
import { Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { Logger } from '../../../src/logging/logger';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { requiredCredentials } from '../../support/gateway-credentials';
import { DeliveryStack, useDeliveryStacks } from '../../support/delivery-stack';

/** 22-digit Cybersource payment id (no Luhn-valid card-length window). */
const AUTH_ID = '6381278241084565908266';

/**
 * A decline "try elsewhere" at Cybersource, whose API takes no idempotency key (`resendIsNewRequest`): a resend is a
 * new request, so its decline is the answer to that request only, never to an attempt before it. Two gateway entries
 * on one Cybersource account and key (one vault: a stored card's token goes to both), at two endpoints of one local
 * stand-in: `cybs` (`/a`) answers each payment request with the next of `answers.a`, `cybs2` (`/b`) authorizes.
 */
const answers: { a: { status: number; body: Record<string, unknown> }[] } = { a: [] };
const payments = { a: 0, b: 0 };
let server: http.Server;
let baseUrl: string;

/** Cybersource's 400 `PROCESSOR_UNAVAILABLE`: a `server_error`, which the bridge cannot read as "did nothing". */
const PROCESSOR_UNAVAILABLE = { status: 400, body: { status: 'INVALID_REQUEST', reason: 'PROCESSOR_UNAVAILABLE', message: 'processor unavailable' } };
/** A 201 `DECLINED` by the processor, the reason configured as "try elsewhere". */
const DECLINED = {
  status: 201,
  body: { id: '7000000000000000000001', status: 'DECLINED', errorInformation: { reason: 'PROCESSOR_DECLINED', message: 'declined by the processor' } },
};

beforeAll(async () => {
  server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/hal+json' });
        res.end(JSON.stringify(body));
      };
      if (req.method === 'POST' && req.url === '/a/pts/v2/payments') {
        payments.a += 1;
        const next = answers.a.shift() ?? DECLINED;
        return json(next.status, next.body);
      }
      if (req.method === 'POST' && req.url === '/b/pts/v2/payments') {
        payments.b += 1;
        return json(201, { id: AUTH_ID, status: 'AUTHORIZED', orderInformation: { amountDetails: { authorizedAmount: '100.00', currency: 'USD' } } });
      }
      json(404, { reason: 'NOT_FOUND' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

afterEach(() => {
  answers.a = [];
});

const stacks = useDeliveryStacks();

function setup(logger?: Logger, { failover = true }: { failover?: boolean } = {}): DeliveryStack {
  const entry = (path: string) => ({
    type: 'cybersource',
    base_url: `${baseUrl}${path}`,
    ...requiredCredentials('cybersource'),
    merchant_account: '93B32398-AD51-4CC2-A682-EA3E93614EB1',
    timeout_ms: 2000,
  });
  const config = testConfig({
    ...(failover
      ? {
          'routing.rules': [{ name: 'cybs-then-cybs2', when: { commands: ['authorize', 'sale'] }, gateways: ['cybs', 'cybs2'] }],
          'routing.failover.enabled': true,
          'routing.failover.decline_codes': ['PROCESSOR_DECLINED'],
        }
      : {}),
    gateways: { cybs: entry('/a'), cybs2: entry('/b') },
  });
  return stacks.build(config, { logger });
}

async function authorize(ledger: Ledger): Promise<string> {
  const command = channelCommand('authorize', {}, { gateway: 'cybs', gateway_key: 'AB695DA801DD1BB6E05341588E0A3BDC', amount: 10000, currency: 'USD' });
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  return id;
}

const held = async (reason: string) => (await metricValue('pb_routing_failovers_held_total', { gateway: 'cybs', reason })) ?? 0;

describe('Cybersource: a decline "try elsewhere" of a resend after an attempt that may have landed', () => {
  it('is not failed over (the earlier attempt may be live at cybs) nor failed: UNRESOLVED, counted, logged at warn, cybs2 never called', async () => {
    const logs = captureLogger('info');
    const { service, ledger, events } = setup(logs.logger);
    const before = await held('decline_of_new_request');
    const sentToB = payments.b;
    answers.a = [PROCESSOR_UNAVAILABLE, DECLINED];
    const id = await authorize(ledger);

    // A server error: retried at cybs with no status inquiry in between (nothing proves that attempt absent).
    expect((await service.deliver(id)).kind).toBe('retry');
    expect((await ledger.interactions(id)).map((h) => h.event)).toEqual(['received', 'attempt', 'send_error']);
    // The retry, a new request at Cybersource, is declined "try elsewhere": an answer to that request only.
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'UNRESOLVED' });
    expect(payments.b).toBe(sentToB);
    expect(await ledger.get(id)).toMatchObject({ state: 'UNRESOLVED', attempts: 2, routing: { gateway: 'cybs', index: 0 } });
    const history = await ledger.interactions(id);
    expect(history.map((h) => h.event)).toEqual(['received', 'attempt', 'send_error', 'attempt', 'attempt_ended', 'unresolved']);
    expect(history[4]).toMatchObject({ trigger: 'declined', gateway: 'cybs', gateway_code: 'PROCESSOR_DECLINED', failover_held: 'decline_of_new_request' });
    expect(await events.load(`${id}.UNRESOLVED`)).not.toBeNull();
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    expect(await held('decline_of_new_request')).toBe(before + 1);
    const line = logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.message).startsWith('failover held back: declined'));
    expect(line).toMatchObject({ level: 'warn', operation_id: id, gateway: 'cybs', command: 'authorize', gateway_code: 'PROCESSOR_DECLINED' });
  });

  it('a decline "try elsewhere" of the first attempt still fails over at once: nothing before it can be live', async () => {
    const { service, ledger } = setup();
    const before = await held('decline_of_new_request');
    answers.a = [DECLINED];
    const id = await authorize(ledger);
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await ledger.get(id)).toMatchObject({
      attempts: 2,
      routing: { gateway: 'cybs2', failovers: [{ from: 'cybs', to: 'cybs2', trigger: 'declined:PROCESSOR_DECLINED' }] },
    });
    expect(await held('decline_of_new_request')).toBe(before);
  });
});

/** A 400 business refusal of a valid request (`CARD_TYPE_NOT_ACCEPTED`): a `declined` error, not a 201 `DECLINED`. */
const REFUSED = { status: 400, body: { status: 'INVALID_REQUEST', reason: 'CARD_TYPE_NOT_ACCEPTED', message: 'card type not accepted' } };

describe('Cybersource, no failover: a decline of a resend after an attempt that may have landed', () => {
  // Without failover (none configured, no candidate left, a code not "try elsewhere") the decline of the resend answers
  // that new request only, as above: the earlier attempt may hold an authorization (its funds may be why the resend was
  // declined). Told FAILED, the OMS would let go of a payment that may hold money.
  it.each([
    ['a 201 DECLINED', DECLINED, 'PROCESSOR_DECLINED'],
    ['a 400 business refusal (a declined error)', REFUSED, 'CARD_TYPE_NOT_ACCEPTED'],
  ])("%s is not told FAILED: UNRESOLVED, the decline on record as the attempt's end, logged at warn", async (_name, declined, code) => {
    const logs = captureLogger('info');
    const { service, ledger, events } = setup(logs.logger, { failover: false });
    answers.a = [PROCESSOR_UNAVAILABLE, declined];
    const id = await authorize(ledger);
    expect((await service.deliver(id)).kind).toBe('retry');
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'UNRESOLVED' });
    expect(await ledger.get(id)).toMatchObject({ state: 'UNRESOLVED', attempts: 2 });
    const history = await ledger.interactions(id);
    expect(history.map((h) => h.event)).toEqual(['received', 'attempt', 'send_error', 'attempt', 'attempt_ended', 'unresolved']);
    expect(history[4]).toMatchObject({ trigger: 'declined', gateway: 'cybs', gateway_code: code, decline_held: 'decline_of_new_request' });
    expect(history[4]).not.toHaveProperty('failover_held');
    expect(await events.load(`${id}.UNRESOLVED`)).not.toBeNull();
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    const line = logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.message).startsWith('decline held back'));
    expect(line).toMatchObject({
      level: 'warn',
      operation_id: id,
      gateway: 'cybs',
      command: 'authorize',
      gateway_code: code,
      reason: 'decline_of_new_request',
    });
  });

  it('a decline of the first attempt still fails it at once: nothing before it can be live', async () => {
    const { service, ledger, events } = setup(undefined, { failover: false });
    answers.a = [DECLINED];
    const id = await authorize(ledger);
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await events.load(`${id}.FAILED`)).not.toBeNull();
  });
});
