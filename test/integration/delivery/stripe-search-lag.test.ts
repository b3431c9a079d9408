import http from 'node:http';
import { AddressInfo } from 'node:net';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { useDeliveryStacks } from '../../support/delivery-stack';
import { metricValue } from '../../../src/metrics/metrics-registry';

/**
 * Stripe's search (the status inquiry of an authorization) is not read-after-write: "data is searchable in
 * less than a minute… up to an hour behind during outages". A local Stripe stand-in plays it: the first
 * authorization request is performed but its answer never comes (the client times out), its search finds
 * nothing, and a resend under the same Idempotency-Key is answered with the stored PaymentIntent, as Stripe
 * replays a key it has. With failover configured to a second gateway, the miss must not move the payment
 * there: the customer would hold two live authorizations. The second gateway is a second entry of the same
 * Stripe account (the same key): the only kind a Stripe PaymentMethod may fail over to (method-binding.ts).
 */
const psp = { creates: 0, searches: 0, keys: [] as string[], conflictOnResend: false };
let server: http.Server;
let baseUrl: string;
const stacks = useDeliveryStacks();

function paymentIntent(operationId: string): Record<string, unknown> {
  return {
    id: 'pi_search_lag_1',
    object: 'payment_intent',
    status: 'requires_capture',
    amount: 1000,
    amount_capturable: 1000,
    amount_received: 0,
    currency: 'eur',
    capture_method: 'manual',
    metadata: { operation_id: operationId },
  };
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const json = (status: number, payload: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(payload));
      };
      if (req.method === 'POST' && req.url === '/v1/payment_intents') {
        psp.creates += 1;
        psp.keys.push(String(req.headers['idempotency-key']));
        const operationId = new URLSearchParams(body).get('metadata[operation_id]') ?? '';
        // The first request is performed, and its answer lost: the client gives up at its timeout.
        if (psp.creates === 1) return void setTimeout(() => json(200, paymentIntent(operationId)), 1500);
        // As Stripe answers a key it holds for a request with other parameters (a release between the two).
        if (psp.conflictOnResend) {
          return json(400, {
            error: { type: 'idempotency_error', message: 'Keys for idempotent requests can only be used with the same parameters they were first used with.' },
          });
        }
        return json(200, paymentIntent(operationId));
      }
      if (req.method === 'GET' && req.url?.startsWith('/v1/payment_intents/search')) {
        psp.searches += 1;
        return json(200, { object: 'search_result', url: '/v1/payment_intents/search', has_more: false, data: [] });
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
}, 60_000);

describe('Stripe: an authorization whose answer was lost and whose search misses it', () => {
  it('is sent again to Stripe under the same Idempotency-Key and settled by its replayed answer, never failed over', async () => {
    const { service, ledger } = stacks.build(
      testConfig({
        'routing.rules': [{ name: 'stripe-then-backup', when: { commands: ['authorize'] }, gateways: ['stri', 'stri_backup'] }],
        'routing.failover.enabled': true,
        gateways: {
          stri: { type: 'stripe', base_url: baseUrl, api_key: 'sk_test_search_lag_0123456789', webhook_secret: 'whsec_search_lag_0123456789', timeout_ms: 600 },
          stri_backup: {
            type: 'stripe',
            base_url: baseUrl,
            api_key: 'sk_test_search_lag_0123456789',
            webhook_secret: 'whsec_search_lag_0123456789',
            timeout_ms: 600,
          },
        },
      }),
    );
    const command = channelCommand('authorize', {}, { gateway: 'stri', gateway_key: 'pm_card_visa', currency: 'EUR', amount: 1000 });
    const id = command.payment.operation_reference!;
    await ledger.create(id, command);

    expect((await service.deliver(id)).kind).toBe('retry');
    expect((await ledger.get(id))?.state).toBe('UNKNOWN');

    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(psp.searches).toBe(1);
    // A failover attempt would have come here too, under its own key (`<id>.failover1`).
    expect(psp.keys).toEqual([id, id]);
    const record = await ledger.get(id);
    // The backup entry stayed a candidate (one account, one key): failover was possible and not made.
    expect(record?.routing?.candidates).toEqual(['stri', 'stri_backup']);
    expect(record?.routing?.failovers ?? []).toEqual([]);
    const history = await ledger.interactions(id);
    expect(history.find((h) => h.event === 'inquiry_lag')).toMatchObject({ found: false });
    // A lagging miss is no proof that the first attempt did nothing.
    expect(history.some((h) => h.event === 'inquiry' && h.found === false)).toBe(false);
  });

  it('whose resend Stripe refuses as an idempotency conflict (the first landed, built otherwise) is asked about again, never failed', async () => {
    psp.creates = 0;
    psp.searches = 0;
    psp.keys = [];
    psp.conflictOnResend = true;
    try {
      const { service, ledger, events } = stacks.build(
        testConfig({
          gateways: {
            stri: {
              type: 'stripe',
              base_url: baseUrl,
              api_key: 'sk_test_search_lag_0123456789',
              webhook_secret: 'whsec_search_lag_0123456789',
              timeout_ms: 600,
            },
          },
        }),
      );
      const command = channelCommand('authorize', {}, { gateway: 'stri', gateway_key: 'pm_card_visa', currency: 'EUR', amount: 1000 });
      const id = command.payment.operation_reference!;
      await ledger.create(id, command);
      const conflictsBefore = await metricValue('pb_idempotency_conflicts_on_resend_total', { gateway: 'stri' });

      expect((await service.deliver(id)).kind).toBe('retry'); // the first answer is lost
      expect((await service.deliver(id)).kind).toBe('retry'); // search misses it, resent: the conflict
      expect(psp.keys).toEqual([id, id]);
      expect((await ledger.get(id))?.state).toBe('UNKNOWN');
      expect(await events.load(`${id}.FAILED`)).toBeNull();
      expect(await metricValue('pb_idempotency_conflicts_on_resend_total', { gateway: 'stri' })).toBe(conflictsBefore + 1);
      // Asked again, never resent: the PSP has the request.
      expect((await service.deliver(id)).kind).toBe('retry');
      expect(psp.keys).toEqual([id, id]);
      expect(psp.searches).toBe(2);
    } finally {
      psp.conflictOnResend = false;
    }
  });

  it('past delivery.max_age_ms, a miss of the lagging search is not resent: UNRESOLVED, never FAILED', async () => {
    psp.creates = 0;
    psp.searches = 0;
    psp.keys = [];
    const clock = { now: Date.now() };
    const { service, ledger, events } = stacks.build(
      testConfig({
        'delivery.max_age_ms': 60_000,
        gateways: {
          stri: { type: 'stripe', base_url: baseUrl, api_key: 'sk_test_search_lag_0123456789', webhook_secret: 'whsec_search_lag_0123456789', timeout_ms: 600 },
        },
      }),
      { now: () => clock.now },
    );
    const command = channelCommand('authorize', {}, { gateway: 'stri', gateway_key: 'pm_card_visa', currency: 'EUR', amount: 1000 });
    const id = command.payment.operation_reference!;
    await ledger.create(id, command);
    expect((await service.deliver(id)).kind).toBe('retry'); // the first answer is lost: UNKNOWN

    // Past max_age_ms, within the search's lag: the miss proves nothing, and nothing is sent past the bound.
    clock.now += 61_000;
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'UNRESOLVED' });
    expect(psp.keys).toEqual([id]);
    expect(psp.searches).toBe(1);
    expect((await ledger.interactions(id)).at(-1)).toMatchObject({ event: 'unresolved', cause: 'delivery.max_age_ms passed', inquiry: 'index_lag' });
    expect(await events.load(`${id}.FAILED`)).toBeNull();
  });
});
