import { randomBytes } from 'node:crypto';
import { Config } from '../../src/config/config';
import { CommandType, PaymentCommand } from '../../src/contracts/payment-command';
import { NotificationSender } from '../../src/events/event-send';
import { createGatewayClients } from '../../src/gateways/gateway-registry';
import { Logger, silentLogger } from '../../src/logging/logger';
import { WebProcess, startWebProcess } from '../../src/processes/web-process';
import { WorkerProcess, startWorkerProcess } from '../../src/processes/worker-process';
import { freePort, purgeNamespace } from '../../harness/twins/local-stack/local-stack';
import { PspSimulator, PspSimulatorOptions, startPspSimulator } from '../../harness/twins/psp-simulator/psp-simulator';
import { amqpClient } from './amqp-helpers';
import { testConfig } from './test-config';

/** The running split tender stack of a file (see {@link useSplitTenderStack}); its fields are set once `beforeAll` has run. */
export interface SplitTenderStack {
  /** The PSP simulator, configured as gateway `sim`. */
  sim: PspSimulator;
  /** The bearer token of the simulator's `/v1` API. */
  apiKey: string;
  config: Config;
  /** The web process taking the simulator's signed webhooks; absent with `webhooks: false`. */
  web?: WebProcess;
  worker: WorkerProcess;
  /** An AMQP client on the file's namespace, to publish the channels' commands. */
  client: Awaited<ReturnType<typeof amqpClient>>;
}

/** Options of {@link useSplitTenderStack}. */
export interface SplitTenderStackOptions {
  /** The simulator's API key (the gateway's `api_key`). */
  apiKey: string;
  /** The simulator's webhook signing secret (the gateway's `webhook_secret`). */
  webhookSecret: string;
  /** The worker's logger. */
  logger: Logger;
  /**
   * Whether the simulator sends its signed webhooks (first retry after 50 ms) to a web process started for them on a
   * free port (`http.port`). Default true; false: no web process, and the simulator sends no webhooks.
   */
  webhooks?: boolean;
  /** More of the simulator's options (e.g. `asyncDelayMs`, `seed`). Default none. */
  simulator?: Omit<PspSimulatorOptions, 'apiKey' | 'webhookSecret' | 'webhookUrl'>;
  /** The gateway's `timeout_ms`. Default: the configuration's default. */
  gatewayTimeoutMs?: number;
  /**
   * Further settings by their config keys (e.g. `delivery.backoff_base_ms`), beside `split_tender.sweep_interval_ms`
   * 100; a function is called in `beforeAll` (for a value known only then, e.g. a bus twin's URL).
   */
  config?: Record<string, unknown> | (() => Record<string, unknown>);
  /** Where the worker sends the OMS events; a function is given the configuration. Default: accepted and dropped. */
  notifier?: NotificationSender | ((config: Config) => NotificationSender);
}

/**
 * The set-up the split tender integration tests share: before the file's tests, the PSP simulator (gateway `sim`),
 * the web process for its webhooks (unless `webhooks: false`), the worker (commands, split sweep every
 * 100 ms, delivery; no monitoring port) and an AMQP client, on a namespace of the file's own (`testConfig`); after
 * them, all of it stopped and the namespace deleted and purged. Call it once at a file's top level.
 */
export function useSplitTenderStack(options: SplitTenderStackOptions): SplitTenderStack {
  const stack = { apiKey: options.apiKey } as SplitTenderStack;
  beforeAll(async () => {
    const webhooks = options.webhooks ?? true;
    const webPort = webhooks ? await freePort() : undefined;
    stack.sim = await startPspSimulator({
      ...options.simulator,
      apiKey: options.apiKey,
      webhookSecret: options.webhookSecret,
      ...(webPort !== undefined ? { webhookUrl: `http://127.0.0.1:${webPort}/webhooks/sim`, webhookRetryBaseMs: 50 } : {}),
    });
    const extra = typeof options.config === 'function' ? options.config() : options.config;
    stack.config = testConfig({
      ...(webPort !== undefined ? { 'http.port': webPort } : {}),
      'split_tender.sweep_interval_ms': 100,
      ...extra,
      gateways: {
        sim: {
          type: 'simulator',
          base_url: stack.sim.url,
          api_key: options.apiKey,
          webhook_secret: options.webhookSecret,
          ...(options.gatewayTimeoutMs !== undefined ? { timeout_ms: options.gatewayTimeoutMs } : {}),
        },
      },
    });
    const routes = createGatewayClients(stack.config);
    if (webhooks) stack.web = await startWebProcess(stack.config, silentLogger(), { webhooks: routes });
    const notifier = typeof options.notifier === 'function' ? options.notifier(stack.config) : (options.notifier ?? { notify: async () => undefined });
    stack.worker = await startWorkerProcess(stack.config, options.logger, { routes, monitoringPort: 0, notifier });
    stack.client = await amqpClient(stack.config);
  });
  afterAll(async () => {
    await stack.client?.deleteNamespace().catch(() => undefined);
    await stack.client?.close();
    await stack.worker?.stop().catch(() => undefined);
    await stack.web?.stop().catch(() => undefined);
    await stack.sim?.stop();
    if (stack.config) await purgeNamespace(stack.config).catch(() => undefined);
  });
  return stack;
}

/** What {@link splitTenderCommand} builds: a split of a gift card and a card, all at gateway `sim`, account `acme`, in EUR. */
export interface SplitTenderCommandFields {
  /** The split's id: order `ORD-<id>`; its `operation_reference` unless `reference` is given. */
  id: string;
  /** The card part's `gateway_key` (also the command's own). */
  card: string;
  /** The gift card part's `gateway_key`. */
  giftCard: string;
  /** The gift card part's amount, in minor units. Default 3000. */
  giftAmount?: number;
  /** The order's total, in minor units. Default 10000. */
  amount?: number;
  /** The split's `operation_reference`. Default `id`. */
  reference?: string;
}

/** A channel's `command` (`authorize` or `sale`) of an order paid by a gift card and a card (`payment.tenders`), received now. */
export function splitTenderCommand(command: CommandType, fields: SplitTenderCommandFields): PaymentCommand {
  return {
    version: 1,
    command,
    channel: 'web',
    received_at: new Date().toISOString(),
    payment: {
      gateway: 'sim',
      gateway_account: 'acme',
      gateway_key: fields.card,
      amount: fields.amount ?? 10000,
      currency: 'EUR',
      order_id: `ORD-${fields.id}`,
      operation_reference: fields.reference ?? fields.id,
      tenders: [
        { type: 'gift_card', gateway: 'sim', gateway_account: 'acme', gateway_key: fields.giftCard, amount: fields.giftAmount ?? 3000 },
        { type: 'card', gateway: 'sim', gateway_account: 'acme', gateway_key: fields.card },
      ],
    },
  };
}

/** The stack's simulator's stored result of our operation `reference`: null when it never reached the PSP. */
export async function operationAtPsp(stack: Pick<SplitTenderStack, 'sim' | 'apiKey'>, reference: string): Promise<Record<string, unknown> | null> {
  const res = await fetch(`${stack.sim.url}/v1/operations/${encodeURIComponent(reference)}`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
  return res.status === 404 ? null : ((await res.json()) as Record<string, unknown>);
}

/** Captures `amount` (minor units) of PSP authorization `authId` at the stack's simulator as its dashboard would: under none of our references. */
export async function captureAtPsp(stack: Pick<SplitTenderStack, 'sim' | 'apiKey'>, authId: string, amount: number): Promise<void> {
  const reference = `dashboard-${randomBytes(4).toString('hex')}`;
  const res = await fetch(`${stack.sim.url}/v1/authorizations/${encodeURIComponent(authId)}/captures`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json', 'idempotency-key': reference },
    body: JSON.stringify({ amount, reference }),
  });
  expect(res.status).toBe(201);
}
