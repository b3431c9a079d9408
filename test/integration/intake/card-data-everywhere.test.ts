/**
 * A card number and a CVV in every field of a command, and PSP credentials echoed back by a PSP, must come out
 * nowhere: the whole flow runs on real servers in this process (web and worker roles, RabbitMQ, Redis, the PSP
 * simulator, a hostile PSP that echoes every request header and body), logging at debug level. Planted: a
 * Luhn-valid card number not among the public test numbers, plain, grouped by spaces or dashes, glued to letters
 * and split in two, in every field of a bus call (the JSON-RPC envelope, unknown and nested fields, a key name, a
 * JSON number), in HTTP headers, query strings and paths, in AMQP message properties, headers and routing keys,
 * in free text that is accepted masked and runs to the PSP and the OMS, in webhooks; a CVV under every name a
 * vendor gives it. Then every output is read: log lines, intake and webhook answers (headers too), OMS events,
 * dead letters and triage copies (bodies, headers, properties), every Redis key and value under the test's
 * prefix (ledger, queues, audit stream), metric labels, and `payment-bridge ops` output as text and JSON.
 */
import { AddressInfo } from 'node:net';
import { Server, createServer } from 'node:http';
import { PassThrough } from 'node:stream';
import { GetMessage } from 'amqplib';
import { signBody } from '../../../src/bus/x-signature';
import { Config } from '../../../src/config/config';
import { createGatewayClients, gatewaySecretValues } from '../../../src/gateways/gateway-registry';
import { registerSecret } from '../../../src/logging/redact';
import { metricsRegistry } from '../../../src/metrics/metrics-registry';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { WorkerProcess, startWorkerProcess } from '../../../src/processes/worker-process';
import { triageQueueOf } from '../../../src/amqp/topology';
import { simulatorWebhookSignature } from '../../../src/gateways/simulator/simulator-webhook';
import { opsDeadLetterList, opsList, opsShow } from '../../../src/cli/ops-commands';
import { OpsContext, openOps } from '../../../src/ops/ops-context';
import { OpsOutput } from '../../../src/cli/ops-output';
import { freePort, purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { scanRedis } from '../../../harness/workload/card-data-scan';
import { Payment } from '../../../src/contracts/payment-command';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { busCall, channelCommand, payment } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';
import { luhnComplete } from '../../support/luhn';

jest.setTimeout(120_000);

/** Real-looking card numbers (no public test number, which a scan might special-case): Visa, Mastercard, Amex. */
const PANS = [luhnComplete('453201938475612'), luhnComplete('510529738461205'), luhnComplete('34987612345678')];
const grouped = (pan: string, sep: string) => pan.replace(/(\d{4})(?=\d)/g, `$1${sep}`);
/** The forms planted: plain, grouped by spaces and dashes, glued to letters, split in two inside a sentence. */
const forms = (pan: string) => [pan, grouped(pan, ' '), grouped(pan, '-'), `ORD${pan}X`, `note:${pan.slice(0, 8)} ${pan.slice(8)}!`];
/**
 * With a leading zero: no count, amount, port or millisecond figure is written with one, so none is taken for it (the
 * CVV 8642 once was: a dead letter's random UUID held `-8642-`, in a log line and the dead letter's headers).
 */
const CVV = '0735';
/** Hex identifiers (a UUID such as a dead letter's id, a digest, a signature, a key fingerprint): any four digits occur in them. */
const HEX_IDS = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{12,}/gi;
/** A CVV found standing alone: not inside a longer number, a decimal or a time, nor inside a hex identifier. */
const CVV_ALONE = new RegExp(`(?<![0-9.])${CVV}(?![0-9])`);
const holdsCvv = (text: string) => CVV_ALONE.test(text.replace(HEX_IDS, '#'));
const CVV_NAMES = ['cvv', 'cvc', 'security_code', 'CVV2', 'cardCvc', 'card_verification_value', 'verification_value', 'cardCode', 'ccv', 'cvNumber'];
const ECHO_KEY = 'echo-psp-api-key-ZXCVBNM0987654321';
const NEEDLES = [ECHO_KEY, ...PANS.flatMap((p) => [p, grouped(p, ' '), grouped(p, '-'), `${p.slice(0, 8)} ${p.slice(8)}`])];

const CAPTURE = 'magento.payments.payments_management.capture';
/** Every field of a bus call: the payment's, unknown and nested ones, the envelope's. */
const BUS_PATHS = [
  'params.payment.order_id',
  'params.payment.operation_reference',
  'params.payment.gateway_key',
  'params.payment.gateway_account',
  'params.payment.gateway',
  'params.payment.currency',
  'params.payment.new_gateway_key',
  'params.payment.lines.0.item_name',
  'params.payment.lines.0.item_sku',
  'params.payment.method_details.card.holder_name',
  'params.payment.method_details.card.bin',
  'params.payment.custom_attributes.note',
  'params.payment.custom_attributes.deep.deeper.x',
  'params.payment.extra_field',
  'params.payment.metadata.order_ref',
  'params.meta.note',
  'extra',
  'id',
  'method',
];

type Obj = Record<string, unknown>;
function setPath(o: Obj, path: string, v: unknown): void {
  const parts = path.split('.');
  let at: Obj = o;
  parts.slice(0, -1).forEach((p, i) => {
    if (at[p] === undefined || typeof at[p] !== 'object') at[p] = /^\d+$/.test(parts[i + 1]) ? [{}] : {};
    at = at[p] as Obj;
  });
  at[parts[parts.length - 1]] = v;
}

let sim: PspSimulator;
/** A PSP that answers every request with its headers and body (errors, then a dropped connection). */
let echo: Server;
const echoStatuses: number[] = [];
let config: Config;
let web: WebProcess;
let worker: WorkerProcess;
let client: Awaited<ReturnType<typeof amqpClient>>;
const logs = captureLogger('debug');
const events: string[] = [];
const answers: string[] = [];
const letters: GetMessage[] = [];

beforeAll(async () => {
  const webPort = await freePort();
  const SIM_KEY = 'sim-everywhere-key-0123456789';
  const SIM_SECRET = 'whsec-sim-everywhere-0123456789';
  sim = await startPspSimulator({ apiKey: SIM_KEY, webhookUrl: `http://127.0.0.1:${webPort}/webhooks/simulator`, webhookSecret: SIM_SECRET });
  echo = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const status = echoStatuses.shift() ?? 402;
      if (status === 0) return void req.socket.destroy();
      const auth = String(req.headers.authorization ?? '');
      res.writeHead(status, { 'content-type': 'application/json', 'x-echo-auth': auth });
      res.end(
        JSON.stringify({
          error: { code: `bad ${auth}`, message: `headers ${JSON.stringify(req.headers)} body ${body}`, type: 'card_error' },
          headers: req.headers,
          body,
        }),
      );
    });
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  config = testConfig({
    'http.port': webPort,
    gateways: {
      simulator: { type: 'simulator', base_url: sim.url, api_key: SIM_KEY, webhook_secret: SIM_SECRET, timeout_ms: 3000 },
      echo: {
        type: 'simulator',
        base_url: `http://127.0.0.1:${(echo.address() as AddressInfo).port}`,
        api_key: ECHO_KEY,
        webhook_secret: SIM_SECRET,
        timeout_ms: 3000,
      },
    },
  });
  // As every process does when it loads its configuration (configOrExit).
  for (const gw of Object.values(config.gateways)) for (const secret of gatewaySecretValues(gw)) registerSecret(secret);
  const routes = createGatewayClients(config, { logger: logs.logger });
  web = await startWebProcess(config, logs.logger, { webhooks: routes });
  worker = await startWorkerProcess(config, logs.logger, {
    routes,
    monitoringPort: 0,
    notifier: { notify: async (method, params) => void events.push(JSON.stringify({ method, params })) },
  });
  client = await amqpClient(config);
});

afterAll(async () => {
  await client?.close();
  await worker?.stop().catch(() => undefined);
  await web?.stop().catch(() => undefined);
  await sim?.stop();
  echo?.close();
  await purgeNamespace(config).catch(() => undefined);
});

async function postBus(body: string, headers: Record<string, string> = {}, query = ''): Promise<void> {
  const res = await fetch(`${web.intakeUrl}${query}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', 'x-signature': signBody(body, config.serviceBus.secret), ...headers },
  });
  answers.push(`${res.status} ${JSON.stringify([...res.headers])} ${await res.text()}`);
}

/** What one `ops` command printed (stdout and stderr). */
async function printed<A>(fn: (ctx: OpsContext, io: OpsOutput, args: A) => Promise<number>, ctx: OpsContext, args: A): Promise<string> {
  const chunks: Buffer[] = [];
  const out = new PassThrough();
  const err = new PassThrough();
  out.on('data', (c: Buffer) => chunks.push(c));
  err.on('data', (c: Buffer) => chunks.push(c));
  await fn(ctx, { out, err, actor: 'tester@ci' }, args);
  return Buffer.concat(chunks).toString('utf8');
}

test('the CVV is found where a copy of it would stand, not in an id or a figure that happens to hold its digits', () => {
  for (const copy of [`{"cvv":"${CVV}"}`, `cvc=${CVV}&x=1`, `security code ${CVV}.`, `{\\"cardCode\\":\\"${CVV}\\"}`, `cvv: ${CVV}`]) {
    expect([copy, holdsCvv(copy)]).toEqual([copy, true]);
  }
  const notCopies = [
    // A dead letter's id (a random UUID), in a log line and in the dead letter's and its triage copy's headers.
    `{"dead_letter_id":"0c1f3ab7-e29d-4c5b-${CVV}-5d0e7f9a1b3c"}`,
    `{"x-pb-dead-letter-id":"0c1f3ab7-${CVV}-4c5b-9a1e-5d0e7f9a1b3c"}`,
    // A digest, a signature, a key fingerprint.
    `x-pb-signature: sha256=9f1c0ab3e7d2c4f6a8b0${CVV}de1f3a5b7c9e0f2a4b6c8d0e1f3a5b7c9`,
    `bus-ab${CVV}cdef12`,
    // A millisecond figure, a count or a decimal with the CVV's digits.
    `{"latency_ms":${Number(CVV)},"attempts":${Number(CVV)}}`,
    `pb_http_request_duration_seconds_sum 3.${CVV}`,
  ];
  for (const text of notCopies) expect([text, holdsCvv(text)]).toEqual([text, false]);
});

test('a card number or CVV in any field, and a PSP credential echoed by a PSP, come out nowhere', async () => {
  // Bus calls: each form of each number in each field, as a key, as a JSON number, in headers and the query.
  for (const pan of PANS) {
    for (const form of forms(pan)) {
      for (const path of BUS_PATHS) {
        const call = busCall(CAPTURE, payment()) as Obj;
        setPath(call, path, form);
        await postBus(JSON.stringify(call));
      }
      const keyed = busCall(CAPTURE, payment()) as Obj;
      setPath(keyed, `params.payment.custom_attributes.${form.replace(/\./g, '')}`, 'x');
      await postBus(JSON.stringify(keyed));
      await postBus(JSON.stringify({ ...busCall(CAPTURE, payment()), [form]: 1 }));
      await postBus(
        JSON.stringify(busCall(CAPTURE, payment())),
        { 'x-customer': form, 'user-agent': `agent ${form}`, 'x-request-id': form },
        `?card=${encodeURIComponent(form)}`,
      );
      await postBus(JSON.stringify(busCall(CAPTURE, payment())).replace('"amount":1999', `"amount":${pan}`));
    }
  }
  for (const name of CVV_NAMES) {
    for (const path of [`params.payment.method_details.card.${name}`, `params.payment.custom_attributes.${name}`, `params.${name}`]) {
      const call = busCall(CAPTURE, payment()) as Obj;
      setPath(call, path, CVV);
      await postBus(JSON.stringify(call));
    }
  }
  await postBus(`{"jsonrpc":"2.0","id":"${PANS[0]}","method":"x",`);
  const unsigned = await fetch(web.intakeUrl, {
    method: 'POST',
    body: JSON.stringify(busCall(CAPTURE, payment({ order_id: PANS[0] }))),
    headers: { 'content-type': 'application/json', 'x-signature': `sha1=${PANS[0]}` },
  });
  answers.push(await unsigned.text());

  // Paths, methods and cookies of the web process.
  for (const form of forms(PANS[0])) {
    const enc = encodeURIComponent(form);
    for (const path of [`/webhooks/${enc}`, `/${enc}`, `/intake/${enc}`, `/metrics/${enc}`, `/healthz?${enc}=1`, `/webhooks/simulator/${enc}`]) {
      for (const method of ['GET', 'POST', 'OPTIONS']) {
        const res = await fetch(`${web.server.url}${path}`, {
          method,
          body: method === 'POST' ? `{"a":"${form}"}` : undefined,
          headers: { 'content-type': 'application/json', referer: `http://x/${enc}`, cookie: `pb_session=${enc}` },
        });
        answers.push(`${res.status} ${JSON.stringify([...res.headers])} ${await res.text()}`);
      }
    }
  }

  // Channel commands: in a structured field (refused), in free text (accepted masked), in message properties,
  // headers and the routing key; a CVV in the card.
  const channel = await client.model.createConfirmChannel();
  const accepted: string[] = [];
  for (const form of forms(PANS[0])) {
    const free = channelCommand('authorize', {}, {
      custom_attributes: { note: `call me ${form}` },
      lines: [{ line_number: 1, item_name: `gift ${form}`, quantity: 1, unit_price_gross: 1999 }],
    } as Partial<Payment>);
    accepted.push(free.payment.operation_reference!);
    await client.publish('web.payment.authorize', free);
    await client.publish('web.payment.authorize', channelCommand('authorize', {}, { order_id: form }));
    await client.publish('web.payment.authorize', Buffer.from(JSON.stringify(channelCommand('authorize'))), { 'x-note': form, 'x-pb-reason': form });
    await client.publish(
      'web.payment.authorize',
      channelCommand('authorize', {}, { method_details: { method: 'card', card: { cvv: CVV } } } as Partial<Payment>),
    );
    channel.publish(config.amqp.commandsExchange, 'web.payment.capture', Buffer.from(JSON.stringify(channelCommand('capture'))), {
      messageId: form,
      correlationId: form,
      appId: form,
      type: form,
      replyTo: form,
      contentType: 'application/json',
    });
    channel.publish(config.amqp.commandsExchange, `web.payment.${encodeURIComponent(form)}`, Buffer.from(JSON.stringify(channelCommand('capture'))), {
      contentType: 'application/json',
    });
  }
  await channel.waitForConfirms();
  await channel.close();

  // Bus calls with a card number in free text: accepted masked, sent to the PSP, reported to the OMS.
  for (const form of forms(PANS[0])) {
    const p = payment({ custom_attributes: { note: `card ${form}` } } as Partial<Payment>);
    accepted.push(p.operation_reference!);
    await postBus(JSON.stringify(busCall(CAPTURE, p)));
  }

  // A PSP that echoes the Authorization header and every request byte in its errors, then drops a connection.
  echoStatuses.push(402, 500, 401, 0, 400, 402);
  for (const type of ['authorize', 'sale', 'capture', 'refund', 'cancel', 'authorize'] as const) {
    const c = channelCommand(type, {}, { gateway: 'echo', custom_attributes: { note: `x ${PANS[1]}` } });
    accepted.push(c.payment.operation_reference!);
    await client.publish(`web.payment.${type}`, c);
  }

  // Webhooks, signed and not, with the number everywhere and a CVV.
  for (const form of forms(PANS[0])) {
    const body = Buffer.from(
      JSON.stringify({
        id: `evt_${form}`,
        type: 'payment.succeeded',
        data: { object: { id: form, reference: form, metadata: { [form]: form }, card: { number: form, cvc: CVV } } },
      }),
    );
    for (const signed of [false, true]) {
      const t = Math.floor(Date.now() / 1000);
      const res = await fetch(`${web.server.url}/webhooks/simulator?x=${encodeURIComponent(form)}`, {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/json',
          'simulator-signature': `t=${t},v1=${signed ? simulatorWebhookSignature(body, t, config.gateways.simulator.webhookSecret) : form}`,
          'x-customer': form,
        },
      });
      answers.push(`${res.status} ${await res.text()}`);
    }
  }

  // Every accepted command reported to the OMS (masked); then what the queues hold.
  await eventually(() => accepted.every((id) => events.some((e) => e.includes(`"${id}"`))), 30_000);
  for (let got = await client.drainDeadLetters(); got.length > 0; got = await client.drainDeadLetters()) letters.push(...got);
  const triage = await client.model.createChannel();
  for (let m = await triage.get(triageQueueOf(config.amqp), { noAck: true }); m; m = await triage.get(triageQueueOf(config.amqp), { noAck: true }))
    letters.push(m);
  await triage.close();

  // What an operator sees of it.
  const ops = openOps(config, logs.logger, { service: 'ops', auditStream: new PassThrough() });
  const shown: string[] = [];
  try {
    for (const json of [false, true]) {
      shown.push(await printed(opsList, ops, { json }));
      shown.push(await printed(opsDeadLetterList, ops, { import: false, json }));
      for (const id of accepted) shown.push(await printed(opsShow, ops, { id, json }));
    }
  } finally {
    await ops.close();
  }

  const leaks: string[] = [];
  const check = (where: string, text: string) => {
    for (const needle of NEEDLES) if (text.includes(needle)) leaks.push(`${where}: …${needle.slice(-4)}`);
    if (holdsCvv(text)) leaks.push(`${where}: the CVV`);
  };
  for (const line of logs.lines) check('log', line);
  for (const answer of answers) check('answer', answer);
  for (const event of events) check('OMS event', event);
  for (const text of shown) check('ops output', text);
  for (const letter of letters) {
    check('dead letter body', letter.content.toString('utf8'));
    check('dead letter headers', JSON.stringify(letter.properties.headers ?? {}));
    check('dead letter properties', JSON.stringify({ ...letter.properties, headers: undefined, routingKey: letter.fields.routingKey }));
  }
  check('metrics', await metricsRegistry.metrics());
  // A CVV as a JSON string value, as stored and as stored inside JSON text (a record's payment).
  const redis = await scanRedis(worker.redis, config.redis.keyPrefix, [...NEEDLES, `"${CVV}"`, `\\"${CVV}\\"`]);
  for (const f of redis.findings) leaks.push(`${f.where}: ${f.needle}`);
  expect(leaks).toEqual([]);
  // Each output was really exercised: debug lines of gateway calls, masked events, refusals, the echoing PSP's answers.
  expect(logs.lines.some((l) => l.includes('"message":"gateway call"') && l.includes('"gateway":"echo"'))).toBe(true);
  expect(events.some((e) => e.includes('[PAN REDACTED]'))).toBe(true);
  expect(letters.length).toBeGreaterThan(300);
  expect(redis.keys).toBeGreaterThan(0);
  expect(shown.join('').length).toBeGreaterThan(0);
});
