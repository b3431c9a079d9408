import { NO_CREDENTIALS } from '../../support/gateway-credentials';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { GatewayError } from '../../../src/errors/gateway-error';
import { GatewayConfig } from '../../../src/gateways/gateway-config';
import {
  stripeLookupPath,
  stripeRecordLookup,
  stripeRecordReader,
  stripeListPath,
  STRIPE_PAGE_LIMIT,
} from '../../../src/gateways/stripe/stripe-reconciliation';
import { PspRecord, PspRecordPage, ReconciliationHttp } from '../../../src/reconciliation/psp-record';
import { requestViolations, usePrism } from '../../support/prism';
import { stripeGateway } from '../../../src/gateways/stripe/stripe-gateway';
import { createReconciliationHttp } from '../../../src/reconciliation-run/reconciliation-http';
import { testReconciliationHttp as recordingHttp } from '../../support/reconciliation-http';

/**
 * The Stripe reader against a real local HTTP server that answers Stripe's list endpoints as Stripe
 * documents them (https://docs.stripe.com/api/pagination: newest first, `starting_after`, `has_more`),
 * then its requests against Prism serving the official spec.
 */

const WINDOW = { from: Date.UTC(2023, 7, 17), to: Date.UTC(2023, 7, 18) };
const BASE_SECONDS = WINDOW.from / 1000;
const TOTAL_BT = 250;

// Newest first, as Stripe lists them.
const balanceTransactions = Array.from({ length: TOTAL_BT }, (_, i) => {
  const n = TOTAL_BT - 1 - i;
  const refund = n % 10 === 9;
  return {
    id: `txn_${String(n).padStart(4, '0')}`,
    object: 'balance_transaction',
    amount: refund ? -500 : 1000 + n,
    currency: 'eur',
    created: BASE_SECONDS + n * 60,
    fee: refund ? 0 : 30,
    net: refund ? -500 : 970 + n,
    status: 'available',
    type: refund ? 'refund' : 'charge',
    source: refund
      ? { id: `re_${n}`, object: 'refund', amount: 500, currency: 'eur', payment_intent: `pi_${n}`, metadata: { operation_id: `op-refund-${n}` } }
      : {
          id: `ch_${n}`,
          object: 'charge',
          amount: 1000 + n,
          amount_captured: 1000 + n,
          currency: 'eur',
          payment_intent: { id: `pi_${n}`, metadata: { operation_id: `op-sale-${n}` } },
        },
  };
});
const paymentIntents = [
  {
    id: 'pi_auth_2',
    object: 'payment_intent',
    amount: 700,
    currency: 'eur',
    capture_method: 'manual',
    status: 'requires_capture',
    created: BASE_SECONDS + 7200,
    metadata: { operation_id: 'op-auth-2' },
  },
  {
    id: 'pi_auth_1',
    object: 'payment_intent',
    amount: 500,
    currency: 'eur',
    capture_method: 'manual',
    status: 'canceled',
    created: BASE_SECONDS + 3600,
    canceled_at: BASE_SECONDS + 3700,
    latest_charge: 'ch_x',
    metadata: { operation_id: 'op-auth-1' },
  },
];

let server: Server;
const opened: { close(): void }[] = [];

/** The product's reconciliation HTTP (the reader's path in `payment-bridge reconcile`). */
function testReconciliationHttp(g: GatewayConfig): ReconciliationHttp {
  const http = createReconciliationHttp(g, stripeGateway.transformer, { proxy: { host: '', port: 0 }, timeoutMs: 30_000 });
  opened.push(http);
  return http;
}
let gateway: GatewayConfig;
const requests: string[] = [];
let failNext = 0;

function page(list: { id: string; created: number }[], url: URL, path: string): object {
  const gte = Number(url.searchParams.get('created[gte]'));
  const lt = Number(url.searchParams.get('created[lt]'));
  const limit = Number(url.searchParams.get('limit') ?? 10);
  const inWindow = list.filter((o) => o.created >= gte && o.created < lt);
  const after = url.searchParams.get('starting_after');
  const start = after === null ? 0 : inWindow.findIndex((o) => o.id === after) + 1;
  const data = inWindow.slice(start, start + limit);
  return { object: 'list', url: path, has_more: start + limit < inWindow.length, data };
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://localhost');
  requests.push(`${req.method} ${url.pathname}?${url.searchParams.toString()}`);
  if (req.headers.authorization !== 'Bearer sk_test_reader_0123456789' || req.headers['stripe-version'] !== '2023-08-16') {
    res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { type: 'invalid_request_error' } }));
    return;
  }
  if (failNext > 0) {
    failNext -= 1;
    res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { type: 'api_error' } }));
    return;
  }
  const body =
    url.pathname === '/v1/balance_transactions'
      ? page(balanceTransactions, url, url.pathname)
      : url.pathname === '/v1/payment_intents'
        ? page(paymentIntents, url, url.pathname)
        : undefined;
  if (body === undefined) return void res.writeHead(404).end();
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function config(baseUrl: string): GatewayConfig {
  return {
    ...NO_CREDENTIALS,
    name: 'stripe-recon',
    type: 'stripe',
    baseUrl,
    apiKey: 'sk_test_reader_0123456789',
    timeoutMs: 10000,
    maxSockets: 4,
  };
}

async function collect(pages: AsyncIterable<PspRecordPage>, stopAfter = Infinity): Promise<PspRecordPage[]> {
  const out: PspRecordPage[] = [];
  for await (const p of pages) {
    out.push(p);
    if (out.length >= stopAfter) break;
  }
  return out;
}

const ids = (pages: PspRecordPage[]): string[] => pages.flatMap((p) => p.records.map((r: PspRecord) => r.lineId));

beforeAll(async () => {
  server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  gateway = config(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});

afterAll(async () => {
  for (const http of opened) http.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  requests.length = 0;
  failNext = 0;
});

describe('Stripe reader over a local Stripe-shaped server', () => {
  it('reads every balance transaction page by page, then the PaymentIntents, each line once', async () => {
    const pages = await collect(stripeRecordReader(gateway, testReconciliationHttp(gateway)).read(WINDOW));
    expect(pages.map((p) => p.records.length)).toEqual([STRIPE_PAGE_LIMIT, STRIPE_PAGE_LIMIT, 50, 3]);
    const lineIds = ids(pages);
    expect(new Set(lineIds).size).toBe(lineIds.length);
    expect(lineIds.slice(0, 2)).toEqual(['txn_0249', 'txn_0248']);
    expect(lineIds.slice(-3)).toEqual(['pi_auth_2:authorization', 'pi_auth_1:authorization', 'pi_auth_1:cancel']);
    expect(requests[1]).toContain('starting_after=txn_0150');
    const refund = pages[0].records.find((r) => r.lineId === 'txn_0239');
    expect(refund).toMatchObject({ kind: 'refund', operationId: 'op-refund-239', pspReference: 'pi_239', amount: 500, net: -500 });
    expect(JSON.parse(pages[pages.length - 1].cursor)).toEqual({ p: 'done' });
  });

  it('resumes from a stored cursor with exactly the lines after it', async () => {
    const full = ids(await collect(stripeRecordReader(gateway, testReconciliationHttp(gateway)).read(WINDOW)));
    const firstTwo = await collect(stripeRecordReader(gateway, testReconciliationHttp(gateway)).read(WINDOW), 2);
    const rest = await collect(stripeRecordReader(gateway, testReconciliationHttp(gateway)).read(WINDOW, firstTwo[1].cursor));
    expect([...ids(firstTwo), ...ids(rest)]).toEqual(full);
    // Resuming at the pass boundary and at the end.
    const btDone = await collect(stripeRecordReader(gateway, testReconciliationHttp(gateway)).read(WINDOW, JSON.stringify({ p: 'pi' })));
    expect(ids(btDone)).toEqual(full.slice(TOTAL_BT));
    expect(await collect(stripeRecordReader(gateway, testReconciliationHttp(gateway)).read(WINDOW, JSON.stringify({ p: 'done' })))).toEqual([]);
  });

  it('stops on a failed page with a retryable GatewayError, and the last cursor resumes it', async () => {
    const reader = stripeRecordReader(gateway, testReconciliationHttp(gateway));
    const seen: PspRecordPage[] = [];
    failNext = 0;
    let error: unknown;
    try {
      for await (const p of reader.read(WINDOW)) {
        seen.push(p);
        failNext = 1; // the next page fails
      }
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).retryable).toBe(true);
    expect(seen).toHaveLength(1);
    const rest = await collect(stripeRecordReader(gateway, testReconciliationHttp(gateway)).read(WINDOW, seen[0].cursor));
    expect(ids(rest)[0]).toBe('txn_0149');
  });

  it('refuses a cursor it did not write, naming it', async () => {
    await expect(collect(stripeRecordReader(gateway, testReconciliationHttp(gateway)).read(WINDOW, 'garbage'))).rejects.toThrow(/cursor/);
  });
});

describe('Stripe reader requests against the official spec (Prism)', () => {
  const prism = usePrism('stripe-payments-2023-08-16.prism.json', 120_000);

  it.each([
    ['balance transactions', 'bt'],
    ['payment intents', 'pi'],
  ] as const)(
    'lists %s with a request the spec accepts (first page and after a cursor)',
    async (_name, pass) => {
      const g = config(prism.url);
      const http = recordingHttp(g);
      for (const after of [undefined, pass === 'bt' ? 'txn_1NgB1r2eZvKYlo2C' : 'pi_3NgB1r2eZvKYlo2C']) {
        await http.send({ method: 'GET', path: stripeListPath(pass, WINDOW, after), headers: { 'stripe-version': '2023-08-16' } });
        const last = http.sent[http.sent.length - 1];
        expect(requestViolations(last.responseHeaders?.['sl-violations'])).toBeUndefined();
        expect(last.status).toBe(200);
      }
    },
    60_000,
  );

  it('reads a PaymentIntent by id (the lookup before missing_at_psp) with a request the spec accepts, answers a PaymentIntent', async () => {
    const g = config(prism.url);
    const http = recordingHttp(g);
    // Prism answers the spec's example, whose id is not the one asked for: the lookup refuses that (another object).
    await expect(stripeRecordLookup(g, http).read({ operationId: 'op-cancel-1', command: 'cancel', gatewayKey: 'pi_3NgB1r2eZvKYlo2C' })).rejects.toThrow(
      /is not the PaymentIntent asked for/,
    );
    const last = http.sent[http.sent.length - 1];
    expect(last.path).toBe(stripeLookupPath('pi_3NgB1r2eZvKYlo2C'));
    expect(requestViolations(last.responseHeaders?.['sl-violations'])).toBeUndefined();
    expect(last.status).toBe(200);
  }, 60_000);
});
