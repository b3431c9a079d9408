import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { RedisClient } from '../../../src/redis/redis-connection';
import { Config } from '../../../src/config/config';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { Ledger, OperationRecord } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { createRedis } from '../../../src/redis/redis-connection';
import { reconcile } from '../../../src/reconciliation-run/reconcile';
import { LineVerdict } from '../../../src/reconciliation/reconciliation-class';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

/**
 * Stripe lists PaymentIntents by their creation time only (`GET /v1/payment_intents`, `created[gte]`/`created[lt]`),
 * and a cancel moves no money, so no balance transaction names it: a PaymentIntent created in one window and
 * cancelled in the next is listed in neither window's records of the cancel. Before reporting such a cancel
 * `missing_at_psp`, the run reads the PaymentIntent by id (`GET /v1/payment_intents/{id}`,
 * https://docs.stripe.com/api/payment_intents/retrieve); a PaymentIntent Stripe does not have (404
 * `resource_missing`, https://docs.stripe.com/error-codes#resource-missing) still is missing.
 *
 * A real local HTTP server answers as Stripe does: lists newest first filtered by `created`, objects by id.
 */

const API_KEY = 'sk_test_cancel_lookup_0123456789';
const GATEWAY = 'stripe-cl';

interface Intent {
  id: string;
  object: 'payment_intent';
  amount: number;
  currency: string;
  capture_method: 'manual';
  status: string;
  created: number;
  canceled_at?: number;
  cancellation_reason?: string;
  latest_charge?: string;
  metadata: Record<string, string>;
}

let server: Server;
let config: Config;
let redis: RedisClient;
let ledger: Ledger;
const intents = new Map<string, Intent>();
const requests: string[] = [];
/** PaymentIntents whose read answers 500 (Stripe's `api_error`). */
const failing = new Set<string>();

function answer(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://localhost');
  requests.push(`${req.method} ${url.pathname}`);
  if (req.headers.authorization !== `Bearer ${API_KEY}` || req.headers['stripe-version'] !== '2023-08-16') {
    return answer(res, 401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } });
  }
  const gte = Number(url.searchParams.get('created[gte]'));
  const lt = Number(url.searchParams.get('created[lt]'));
  if (url.pathname === '/v1/balance_transactions') return answer(res, 200, { object: 'list', url: url.pathname, has_more: false, data: [] });
  if (url.pathname === '/v1/payment_intents') {
    const data = [...intents.values()].filter((pi) => pi.created >= gte && pi.created < lt).sort((a, b) => b.created - a.created);
    return answer(res, 200, { object: 'list', url: url.pathname, has_more: false, data });
  }
  const one = /^\/v1\/payment_intents\/([^/]+)$/.exec(url.pathname);
  if (one) {
    const id = decodeURIComponent(one[1]);
    if (failing.has(id)) return answer(res, 500, { error: { type: 'api_error', message: 'An unknown error occurred' } });
    const pi = intents.get(id);
    if (pi) return answer(res, 200, pi);
    return answer(res, 404, {
      error: { code: 'resource_missing', doc_url: 'https://stripe.com/docs/error-codes/resource-missing', param: 'intent', type: 'invalid_request_error' },
    });
  }
  answer(res, 404, { error: { type: 'invalid_request_error', message: 'Unrecognized request URL' } });
}

function stripeConfig(overrides: Record<string, unknown> = {}): Config {
  return testConfig({
    gateways: {
      [GATEWAY]: {
        type: 'stripe',
        base_url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        api_key: API_KEY,
        webhook_secret: 'whsec_cancel_lookup_0123456789',
        timeout_ms: 5000,
      },
    },
    ...overrides,
  });
}

beforeAll(async () => {
  server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  config = stripeConfig();
  redis = createRedis(config.redis, 'commands');
  ledger = new Ledger(redis, config.redis.keyPrefix);
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  redis.disconnect();
  await purgeNamespace(config).catch(() => undefined);
});

/** A manual-capture PaymentIntent Stripe cancelled at the caller's request, created `createdS` (epoch seconds). */
function cancelledIntent(id: string, createdS: number, currency = 'eur'): Intent {
  return {
    id,
    object: 'payment_intent',
    amount: 1000,
    currency,
    capture_method: 'manual',
    status: 'canceled',
    created: createdS,
    canceled_at: Math.floor(Date.now() / 1000),
    cancellation_reason: 'requested_by_customer',
    latest_charge: `ch_${id.slice(3)}`,
    metadata: {},
  };
}

/** An operation of the Stripe gateway the ledger holds SUCCEEDED, with the PaymentIntent as its reference. */
async function succeeded(command: PaymentCommand, gatewayReference: string): Promise<OperationRecord> {
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
  await ledger.transition(id, 'SUCCEEDED', { event: 'response' }, { gatewayReference });
  return (await ledger.get(id))!;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const lookups = (result: string) => metricValue('pb_reconciliation_confirmed_by_lookup_total', { gateway: GATEWAY, result });

describe('a Stripe PaymentIntent created in one window and cancelled in the next', () => {
  it("reconciling the cancel's window reads the PaymentIntent by id: the cancel is matched; a cancel of a PaymentIntent Stripe does not have is still missing_at_psp", async () => {
    const money = { gateway: GATEWAY, amount: 1000, currency: 'EUR' };
    const suffix = Date.now().toString(36);
    const piA = `pi_3CancelLater${suffix}`;
    const piB = `pi_3StillHeld${suffix}`;
    const piGone = `pi_3NeverAtStripe${suffix}`;

    // Window 1: two authorizations, their PaymentIntents created at Stripe then.
    const w1from = Date.now() - 1;
    const authA = await succeeded(channelCommand('authorize', {}, { ...money, gateway_key: 'pm_card_visa' }), piA);
    const authB = await succeeded(channelCommand('authorize', {}, { ...money, gateway_key: 'pm_card_visa' }), piB);
    // Stripe's `created` is whole seconds, listed from the window's first whole second (`created[gte]`).
    const created = Math.ceil(w1from / 1000);
    for (const [id, op] of [
      [piA, authA],
      [piB, authB],
    ] as const) {
      intents.set(id, {
        id,
        object: 'payment_intent',
        amount: 1000,
        currency: 'eur',
        capture_method: 'manual',
        status: 'requires_capture',
        created,
        latest_charge: `ch_${id.slice(3)}`,
        metadata: { operation_id: op.id },
      });
    }
    while (Date.now() <= created * 1000) await sleep(20);
    const w1to = Date.now();
    const window1 = { from: w1from, to: w1to };
    const first = await reconcile(config, { gateway: GATEWAY, window: window1, logger: captureLogger('error').logger, redis });
    // Listed in their own window: nothing read by id.
    expect(first.summary).toMatchObject({ result: 'done', lines: 2, lookups: 0 });
    expect(first.summary.classes).toMatchObject({ matched: 2, missing_at_psp: 0 });

    // Window 2: piA cancelled at Stripe (by our cancel); a cancel the ledger holds SUCCEEDED for piB, which Stripe
    // still holds uncancelled; one for a PaymentIntent Stripe never had.
    await sleep(5);
    const w2from = Date.now();
    const cancelA = await succeeded(channelCommand('cancel', {}, { ...money, gateway_key: piA, order_id: authA.payment.order_id }), piA);
    intents.set(piA, { ...intents.get(piA)!, status: 'canceled', canceled_at: Math.floor(Date.now() / 1000), cancellation_reason: 'requested_by_customer' });
    const cancelB = await succeeded(channelCommand('cancel', {}, { ...money, gateway_key: piB, order_id: authB.payment.order_id }), piB);
    const cancelGone = await succeeded(channelCommand('cancel', {}, { ...money, gateway_key: piGone }), piGone);
    const window2 = { from: w2from, to: Date.now() + 1000 };

    const before = { matched: await lookups('matched'), notFound: await lookups('not_found') };
    const verdicts: LineVerdict[] = [];
    const { logger, lines } = captureLogger('info');
    requests.length = 0;
    const { summary } = await reconcile(config, { gateway: GATEWAY, window: window2, logger, redis, sink: { verdict: (v) => void verdicts.push(v) } });

    const missing = verdicts.filter((v) => v.class === 'missing_at_psp');
    expect(missing.map((v) => v.ledger?.operationId).sort()).toEqual([cancelB.id, cancelGone.id].sort());
    expect(summary.classes).toMatchObject({ matched: 1, missing_at_psp: 2 });
    // Neither list names the cancels (piA was created in window 1): each was read by id.
    expect(requests.filter((r) => r.startsWith('GET /v1/payment_intents/')).sort()).toEqual(
      [`GET /v1/payment_intents/${piA}`, `GET /v1/payment_intents/${piB}`, `GET /v1/payment_intents/${piGone}`].sort(),
    );
    expect(summary).toMatchObject({ result: 'done', lookups: 3 });
    expect(missing.find((v) => v.ledger?.operationId === cancelGone.id)?.note).toMatch(/no such object/);
    expect(missing.find((v) => v.ledger?.operationId === cancelB.id)?.note).toMatch(/shows no cancel/);
    const matched = verdicts.find((v) => v.ledger?.operationId === cancelA.id);
    expect(matched).toMatchObject({ class: 'matched', record: { lineId: `${piA}:cancel`, kind: 'cancel' } });
    expect(await lookups('matched')).toBe(before.matched + 1);
    expect(await lookups('not_found')).toBe(before.notFound + 2);
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toContainEqual(
      expect.objectContaining({
        message: 'reconciliation operations no PSP line named, read by id at the PSP before reporting them missing',
        lookup: 'GET /v1/payment_intents/{id}',
        results: { matched: 1, not_found: 2 },
      }),
    );
  });
});

describe('cancels read by id that do not confirm', () => {
  it('judges a contradicting PaymentIntent like a listed line, reports a failed read unconfirmed, and reads no more than lookups_per_run', async () => {
    const budgeted = stripeConfig({ 'reconciliation.lookups_per_run': 2 });
    const ledger2 = new Ledger(redis, budgeted.redis.keyPrefix);
    try {
      const money = { gateway: GATEWAY, amount: 1000, currency: 'EUR' };
      const suffix = Date.now().toString(36);
      const from = Date.now() - 1;
      const earlier = Math.floor(from / 1000) - 3600;
      const ids = { usd: `pi_3OtherCurrency${suffix}`, broken: `pi_3StripeFails${suffix}`, late: `pi_3PastBudget${suffix}` };
      intents.set(ids.usd, cancelledIntent(ids.usd, earlier, 'usd'));
      intents.set(ids.broken, cancelledIntent(ids.broken, earlier));
      intents.set(ids.late, cancelledIntent(ids.late, earlier));
      failing.add(ids.broken);
      const made: Record<string, OperationRecord> = {};
      for (const [name, pi] of Object.entries(ids)) {
        const command = channelCommand('cancel', {}, { ...money, gateway_key: pi });
        const id = command.payment.operation_reference!;
        await ledger2.create(id, command);
        await ledger2.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
        await ledger2.transition(id, 'SUCCEEDED', { event: 'response' }, { gatewayReference: pi });
        made[name] = (await ledger2.get(id))!;
        // Created in this order: read in it (the creation index's).
        await sleep(2);
      }
      const before = { mismatch: await lookups('mismatch'), failed: await lookups('failed'), over: await lookups('over_budget') };
      const verdicts: LineVerdict[] = [];
      const { logger, lines } = captureLogger('info');
      requests.length = 0;
      const { summary } = await reconcile(budgeted, {
        gateway: GATEWAY,
        window: { from, to: Date.now() + 1000 },
        dryRun: true,
        logger,
        redis,
        sink: { verdict: (v) => void verdicts.push(v) },
      });

      const of = (op: OperationRecord) => verdicts.find((v) => v.ledger?.operationId === op.id);
      // Stripe cancelled it in dollars: the mismatch a listed line would have given (its adjustment, in a dry run, would be applied).
      expect(of(made.usd)).toMatchObject({ class: 'currency_mismatch', record: { lineId: `${ids.usd}:cancel` } });
      expect(of(made.broken)).toMatchObject({ class: 'missing_at_psp' });
      expect(of(made.broken)?.note).toMatch(/failed: unconfirmed/);
      expect(of(made.late)).toMatchObject({ class: 'missing_at_psp' });
      expect(of(made.late)?.note).toMatch(/lookups are spent/);
      expect(summary).toMatchObject({ result: 'done', lookups: 2, wouldApply: 1 });
      expect(requests.filter((r) => r.startsWith('GET /v1/payment_intents/'))).toHaveLength(2);
      expect(await lookups('mismatch')).toBe(before.mismatch + 1);
      expect(await lookups('failed')).toBe(before.failed + 1);
      expect(await lookups('over_budget')).toBe(before.over + 1);
      const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(logged).toContainEqual(
        expect.objectContaining({
          message: 'reconciliation lookup failed: the operation is reported missing_at_psp unconfirmed',
          operation_id: made.broken.id,
        }),
      );
      expect(logged).toContainEqual(expect.objectContaining({ results: { mismatch: 1, failed: 1, over_budget: 1 } }));
    } finally {
      await purgeNamespace(budgeted).catch(() => undefined);
    }
  });
});
