import http from 'node:http';
import { AddressInfo } from 'node:net';
import { ReconciliationLedger } from '../../../src/reconciliation-run/reconciliation-ledger';
import { parseStripeBalanceTransaction } from '../../../src/gateways/stripe/stripe-reconciliation';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { useDeliveryStacks } from '../../support/delivery-stack';

/**
 * The reference index holds one operation per PSP reference, and Stripe answers a capture with the
 * PaymentIntent id its authorization holds: the capture takes the entry over. Two captures of one
 * PaymentIntent (Stripe's multicapture) would then leave the entry on the last, and the first capture's
 * balance transaction (which names the PaymentIntent) would meet the last capture. The bridge never asks for
 * multicapture: a capture without `final_capture=false` is final ("Defaults to true… setting final_capture to
 * false notifies Stripe to not release the remaining uncaptured funds", Stripe API reference, capture a
 * PaymentIntent), so a second capture is refused before any call and the entry stays on the one capture made.
 */
const PI = 'pi_3NsecondCapture0001';
const calls: string[] = [];
let server: http.Server;
let baseUrl: string;
const stacks = useDeliveryStacks();

function intent(status: string, form: URLSearchParams, received: number): Record<string, unknown> {
  return {
    id: PI,
    object: 'payment_intent',
    status,
    amount: 1000,
    amount_capturable: status === 'requires_capture' ? 1000 : 0,
    amount_received: received,
    currency: 'eur',
    capture_method: 'manual',
    metadata: { operation_id: form.get('metadata[operation_id]') ?? '' },
  };
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      calls.push(`${req.method} ${req.url}`);
      const form = new URLSearchParams(body);
      res.writeHead(200, { 'content-type': 'application/json' });
      if (req.url === '/v1/payment_intents') return void res.end(JSON.stringify(intent('requires_capture', form, 0)));
      // A final capture (no final_capture=false): the rest is released, the PaymentIntent succeeded.
      res.end(JSON.stringify(intent('succeeded', form, Number(form.get('amount_to_capture')))));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('Stripe: a second partial capture of one PaymentIntent', () => {
  it('is refused before any call, so the reference index and a report line of the first capture stay on the first capture', async () => {
    const { service, ledger, redis, config } = stacks.build(
      testConfig({
        gateways: { stri: { type: 'stripe', base_url: baseUrl, api_key: 'sk_test_second_capture_0123', webhook_secret: 'whsec_second_capture_0123456789' } },
      }),
    );
    const money = { gateway: 'stri', currency: 'EUR', order_id: `ORD-MC-${Date.now()}` };
    const auth = channelCommand('authorize', {}, { ...money, gateway_key: 'pm_card_visa', amount: 1000 });
    const authId = auth.payment.operation_reference!;
    await ledger.create(authId, auth);
    expect(await service.deliver(authId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });

    const first = channelCommand('capture', {}, { ...money, gateway_key: authId, amount: 400 });
    const second = channelCommand('capture', {}, { ...money, gateway_key: authId, amount: 300 });
    const [firstId, secondId] = [first.payment.operation_reference!, second.payment.operation_reference!];
    await ledger.create(firstId, first);
    expect(await service.deliver(firstId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const before = calls.length;
    await ledger.create(secondId, second);
    expect(await service.deliver(secondId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await ledger.get(secondId))?.reason).toBe('capture_already_made');
    expect(calls.slice(before)).toEqual([]);

    expect(await ledger.findByReference('stri', PI)).toBe(firstId);
    // The first capture's balance transaction: its charge names the PaymentIntent, and the authorization's id.
    const line = parseStripeBalanceTransaction('stri', {
      id: 'txn_first_capture',
      object: 'balance_transaction',
      type: 'charge',
      amount: 400,
      currency: 'eur',
      created: Math.floor(Date.now() / 1000),
      fee: 0,
      net: 400,
      source: { id: 'ch_first', object: 'charge', amount: 1000, amount_captured: 400, currency: 'eur', payment_intent: PI, metadata: { operation_id: authId } },
    });
    const [match] = await new ReconciliationLedger(redis, config.redis.keyPrefix, 'stri').matchPage([line]);
    expect(match?.op.id).toBe(firstId);
  });
});
