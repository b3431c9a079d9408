import { resolveOperationContext } from '../../../src/delivery/operation-context';
import { DependentSummary, Ledger, OperationRecord } from '../../../src/ledger/ledger';
import { draftRecord } from '../../../src/ledger/record-fields';
import { parseRate } from '../../../src/fx/exact-rate';
import { lockAt, lockDetails } from '../../../src/fx/fx-lock';
import { channelCommand } from '../../support/fixtures';

/*
 * Captures and refunds of a converted authorization as resolution sends them: each part is what the running
 * total's conversion leaves after what the earlier parts not failed were SENT for, so the parts the PSP is
 * asked for add up to the converted total of the ones that did not fail, whatever failed in between.
 */

/** An authorization (or sale) of `amount` of `from`, converted at `rate` into `to` and approved in full. */
function convertedAuthorization(command: 'authorize' | 'sale', amount: number, from: string, to: string, rate: string): OperationRecord {
  const lock = lockAt({ rate: parseRate(rate), source: 'configured', at: 0 }, amount, from, to);
  const c = channelCommand(command, {}, { amount, currency: from });
  return {
    ...draftRecord(c.payment.operation_reference!, c, 0),
    state: 'SUCCEEDED',
    gatewayReference: 'psp-auth-1',
    digest: 'digest',
    confirmedAmount: lock.to.amount,
    confirmedCurrency: to,
    routing: {
      gateway: 'simulator',
      requested: 'simulator',
      candidates: ['simulator'],
      index: 0,
      decisions: [{ stage: 'fx', outcome: 'changed', reasons: ['converted'], details: lockDetails(lock) }],
      amount: lock.to.amount,
      currency: to,
    },
  };
}

/** A capture or refund of `auth` of `amount` in the authorization's order currency. */
function part(command: 'capture' | 'refund', auth: OperationRecord, amount: number): OperationRecord {
  const c = channelCommand(command, {}, { amount, currency: auth.payment.currency, gateway_key: auth.id, order_id: auth.payment.order_id });
  return draftRecord(c.payment.operation_reference!, c, 0);
}

/** A ledger that shows `auth` with `dependents`, `op` registered after them (`registered`). */
function viewing(auth: OperationRecord, dependents: DependentSummary[], registered: number): Ledger {
  // No adjustments on record: nothing refunded outside the bridge.
  return { authorizationView: async () => ({ auth, dependents, registered }), adjustmentsOfEach: async () => new Map() } as unknown as Ledger;
}

async function sent(op: OperationRecord, auth: OperationRecord, dependents: DependentSummary[]) {
  return resolveOperationContext(op, viewing(auth, dependents, dependents.length + 1), { checkAmounts: true });
}

describe('a part of a converted authorization after an earlier one failed', () => {
  // USD 123.45 at 0.9137: EUR 112.80 held. A (USD 0.06) was sent as EUR 0.05; B (USD 0.06) as f(0.12) − f(0.06)
  // = EUR 0.11 − 0.05 = 0.06 with A in flight; then A failed.
  for (const command of ['capture', 'refund'] as const) {
    it(`${command} C of the rest (USD 123.39) is sent as EUR 112.74, so B + C = EUR 112.80 held, not 112.75 (EUR 112.81)`, async () => {
      const auth = convertedAuthorization(command === 'capture' ? 'authorize' : 'sale', 12345, 'USD', 'EUR', '0.9137');
      const dependents: DependentSummary[] = [
        { id: 'a', command, state: 'FAILED', amount: 6, registered: 1, converted: { amount: 5, currency: 'EUR' } },
        { id: 'b', command, state: 'SUCCEEDED', amount: 6, registered: 2, converted: { amount: 6, currency: 'EUR' } },
      ];
      const resolved = await sent(part(command, auth, 12339), auth, dependents);
      expect('context' in resolved && resolved.context.payment).toMatchObject({ amount: 11274, currency: 'EUR' });
    });
  }

  it('counts an earlier part still in flight at what it was sent for', async () => {
    const auth = convertedAuthorization('authorize', 12345, 'USD', 'EUR', '0.9137');
    const dependents: DependentSummary[] = [
      { id: 'a', command: 'capture', state: 'FAILED', amount: 6, registered: 1, converted: { amount: 5, currency: 'EUR' } },
      { id: 'b', command: 'capture', state: 'SENT', amount: 6, registered: 2, converted: { amount: 6, currency: 'EUR' } },
    ];
    const resolved = await sent(part('capture', auth, 12339), auth, dependents);
    expect('context' in resolved && resolved.context.payment).toMatchObject({ amount: 11274, currency: 'EUR' });
  });

  it('waits for an earlier part not yet sent (its converted amount not yet fixed), naming it', async () => {
    const auth = convertedAuthorization('authorize', 12345, 'USD', 'EUR', '0.9137');
    const dependents: DependentSummary[] = [{ id: 'b', command: 'capture', state: 'RECEIVED', amount: 6, registered: 1 }];
    expect(await sent(part('capture', auth, 12339), auth, dependents)).toMatchObject({ siblings: ['b'] });
  });

  it('converts after earlier parts recorded without a converted amount on their running total, as before', async () => {
    const auth = convertedAuthorization('authorize', 12345, 'USD', 'EUR', '0.9137');
    const dependents: DependentSummary[] = [{ id: 'b', command: 'capture', state: 'SUCCEEDED', amount: 6, registered: 1 }];
    const resolved = await sent(part('capture', auth, 12339), auth, dependents);
    expect('context' in resolved && resolved.context.payment).toMatchObject({ amount: 11280 - 5, currency: 'EUR' });
  });
});

describe('a part of a converted authorization that converts to nothing', () => {
  it('refuses USD 0.01 after USD 0.05 at 0.9137 (EUR 0.05 − 0.05 = 0) naming payment.amount, never asking the PSP for EUR 0', async () => {
    const auth = convertedAuthorization('authorize', 12345, 'USD', 'EUR', '0.9137');
    const dependents: DependentSummary[] = [
      { id: 'a', command: 'capture', state: 'SUCCEEDED', amount: 5, registered: 1, converted: { amount: 5, currency: 'EUR' } },
    ];
    expect(await sent(part('capture', auth, 1), auth, dependents)).toMatchObject({
      fail: 'amount_too_small_to_convert',
      field: 'payment.amount',
      detail: { amount: 1, currency: 'USD', converted_amount: 0, converted_currency: 'EUR', taken_before: 5, converted_before: 5 },
    });
  });

  it('refuses a refund of VND 100 of a payment converted into USD (0.4 of a cent)', async () => {
    const sale = convertedAuthorization('sale', 1_000_000, 'VND', 'USD', '0.00004');
    expect(sale.routing?.amount).toBe(4000);
    expect(await sent(part('refund', sale, 100), sale, [])).toMatchObject({ fail: 'amount_too_small_to_convert', field: 'payment.amount' });
  });

  it('sends a small part that still converts to something', async () => {
    const auth = convertedAuthorization('authorize', 12345, 'USD', 'EUR', '0.9137');
    const resolved = await sent(part('capture', auth, 1), auth, []);
    expect('context' in resolved && resolved.context.payment).toMatchObject({ amount: 1, currency: 'EUR' });
  });
});

describe('a refund of a converted authorization never gives back more, nor less, than its captures took in the PSP currency', () => {
  // USD 123.45 at 0.9137: EUR 112.80 held. Capture A (USD 0.05) was sent as EUR 0.05 and B (USD 0.05) with it in flight as
  // f(0.10) − 0.05 = EUR 0.09 − 0.05 = 0.04; then A failed. B stands: USD 0.05 captured as EUR 0.04.
  const shortCapture: DependentSummary[] = [
    { id: 'a', command: 'capture', state: 'FAILED', amount: 5, registered: 1, converted: { amount: 5, currency: 'EUR' } },
    { id: 'b', command: 'capture', state: 'SUCCEEDED', amount: 5, registered: 2, converted: { amount: 4, currency: 'EUR' } },
  ];

  it('a refund of all that was captured (USD 0.05) gives back the EUR 0.04 captured, not f(0.05) = EUR 0.05', async () => {
    const auth = convertedAuthorization('authorize', 12345, 'USD', 'EUR', '0.9137');
    const resolved = await sent(part('refund', auth, 5), auth, shortCapture);
    expect('context' in resolved && resolved.context.payment).toMatchObject({ amount: 4, currency: 'EUR' });
    expect(resolved).toMatchObject({ refundBounded: { asked: 5, sent: 4, currency: 'EUR', taken: 4 } });
  });

  it('a part never takes more than is left of the EUR captured: USD 0.04 of it, then the last cent refuses as nothing left', async () => {
    const auth = convertedAuthorization('authorize', 12345, 'USD', 'EUR', '0.9137');
    const first = await sent(part('refund', auth, 4), auth, shortCapture);
    expect('context' in first && first.context.payment).toMatchObject({ amount: 4, currency: 'EUR' });
    const refunded: DependentSummary = { id: 'r', command: 'refund', state: 'SUCCEEDED', amount: 4, registered: 3, converted: { amount: 4, currency: 'EUR' } };
    expect(await sent(part('refund', auth, 1), auth, [...shortCapture, refunded])).toMatchObject({
      fail: 'amount_too_small_to_convert',
      detail: { converted_amount: 0, taken_before: 4, converted_before: 4, taken_converted: 4 },
    });
  });

  it('a refund of all that was captured gives back all of it when the captures took more than its own conversion', async () => {
    // A (USD 0.06) sent as EUR 0.05, B (USD 0.06) as f(0.12) − 0.05 = EUR 0.06, A failed: B took EUR 0.06 of the
    // shopper, f(0.06) is EUR 0.05; the refund of USD 0.06 gives back the EUR 0.06, not a cent less.
    const auth = convertedAuthorization('authorize', 12345, 'USD', 'EUR', '0.9137');
    const dependents: DependentSummary[] = [
      { id: 'a', command: 'capture', state: 'FAILED', amount: 6, registered: 1, converted: { amount: 5, currency: 'EUR' } },
      { id: 'b', command: 'capture', state: 'SUCCEEDED', amount: 6, registered: 2, converted: { amount: 6, currency: 'EUR' } },
    ];
    const resolved = await sent(part('refund', auth, 6), auth, dependents);
    expect('context' in resolved && resolved.context.payment).toMatchObject({ amount: 6, currency: 'EUR' });
    // Said with its attempt (`pb_fx_refunds_bounded_total`, info line): its own conversion, and what it is sent for.
    expect(resolved).toMatchObject({ refundBounded: { asked: 5, sent: 6, currency: 'EUR', taken: 6 } });
  });

  it('captures without failures: refunds telescope as before (USD 50.00 + 73.45 of EUR 112.80: 45.68 + 67.12)', async () => {
    const auth = convertedAuthorization('authorize', 12345, 'USD', 'EUR', '0.9137');
    const captured: DependentSummary[] = [
      { id: 'c', command: 'capture', state: 'SUCCEEDED', amount: 12345, registered: 1, converted: { amount: 11280, currency: 'EUR' } },
    ];
    const first = await sent(part('refund', auth, 5000), auth, captured);
    expect('context' in first && first.context.payment).toMatchObject({ amount: 4568, currency: 'EUR' });
    const refunded: DependentSummary = {
      id: 'r',
      command: 'refund',
      state: 'SUCCEEDED',
      amount: 5000,
      registered: 2,
      converted: { amount: 4568, currency: 'EUR' },
    };
    const rest = await sent(part('refund', auth, 7345), auth, [...captured, refunded]);
    expect('context' in rest && rest.context.payment).toMatchObject({ amount: 6712, currency: 'EUR' });
    // Their own conversion: nothing bounded, nothing said.
    expect([first, rest].map((r) => 'refundBounded' in r)).toEqual([false, false]);
  });
});

describe('a refund of a converted authorization whose captures are not all known is not bounded by the ones on record', () => {
  // USD 123.45 at 0.9137: EUR 112.80 held. A registered capture took USD 50.00 (sent as EUR 45.68); the rest was
  // captured in a way the ledger does not sum (a capture never registered, or an authorization of before digests).
  const registered: DependentSummary[] = [
    { id: 'c', command: 'capture', state: 'SUCCEEDED', amount: 5000, registered: 1, converted: { amount: 4568, currency: 'EUR' } },
  ];

  it('closed by a capture never registered: a refund of USD 100.00 goes as f(100.00) = EUR 91.37, not the EUR 45.68 on record', async () => {
    const auth: OperationRecord = { ...convertedAuthorization('authorize', 12345, 'USD', 'EUR', '0.9137'), closedBy: 'legacy-capture' };
    const resolved = await sent(part('refund', auth, 10000), auth, registered);
    expect('context' in resolved && resolved.context.payment).toMatchObject({ amount: 9137, currency: 'EUR' });
  });

  it('an authorization without a digest (its dependents not all registered): the same refund is left to the PSP at its own conversion', async () => {
    const { digest: _digest, ...auth } = convertedAuthorization('authorize', 12345, 'USD', 'EUR', '0.9137');
    const resolved = await sent(part('refund', auth, 10000), auth, registered);
    expect('context' in resolved && resolved.context.payment).toMatchObject({ amount: 9137, currency: 'EUR' });
  });
});
