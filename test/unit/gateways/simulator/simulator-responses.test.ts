import { declineOf } from '../../../../src/errors/decline';
import { GatewayError } from '../../../../src/errors/gateway-error';
import { simulatorTransformer } from '../../../../src/gateways/simulator';
import { authorization, ctx, gateway, json } from './simulator-test-support';
import { thrownBy } from '../../../support/thrown';
import { metricValue } from '../../../../src/metrics/metrics-registry';

const t = simulatorTransformer;

function errorOf(fn: () => unknown): GatewayError {
  return thrownBy(() => fn(), GatewayError);
}

describe('simulator responses', () => {
  it('maps an authorized authorization to SUCCESS with its id and amount', () => {
    expect(t.parseResponse(ctx('authorize'), json(201, authorization()), gateway)).toEqual({
      status: 'SUCCESS',
      gatewayStatus: 'authorized',
      gatewayReference: 'auth_abc123',
      amount: 2550,
      currency: 'EUR',
    });
  });

  it('reads when the simulator authorized it from the authorization’s created (epoch seconds), never from a capture', () => {
    const authorized = t.parseResponse(ctx('authorize'), json(201, authorization({ created: 1_795_341_600 })), gateway);
    expect(authorized.authorizedAt).toBe(1_795_341_600_000);
    expect(t.parseStatusResponse(ctx('authorize'), json(200, authorization({ created: 1_795_341_600 })), gateway)?.authorizedAt).toBe(1_795_341_600_000);
    const capture = { id: 'cap_1', object: 'capture', status: 'succeeded', amount: 2550, currency: 'EUR', created: 1_795_400_000 };
    expect(t.parseResponse(ctx('capture'), json(201, capture), gateway).authorizedAt).toBeUndefined();
    expect(t.parseResponse(ctx('authorize'), json(201, authorization()), gateway).authorizedAt).toBeUndefined();
  });

  it('confirms no money in a currency that is no ISO 4217 code (a card number, a word): neither is reported, and it is counted', async () => {
    const before = await metricValue('pb_psp_amount_unreadable_total', { psp: 'simulator', reason: 'currency_not_iso' });
    for (const currency of ['4111 1111 1111 1111', 'EURO', 'x'.repeat(100_000)]) {
      const outcome = t.parseResponse(ctx('authorize'), json(201, authorization({ currency })), gateway);
      expect(outcome).toEqual({ status: 'SUCCESS', gatewayStatus: 'authorized', gatewayReference: 'auth_abc123' });
      expect(t.parseStatusResponse(ctx('authorize'), json(200, authorization({ currency })), gateway)?.currency).toBeUndefined();
      const balance = t.parseResponse(ctx('balance_inquiry'), json(200, authorization({ status: 'active', currency, balance: 5000 })), gateway);
      expect(balance.amount).toBeUndefined();
    }
    expect(await metricValue('pb_psp_amount_unreadable_total', { psp: 'simulator', reason: 'currency_not_iso' })).toBe(before + 9);
    // Any case of an ISO code is one.
    expect(t.parseResponse(ctx('authorize'), json(201, authorization({ currency: 'eur' })), gateway)).toMatchObject({ amount: 2550, currency: 'EUR' });
  });

  it('maps a sale answered captured to SUCCESS', () => {
    expect(t.parseResponse(ctx('sale'), json(201, authorization({ status: 'captured', amount_captured: 2550 })), gateway)).toMatchObject({
      status: 'SUCCESS',
      gatewayStatus: 'captured',
    });
  });

  it('maps a decline to FAIL with the decline code as reason', () => {
    const outcome = t.parseResponse(ctx('authorize'), json(201, authorization({ status: 'declined', decline_code: 'card_declined' })), gateway);
    expect(outcome).toMatchObject({ status: 'FAIL', gatewayStatus: 'declined', reason: 'card_declined' });
  });

  it('falls back to the status as reason for a decline without a code', () => {
    expect(t.parseResponse(ctx('authorize'), json(201, authorization({ status: 'declined' })), gateway).reason).toBe('declined');
  });

  it('maps an async authorization to PENDING', () => {
    expect(t.parseResponse(ctx('authorize'), json(201, authorization({ status: 'pending' })), gateway).status).toBe('PENDING');
  });

  it('gives a revalidation the new authorization id as the new gateway key', () => {
    const outcome = t.parseResponse(ctx('revalidate'), json(201, authorization({ id: 'auth_new999' })), gateway);
    expect(outcome).toMatchObject({ status: 'SUCCESS', newGatewayKey: 'auth_new999', gatewayReference: 'auth_new999' });
  });

  it('gives a tokenization the token id as the new gateway key', () => {
    const outcome = t.parseResponse(ctx('tokenize'), json(201, { id: 'tok_77', object: 'token', status: 'active' }), gateway);
    expect(outcome).toEqual({ status: 'SUCCESS', gatewayStatus: 'active', gatewayReference: 'tok_77', newGatewayKey: 'tok_77' });
  });

  it('reads the card a token stores (brand, last4, expiry) as the stored card of a tokenize', () => {
    const token = { id: 'tok_78', object: 'token', status: 'active', card: { brand: 'mastercard', last4: '4444', exp_month: 3, exp_year: 2031 } };
    expect(t.parseResponse(ctx('tokenize'), json(201, token), gateway).storedCard).toEqual({
      brand: 'mastercard',
      lastFour: '4444',
      expiryMonth: 3,
      expiryYear: 2031,
    });
  });

  it('gives no new gateway key for a declined revalidation', () => {
    const outcome = t.parseResponse(
      ctx('revalidate'),
      json(201, authorization({ id: 'auth_new', status: 'declined', decline_code: 'insufficient_funds' })),
      gateway,
    );
    expect(outcome.newGatewayKey).toBeUndefined();
    expect(outcome.reason).toBe('insufficient_funds');
  });

  it('does not report the authorized amount as the amount of a capture answered with the authorization', () => {
    const outcome = t.parseResponse(ctx('capture', { amount: 1000 }), json(201, authorization({ status: 'captured', amount_captured: 1000 })), gateway);
    expect(outcome).toMatchObject({ status: 'SUCCESS', gatewayStatus: 'captured' });
    expect(outcome.amount).toBeUndefined();
  });

  it('reports the amount of a capture, cancellation or refund object', () => {
    const capture = t.parseResponse(
      ctx('capture', { amount: 1000 }),
      json(201, { id: 'cap_1', object: 'capture', status: 'captured', amount: 1000, authorization: 'auth_abc123' }),
      gateway,
    );
    expect(capture).toMatchObject({ status: 'SUCCESS', amount: 1000, gatewayReference: 'cap_1' });
    const cancel = t.parseResponse(ctx('cancel'), json(201, { id: 'can_1', object: 'cancellation', status: 'cancelled', amount: 2550 }), gateway);
    expect(cancel).toMatchObject({ status: 'SUCCESS', gatewayStatus: 'cancelled', amount: 2550 });
    const refund = t.parseResponse(ctx('refund', { amount: 400 }), json(201, { id: 're_1', object: 'refund', status: 'refunded', amount: 400 }), gateway);
    expect(refund).toMatchObject({ status: 'SUCCESS', amount: 400, gatewayReference: 're_1' });
  });

  it('ignores an amount that is not an integer of minor units', () => {
    expect(t.parseResponse(ctx('authorize'), json(201, authorization({ amount: 25.5 })), gateway).amount).toBeUndefined();
  });

  it('maps cancelled to SUCCESS for a cancel but to FAIL for a validate', () => {
    expect(t.parseResponse(ctx('cancel'), json(200, authorization({ status: 'cancelled' })), gateway).status).toBe('SUCCESS');
    expect(t.parseResponse(ctx('validate'), json(200, authorization({ status: 'cancelled' })), gateway)).toMatchObject({
      status: 'FAIL',
      reason: 'authorization_cancelled',
    });
  });

  it('maps a capture above the authorized amount to FAIL with the simulator code as reason', () => {
    const outcome = t.parseResponse(ctx('capture'), json(422, { error: { code: 'amount_exceeds_authorized', message: 'too much' } }), gateway);
    expect(outcome).toEqual({
      status: 'FAIL',
      gatewayStatus: 'amount_exceeds_authorized',
      reason: 'amount_exceeds_authorized',
      decline: declineOf('operation_not_permitted', 'amount_exceeds_authorized'),
    });
  });

  it.each(['authorization_captured', 'authorization_cancelled', 'authorization_declined', 'authorization_pending', 'invalid_payment_method'])(
    'maps the refusal %s to FAIL with that reason',
    (code) => {
      expect(t.parseResponse(ctx('cancel'), json(422, { error: { code } }), gateway)).toMatchObject({ status: 'FAIL', reason: code });
    },
  );

  it('maps a refund above the captured amount to FAIL', () => {
    expect(t.parseResponse(ctx('refund'), json(422, { error: { code: 'amount_exceeds_captured' } }), gateway).reason).toBe('amount_exceeds_captured');
  });

  it('throws outcome_unknown for an undocumented status in a 2xx', () => {
    expect(errorOf(() => t.parseResponse(ctx('authorize'), json(201, authorization({ status: 'processing' })), gateway)).kind).toBe('outcome_unknown');
  });

  it('throws outcome_unknown for a 2xx it cannot read, since the effect may have happened', () => {
    const broken = { status: 201, headers: {}, body: '<html>', elapsedMs: 1 };
    expect(errorOf(() => t.parseResponse(ctx('capture'), broken, gateway)).kind).toBe('outcome_unknown');
    expect(errorOf(() => t.parseResponse(ctx('capture'), json(201, { status: 'captured' }), gateway)).kind).toBe('outcome_unknown');
  });

  describe('status inquiry', () => {
    it('answers null when the operation never landed', () => {
      expect(t.parseStatusResponse(ctx('capture'), json(404, { error: { code: 'not_found' } }), gateway)).toBeNull();
    });

    it('maps the stored result of the operation', () => {
      expect(t.parseStatusResponse(ctx('capture'), json(200, authorization({ status: 'captured' })), gateway)).toMatchObject({
        status: 'SUCCESS',
        gatewayStatus: 'captured',
        gatewayReference: 'auth_abc123',
      });
    });

    it('gives a tokenization found by inquiry its token as the new gateway key', () => {
      const outcome = t.parseStatusResponse(
        ctx('tokenize'),
        json(200, { id: 'tok_9', object: 'token', status: 'active', reference: 'op-tokenize-42' }),
        gateway,
      );
      expect(outcome).toMatchObject({ status: 'SUCCESS', newGatewayKey: 'tok_9' });
    });

    it('throws outcome_unknown for a stored error without a code', () => {
      expect(errorOf(() => t.parseStatusResponse(ctx('capture'), json(200, { error: {} }), gateway)).kind).toBe('outcome_unknown');
    });

    it('maps a stored business refusal to FAIL', () => {
      expect(t.parseStatusResponse(ctx('capture'), json(200, { error: { code: 'amount_exceeds_authorized' } }), gateway)).toMatchObject({
        status: 'FAIL',
        reason: 'amount_exceeds_authorized',
      });
    });

    it('classifies a failed inquiry as a gateway error', () => {
      expect(errorOf(() => t.parseStatusResponse(ctx('capture'), json(503, { error: { code: 'unavailable' } }), gateway)).kind).toBe('server_error');
    });
  });
});

describe('a created time no Date can hold', () => {
  it('reads no authorizedAt from it', () => {
    expect(t.parseResponse(ctx('authorize'), json(201, authorization({ created: 4_111_111_111_111_111 })), gateway).authorizedAt).toBeUndefined();
  });
});

describe('a negative amount', () => {
  it('is no amount of the operation, nor a balance', () => {
    expect(t.parseResponse(ctx('authorize'), json(201, authorization({ amount: -2550 })), gateway)).toEqual({
      status: 'SUCCESS',
      gatewayStatus: 'authorized',
      gatewayReference: 'auth_abc123',
      currency: 'EUR',
    });
    expect(t.parseResponse(ctx('balance_inquiry'), json(200, authorization({ status: 'active', balance: -1 })), gateway).amount).toBeUndefined();
  });
});
