import http from 'node:http';
import { AddressInfo } from 'node:net';
import * as statusInquiry from '../../../src/delivery/status-inquiry';
import { GatewayError } from '../../../src/errors/gateway-error';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { useDeliveryStacks } from '../../support/delivery-stack';

/**
 * A refund of a PaymentIntent that has more refunds than one page of Stripe's list (100, newest first: "List all
 * refunds", `has_more`, `starting_after`). A local Stripe stand-in plays it: the refund's POST is performed but
 * answered 500 (Stripe: indeterminate), and its list shows 100 refunds of others newer than ours on the first page,
 * ours on the second. Read as "no trace" from the first page alone, the refund was sent again (once Stripe pruned
 * the key, a second refund); read on through the list, it is SUCCEEDED from the inquiry and sent once.
 */
const PI = 'pi_3NrefundPagesSale01';
/** A PaymentIntent with more refunds of others than the inquiry's page cap reads (10 pages of 100). */
const LONG_PI = 'pi_3NrefundPagesLong01';
const psp = { refundPosts: 0, longListReads: 0, listReads: [] as string[], ours: undefined as Record<string, unknown> | undefined };
let server: http.Server;
let baseUrl: string;
const stacks = useDeliveryStacks();

function refundObject(id: string, operationId: string, amount: number): Record<string, unknown> {
  return {
    id,
    object: 'refund',
    amount,
    currency: 'eur',
    created: 1765000000,
    payment_intent: PI,
    status: 'succeeded',
    metadata: { operation_id: operationId },
  };
}

beforeAll(async () => {
  const others = Array.from({ length: 130 }, (_, n) => refundObject(`re_other_${n}`, `op-other-${n}`, 1));
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const json = (status: number, payload: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(payload));
      };
      const url = new URL(req.url ?? '/', 'http://stand-in');
      if (req.method === 'POST' && url.pathname === '/v1/payment_intents') {
        const form = new URLSearchParams(body);
        const operationId = form.get('metadata[operation_id]') ?? '';
        const id = (form.get('metadata[order_id]') ?? '').includes('-LONG-') ? LONG_PI : PI;
        const pi = { id, object: 'payment_intent', status: 'succeeded', amount: 5000, amount_received: 5000, currency: 'eur', capture_method: 'automatic' };
        return json(200, { ...pi, metadata: { operation_id: operationId } });
      }
      if (req.method === 'POST' && url.pathname === '/v1/refunds') {
        psp.refundPosts += 1;
        const form = new URLSearchParams(body);
        // Performed, then answered 500: the refund exists, its answer says nothing (Stripe replays the 500).
        if (form.get('payment_intent') === PI) psp.ours ??= refundObject('re_ours_1', form.get('metadata[operation_id]') ?? '', Number(form.get('amount')));
        return json(500, { error: { type: 'api_error', message: 'An unknown error occurred' } });
      }
      if (req.method === 'GET' && url.pathname === '/v1/refunds' && url.searchParams.get('payment_intent') === PI) {
        psp.listReads.push(url.search);
        // Newest first: the 130 refunds of others came after ours.
        const all = [...others, ...(psp.ours ? [psp.ours] : [])];
        const after = url.searchParams.get('starting_after');
        const start = after === null ? 0 : all.findIndex((r) => r.id === after) + 1;
        const limit = Number(url.searchParams.get('limit') ?? 10);
        return json(200, { object: 'list', url: '/v1/refunds', has_more: start + limit < all.length, data: all.slice(start, start + limit) });
      }
      if (req.method === 'GET' && url.pathname === '/v1/refunds' && url.searchParams.get('payment_intent') === LONG_PI) {
        psp.longListReads += 1;
        // Refunds of others without end (ids by position): ours is never on the pages the inquiry reads.
        const after = url.searchParams.get('starting_after');
        const start = after === null ? 0 : Number(after.replace('re_long_', '')) + 1;
        const limit = Number(url.searchParams.get('limit') ?? 10);
        const data = Array.from({ length: limit }, (_, n) => refundObject(`re_long_${start + n}`, `op-long-${start + n}`, 1));
        return json(200, { object: 'list', url: '/v1/refunds', has_more: true, data });
      }
      json(404, { error: { type: 'invalid_request_error', code: 'resource_missing' } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/**
 * A stack on the stand-in, a SUCCEEDED sale of the order `orderId` and its refund of 700 delivered once (answered 500:
 * UNKNOWN, asked about before any resend); `overrides` are configuration keys.
 */
async function refundAnswered500(orderId: string, overrides: Record<string, unknown> = {}): Promise<ReturnType<typeof stacks.build> & { id: string }> {
  const stack = stacks.build(
    testConfig({
      ...overrides,
      gateways: { stri: { type: 'stripe', base_url: baseUrl, api_key: 'sk_test_refund_pages_abcdefgh', webhook_secret: 'whsec_refund_pages_abcdefgh' } },
    }),
  );
  const { service, ledger } = stack;
  const money = { gateway: 'stri', currency: 'EUR', order_id: orderId };
  const sale = channelCommand('sale', {}, { ...money, gateway_key: 'pm_card_visa', amount: 5000 });
  const saleId = sale.payment.operation_reference!;
  await ledger.create(saleId, sale);
  expect(await service.deliver(saleId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  const refund = channelCommand('refund', {}, { ...money, gateway_key: saleId, amount: 700 });
  const id = refund.payment.operation_reference!;
  await ledger.create(id, refund);
  expect((await service.deliver(id)).kind).toBe('retry');
  expect((await ledger.get(id))?.state).toBe('UNKNOWN');
  return { ...stack, id };
}

describe('Stripe: a refund answered 500 on a PaymentIntent with more refunds than one page', () => {
  it('is found on the second page of the refunds (starting_after the first page’s last), SUCCEEDED, never sent again', async () => {
    const { service, ledger, events, id } = await refundAnswered500(`ORD-RP-${Date.now()}`);

    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(psp.refundPosts).toBe(1);
    expect(psp.listReads).toEqual([`?payment_intent=${PI}&limit=100`, `?payment_intent=${PI}&limit=100&starting_after=re_other_99`]);
    expect(await ledger.get(id)).toMatchObject({ state: 'SUCCEEDED', gatewayReference: 're_ours_1' });
    expect(await events.load(`${id}.SUCCEEDED`)).not.toBeNull();
  });

  it('a walk stopped at the page cap leaves the refund UNKNOWN and does not count against the breaker: Stripe answered every page', async () => {
    // One failure would open the breaker.
    const { service, ledger, id } = await refundAnswered500(`ORD-RP-LONG-${Date.now()}`, { 'delivery.breaker_failure_threshold': 1 });
    const postsBefore = psp.refundPosts;
    // The 500 counted against the breaker (Stripe's silence about the request): closed again, so what follows is the walk's.
    service.breaker('stri').success();
    expect(service.breaker('stri').state).toBe('closed');

    expect((await service.deliver(id)).kind).toBe('retry'); // the inquiry: ten pages, no trace of ours, the list goes on
    expect(psp.longListReads).toBe(10);
    expect(psp.refundPosts).toBe(postsBefore); // never sent again on it
    expect((await ledger.get(id))?.state).toBe('UNKNOWN');
    expect(service.breaker('stri').state).toBe('closed');
  });

  // The breaker reads the error's `pspAnswered`, not the page cap's code: any error of ours after the PSP answered
  // every request (here another code, another retryable kind) is skipped alike, while the same error without it counts.
  it.each([
    ['outcome_unknown', true, 'closed'],
    ['server_error', true, 'closed'],
    ['outcome_unknown', false, 'open'],
  ] as const)('an inquiry error %s with pspAnswered %s leaves the breaker %s', async (kind, pspAnswered, breakerState) => {
    const { service, id } = await refundAnswered500(`ORD-RP-ANS-${Date.now()}`, { 'delivery.breaker_failure_threshold': 1 });
    service.breaker('stri').success(); // the 500 of the refund's POST counted; what follows is the inquiry's
    const error = new GatewayError(kind, 'stri', 'a limit of ours after every answer', { gatewayCode: 'SOME_LIMIT_OF_OURS', pspAnswered });
    const inquiry = jest.spyOn(statusInquiry, 'inquireStatus').mockRejectedValueOnce(error);
    try {
      expect((await service.deliver(id)).kind).toBe('retry');
      expect(inquiry).toHaveBeenCalledTimes(1);
    } finally {
      inquiry.mockRestore();
    }
    expect(service.breaker('stri').state).toBe(breakerState);
  });
});
