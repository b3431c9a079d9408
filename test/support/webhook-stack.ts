import { createHmac } from 'node:crypto';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import Stripe from 'stripe';
import { hmacValidator as HmacValidator } from '@adyen/api-library';
import { BusClient } from '../../src/bus/bus-client';
import { OAuthTokenProvider } from '../../src/bus/oauth-token-provider';
import { Config } from '../../src/config/config';
import { CommandType, Payment } from '../../src/contracts/payment-command';
import { NotificationSender } from '../../src/events/event-send';
import { adyenWebhookAuthorization } from '../../src/gateways/adyen';
import { createGatewayClients } from '../../src/gateways/gateway-registry';
import { OperationRecord } from '../../src/ledger/ledger';
import { Logger, silentLogger } from '../../src/logging/logger';
import { WebProcess, startWebProcess } from '../../src/processes/web-process';
import { WorkerProcess, startWorkerProcess } from '../../src/processes/worker-process';
import { GatewayOutcomeJobData, createGatewayOutcomesQueue } from '../../src/webhooks/gateway-outcomes-queue';
import { BusTwin, startBusTwin } from '../../harness/twins/bus-twin/bus-twin';
import { purgeNamespace } from '../../harness/twins/local-stack/local-stack';
import { SIMULATOR_SIGNATURE_HEADER, signSimulatorPayload } from '../../harness/twins/psp-simulator/simulator-signature';
import { channelCommand } from './fixtures';
import { testConfig } from './test-config';

/** A web process taking the configured gateways' webhooks and a worker applying them, on the real Redis. */
export interface WebhookStack {
  readonly config: Config;
  readonly web: WebProcess;
  readonly worker: WorkerProcess;
  /** The queue the web process puts verified webhook outcomes on and the worker drains (on the worker's Redis), to read a job's end. */
  readonly outcomes: Queue<GatewayOutcomeJobData>;
}

/** A webhook stack whose worker sends its OMS events to a bus twin, through the real bus client. */
export interface BusWebhookStack extends WebhookStack {
  /** The OMS's side: its `notifications` are the events the worker sent, in order. */
  readonly twin: BusTwin;
}

/** Gateways by name, as `parameters: gateways:` holds them. */
type Gateways = Record<string, Record<string, unknown>>;

/** The gateways `useWebhookStack` was given, or for a function (a base URL known only once a stand-in listens), what it returns in `beforeAll`. */
const gatewaysOf = (gateways: Gateways | (() => Gateways)): Gateways => (typeof gateways === 'function' ? gateways() : gateways);

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Starts the web process (taking the webhooks of `stack.config`'s gateways) and the worker (applying them) into `stack`. */
async function startProcesses(stack: Mutable<WebhookStack>, webLogger: Logger, workerLogger: Logger, notifier: NotificationSender): Promise<void> {
  const routes = createGatewayClients(stack.config);
  stack.web = await startWebProcess(stack.config, webLogger, { webhooks: routes });
  stack.worker = await startWorkerProcess(stack.config, workerLogger, { routes, notifier });
  stack.outcomes = createGatewayOutcomesQueue(stack.worker.redis, stack.config.redis.keyPrefix);
}

/** Closes what `startProcesses` started (whatever of it did start): the outcomes queue first, while the worker's Redis is open. */
async function stopProcesses(stack: Partial<WebhookStack>): Promise<void> {
  await stack.outcomes?.close();
  await stack.web?.stop();
  await stack.worker?.stop();
}

/**
 * The set-up the webhook integration tests share: a web process and a worker for `gateways`, and the outcomes
 * queue between them, started before the file's tests, stopped and their namespace purged after them. Call it once at a file's top level: the config
 * comes from `testConfig`, so each file has a namespace of its own (Redis key prefix, AMQP exchange and queue
 * names) and never collides with another. The returned object's fields are set once `beforeAll` has run.
 * @param gateways the gateways' configuration by name; a function is called in `beforeAll` (for a base URL known only then).
 * @param options.webLogger / workerLogger the processes' loggers (the worker's: the web's unless given).
 * @param options.notify receives the OMS events (default: accepted and dropped).
 * @param options.config further settings, by their config keys (e.g. `delivery.backoff_base_ms`).
 */
export function useWebhookStack(
  gateways: Gateways | (() => Gateways),
  options: { webLogger: Logger; workerLogger?: Logger; notify?: NotificationSender['notify']; config?: Record<string, unknown> },
): WebhookStack {
  const stack = {} as Mutable<WebhookStack>;
  beforeAll(async () => {
    stack.config = testConfig({ ...options.config, gateways: gatewaysOf(gateways) });
    await startProcesses(stack, options.webLogger, options.workerLogger ?? options.webLogger, { notify: options.notify ?? (async () => undefined) });
  });
  afterAll(async () => {
    await stopProcesses(stack);
    if (stack.config) await purgeNamespace(stack.config).catch(() => undefined);
  });
  return stack;
}

/**
 * `useWebhookStack` with the OMS behind a bus twin, for tests that read what the OMS was told: before the file's
 * tests, starts a bus twin whose OAuth token endpoint accepts `options.clientId` and `clientSecret`, then the web
 * process and the worker (silent loggers) and the outcomes queue on a namespace of the file's own, the worker's
 * events going through the real bus client (OAuth token, delegate call) to the twin; after them, stops all of it
 * and the twin and purges the namespace. The returned object's fields are set once `beforeAll` has run.
 * @param gateways as `useWebhookStack`'s.
 * @param options.config further settings, by their config keys (the bus's URL and OAuth client are the twin's).
 */
export function useBusWebhookStack(
  gateways: Gateways | (() => Gateways),
  options: { clientId: string; clientSecret: string; config?: Record<string, unknown> },
): BusWebhookStack {
  const stack = {} as Mutable<BusWebhookStack>;
  beforeAll(async () => {
    stack.twin = await startBusTwin({ clientId: options.clientId, clientSecret: options.clientSecret });
    stack.config = testConfig({
      'service_bus.url': stack.twin.url,
      'mom_client.oauth_server_url': stack.twin.url,
      'mom_client.client_id': options.clientId,
      'mom_client.client_secret': options.clientSecret,
      ...options.config,
      gateways: gatewaysOf(gateways),
    });
    await startProcesses(stack, silentLogger(), silentLogger(), new BusClient(stack.config, new OAuthTokenProvider(stack.config)));
  });
  afterAll(async () => {
    await stopProcesses(stack);
    await stack.twin?.stop();
    if (stack.config) await purgeNamespace(stack.config).catch(() => undefined);
  });
  return stack;
}

/**
 * An operation of `command` the PSP holds under `pspReference` and has not settled: created, sent once, and
 * PENDING (its next poll far away, so only the webhook under test moves it).
 * @returns its operation id.
 */
export async function pendingOperation(worker: WorkerProcess, command: CommandType, payment: Partial<Payment>, pspReference: string): Promise<string> {
  const cmd = channelCommand(command, {}, payment);
  const id = cmd.payment.operation_reference!;
  await worker.ledger.create(id, cmd);
  await worker.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
  await worker.ledger.transition(id, 'PENDING', { event: 'outcome' }, { gatewayReference: pspReference, nextCheckAt: Date.now() + 600_000, pollStep: 0 });
  return id;
}

const adyenSigner = new HmacValidator();
/** Stripe's SDK, for its test signature only (its API key is never used). */
const stripeSdk = new Stripe('sk_test_unit_only');

/** The fields of an Adyen notification item a test varies; the rest are Adyen's usual. */
export interface AdyenItemFields {
  eventCode: string;
  merchantReference: string;
  pspReference: string;
  merchantAccountCode: string;
  amount: { value: number; currency: string };
  originalReference?: string;
  success?: string;
  /** Adyen's `reason` (e.g. `Transaction Recaptured`); absent: none. */
  reason?: string;
  /** Adyen's `eventDate` (ISO 8601); absent: now. */
  eventDate?: string;
  /** More of Adyen's `additionalData` (e.g. `tokenization.storedPaymentMethodId`); `hmacSignature` is added. */
  additionalData?: Record<string, string>;
}

/** One notification item, signed with `hmacKey` as Adyen signs it (its own library's `calculateHmac`). */
export function signedAdyenItem(fields: AdyenItemFields, hmacKey: string): Record<string, unknown> {
  const item: Record<string, unknown> = {
    pspReference: fields.pspReference,
    ...(fields.originalReference !== undefined ? { originalReference: fields.originalReference } : {}),
    merchantAccountCode: fields.merchantAccountCode,
    merchantReference: fields.merchantReference,
    amount: fields.amount,
    eventCode: fields.eventCode,
    success: fields.success ?? 'true',
    ...(fields.reason !== undefined ? { reason: fields.reason } : {}),
    eventDate: fields.eventDate ?? new Date().toISOString(),
    additionalData: { ...fields.additionalData },
  };
  (item.additionalData as Record<string, string>).hmacSignature = adyenSigner.calculateHmac(item as never, hmacKey);
  return { NotificationRequestItem: item };
}

/** Posts a batch of items to the stack's `/webhooks/<gateway>` with the gateway's Basic auth, from Adyen's test environment unless `live` says otherwise. */
export async function postAdyenBatch(
  stack: WebhookStack,
  gateway: string,
  items: Record<string, unknown>[],
  live = 'false',
): Promise<{ status: number; body: string }> {
  const body = JSON.stringify({ live, notificationItems: items });
  const headers = { 'content-type': 'application/json', authorization: adyenWebhookAuthorization(stack.config.gateways[gateway]) };
  const res = await fetch(`${stack.web.server.url}/webhooks/${gateway}`, { method: 'POST', body, headers });
  return { status: res.status, body: await res.text() };
}

/**
 * Posts `body` to the stack's `/webhooks/<gateway>` with `v-c-signature` made with `keyBase64` as Cybersource makes
 * it, naming `keyId` (default `key-1`, the id `cybersourceWebhookGateway` gives its key).
 */
export async function postCybersourceSigned(
  stack: Pick<WebhookStack, 'web'>,
  gateway: string,
  body: string,
  keyBase64: string,
  keyId = 'key-1',
): Promise<number> {
  const t = String(Date.now());
  const sig = createHmac('sha256', Buffer.from(keyBase64, 'base64')).update(`${t}.${body}`, 'utf8').digest('base64');
  const headers = { 'content-type': 'application/json', 'v-c-signature': `t=${t};keyId=${keyId};sig=${sig}` };
  return (await fetch(`${stack.web.server.url}/webhooks/${gateway}`, { method: 'POST', body, headers })).status;
}

/**
 * Posts `body` to the stack's `/webhooks/<gateway>` with the `Stripe-Signature` header Stripe's own SDK makes
 * for it with `secret` (`webhooks.generateTestHeaderString`, timestamp now).
 */
export function postStripeSigned(stack: Pick<WebhookStack, 'web'>, gateway: string, body: string, secret: string): Promise<Response> {
  const header = stripeSdk.webhooks.generateTestHeaderString({ payload: body, secret });
  return fetch(`${stack.web.server.url}/webhooks/${gateway}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', 'stripe-signature': header },
  });
}

/** Posts `body` to the stack's `/webhooks/<gateway>` signed with `secret` as the PSP simulator signs its webhooks (timestamp now). */
export function postSimulatorSigned(stack: Pick<WebhookStack, 'web'>, gateway: string, body: string, secret: string): Promise<Response> {
  const signature = signSimulatorPayload(secret, body, Math.floor(Date.now() / 1000));
  return fetch(`${stack.web.server.url}/webhooks/${gateway}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', [SIMULATOR_SIGNATURE_HEADER.toLowerCase()]: signature },
  });
}

/**
 * A PSP simulator's authorization event body, as the simulator posts it: about the authorization `auth_<reference>`
 * of operation `reference`, `authorization.failed` for status `declined`, else `authorization.succeeded`.
 * @param options.status the authorization's status (default `authorized`); amount (minor units, default 1999) and currency (default `EUR`).
 */
export function simulatorAuthorizationEvent(reference: string, options: { eventId: string; status?: string; amount?: number; currency?: string }): string {
  const status = options.status ?? 'authorized';
  return JSON.stringify({
    id: options.eventId,
    type: status === 'declined' ? 'authorization.failed' : 'authorization.succeeded',
    created: Math.floor(Date.now() / 1000),
    data: {
      object: {
        id: `auth_${reference}`,
        object: 'authorization',
        status,
        amount: options.amount ?? 1999,
        amount_captured: 0,
        amount_refunded: 0,
        currency: options.currency ?? 'EUR',
        reference,
      },
    },
  });
}

/** A PSP answering the gateways' status inquiries with what a test sets, for webhooks the bridge checks with the PSP. */
export interface StatusInquiryPsp {
  /** Its base URL (`http://127.0.0.1:<port>`), for the gateways' `base_url`; set once its `beforeAll` has run. */
  readonly url: string;
  /** What it answers, by operation id (a Stripe refund list: by PaymentIntent id): the object, or an HTTP status alone; none: 404. */
  readonly answers: Map<string, Record<string, unknown> | number>;
  /** The keys it was asked about (operation ids, PaymentIntent ids), in order. */
  readonly inquiries: string[];
  /** Every request it received (`<method> <path>`), in order. */
  readonly requests: string[];
}

/**
 * Registers (at a file's top level, before the stack whose gateways point at its `url`) a local PSP answering
 * status inquiries from `answers`: Stripe's PaymentIntent search (by `metadata['operation_id']`) and refund list
 * (by `payment_intent`), the simulator's `GET /v1/operations/:reference`; any other request 404. It listens on a
 * free loopback port before the file's tests and is closed after them.
 */
export function useStatusInquiryPsp(): StatusInquiryPsp {
  const psp = { url: '', answers: new Map(), inquiries: [], requests: [] } as { -readonly [K in keyof StatusInquiryPsp]: StatusInquiryPsp[K] };
  const answerOf = (key: string | undefined, res: http.ServerResponse, wrap: (o: Record<string, unknown>) => unknown): void => {
    const answer = key === undefined ? undefined : psp.answers.get(key);
    if (key !== undefined) psp.inquiries.push(key);
    if (answer === undefined) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"type":"invalid_request_error"}}');
    if (typeof answer === 'number') return void res.writeHead(answer, { 'content-type': 'application/json' }).end('{"error":{"type":"api_error"}}');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(wrap(answer)));
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://psp');
    psp.requests.push(`${req.method} ${url.pathname}`);
    if (url.pathname === '/v1/payment_intents/search') {
      const id = /metadata\['operation_id'\]:'([^']+)'/.exec(url.searchParams.get('query') ?? '')?.[1];
      return answerOf(id, res, (pi) => ({ object: 'search_result', data: [pi], has_more: false }));
    }
    if (url.pathname === '/v1/refunds' && req.method === 'GET') {
      return answerOf(url.searchParams.get('payment_intent') ?? undefined, res, (refund) => ({ object: 'list', data: [refund], has_more: false }));
    }
    if (url.pathname.startsWith('/v1/operations/')) return answerOf(decodeURIComponent(url.pathname.slice('/v1/operations/'.length)), res, (o) => o);
    res.writeHead(404).end();
  });
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    psp.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    // This runs before the tear-down of the stack registered after it: the worker's idle connections would hold `close` open.
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return psp;
}

/**
 * A Cybersource webhook notification, as its body is posted: `eventType` about the payment `paymentId` of operation
 * `operationId` (its `clientReferenceInformation.code`), from organization `organizationId`; notification id
 * `n-<operationId>`, first delivery (`retryNumber` 0), dated now.
 * @param amountDetails the payment's `orderInformation.amountDetails` (e.g. `{ totalAmount: '25.00', currency: 'EUR' }`); absent: no `orderInformation`.
 */
export function cybersourceNotification(
  eventType: string,
  operationId: string,
  paymentId: string,
  organizationId: string,
  amountDetails?: Record<string, string>,
): string {
  const data = {
    id: paymentId,
    type: 'payments',
    clientReferenceInformation: { code: operationId },
    ...(amountDetails !== undefined ? { orderInformation: { amountDetails } } : {}),
  };
  return JSON.stringify({
    notificationId: `n-${operationId}`,
    retryNumber: 0,
    eventType,
    eventDate: new Date().toISOString(),
    payload: [{ data, organizationId }],
  });
}

/** Where a webhook test's gateway sends API calls when nothing there is meant to answer them. */
const NO_API = 'http://127.0.0.1:1';

/** An Adyen gateway's configuration for webhook tests: Basic auth user and password, `hmacKey`, its API at `baseUrl` (default: none reachable). */
export function adyenWebhookGateway(merchantAccount: string, hmacKey: string, baseUrl = NO_API): Record<string, unknown> {
  return {
    type: 'adyen',
    base_url: baseUrl,
    api_key: 'adyen-key-unused',
    merchant_account: merchantAccount,
    key_id: 'adyen-hook-user',
    shared_secret: 'adyen-hook-password-0123',
    webhook_secret: hmacKey,
  };
}

/** A Stripe gateway's configuration for webhook tests: endpoint secret `webhookSecret`, its API at `baseUrl` (default: none reachable). */
export function stripeWebhookGateway(webhookSecret: string, baseUrl = NO_API): Record<string, unknown> {
  return { type: 'stripe', base_url: baseUrl, api_key: 'sk_test_unused', webhook_secret: webhookSecret };
}

/** A PSP simulator gateway's configuration for webhook tests: signing secret `webhookSecret`, its API at `baseUrl` (default: none reachable). */
export function simulatorWebhookGateway(webhookSecret: string, baseUrl = NO_API): Record<string, unknown> {
  return { type: 'simulator', base_url: baseUrl, api_key: 'sim-key-unused-0123456789', webhook_secret: webhookSecret };
}

/** A Cybersource gateway's configuration for webhook tests: organization `merchantId`, webhook key `keyBase64` (id `key-1`), no reachable API. */
export function cybersourceWebhookGateway(merchantId: string, keyBase64: string): Record<string, unknown> {
  return {
    type: 'cybersource',
    base_url: NO_API,
    merchant_id: merchantId,
    key_id: '08c94330-f618-42a3-b09d-e1e43be5efda',
    shared_secret: 'yBJxy6LjM2TmcPGu+GaJrHtkke25fPpUX+UY6/L/1tE=',
    webhook_secret: keyBase64,
    webhook_key_id: 'key-1',
  };
}

/** What a bus twin received: JSON-RPC method and params, as `BusTwin.notifications` holds them. */
interface ReceivedCall {
  method: string;
  params: unknown;
}

/**
 * An operation of `command` that SUCCEEDED at `payment.gateway` with PSP reference `pspReference` (5000 EUR of
 * account `acct-1` unless `payment` says otherwise), recorded as its gateway's answer: created, sent, settled,
 * its event queued. The test waits for that event where it needs it.
 */
export async function succeededOperation(
  worker: WorkerProcess,
  command: CommandType,
  payment: Partial<Payment>,
  pspReference: string,
): Promise<OperationRecord> {
  const cmd = channelCommand(command, {}, { gateway_account: 'acct-1', amount: 5000, currency: 'EUR', ...payment });
  const { record } = await worker.ledger.create(cmd.payment.operation_reference!, cmd, Date.now(), { event: 'attempt' });
  const outcome = {
    status: 'SUCCESS' as const,
    gatewayStatus: 'ok',
    gatewayReference: pspReference,
    amount: cmd.payment.amount,
    currency: cmd.payment.currency,
  };
  return worker.recorder.apply(record!, outcome, 'response');
}

/** The `adjusted` notifications about `operationId` among what the bus received. */
export function adjustedNotifications(received: readonly ReceivedCall[], config: Config, operationId: string): ReceivedCall[] {
  return received.filter(
    (n) =>
      n.method === config.serviceBus.methods.notifications.adjusted &&
      (n.params as { payment?: { operation_reference?: string } }).payment?.operation_reference === operationId,
  );
}

/** Whether the bus received the event `eventId`. */
export function received(calls: readonly ReceivedCall[], eventId: string): boolean {
  return calls.some((n) => (n.params as { payment?: { event_id?: string } }).payment?.event_id === eventId);
}
