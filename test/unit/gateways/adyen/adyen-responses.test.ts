import { declineOf } from '../../../../src/errors/decline';
import { GatewayError } from '../../../../src/errors/gateway-error';
import { adyenTransformer } from '../../../../src/gateways/adyen';
import { JWE, ctxFor, gateway, response, specActionTypes, specExample } from './adyen-test-support';
import { thrownBy } from '../../../support/thrown';

const t = adyenTransformer;
const MODIFICATION_PATHS = {
  capture: ['/payments/{paymentPspReference}/captures', 'capture'],
  refund: ['/payments/{paymentPspReference}/refunds', 'refund'],
  cancel: ['/payments/{paymentPspReference}/cancels', 'cancel-with-psp-reference'],
  validate: ['/payments/{paymentPspReference}/amountUpdates', 'amount-update'],
} as const;

function thrown(fn: () => unknown): GatewayError {
  return thrownBy(() => fn(), GatewayError);
}

describe('Adyen response mapping', () => {
  it.each(['authorize', 'sale'] as const)('maps the documented Authorised answer of %s to SUCCESS with the pspReference', (command) => {
    const outcome = t.parseResponse(ctxFor(command), response(200, specExample('/payments', '200', 'card-direct')), gateway);
    expect(outcome).toEqual({ status: 'SUCCESS', gatewayStatus: 'Authorised', gatewayReference: '993617895204576J' });
  });

  it('hands the new pspReference of a revalidation to the OMS as the new gateway key', () => {
    const outcome = t.parseResponse(ctxFor('revalidate'), response(200, specExample('/payments', '200', 'subscription-first-transaction')), gateway);
    expect(outcome.status).toBe('SUCCESS');
    expect(outcome.newGatewayKey).toBe('993617895199574A');
  });

  it('keeps the amount Adyen reports, in our minor units', () => {
    const outcome = t.parseResponse(
      ctxFor('authorize', { currency: 'ISK', amount: 150 }),
      response(200, { pspReference: 'P1', resultCode: 'PartiallyAuthorised', amount: { value: 10000, currency: 'ISK' } }),
      gateway,
    );
    expect(outcome).toMatchObject({ status: 'SUCCESS', gatewayStatus: 'PartiallyAuthorised', amount: 100 });
  });

  it('maps a refusal to FAIL with the refusal reason code', () => {
    const outcome = t.parseResponse(
      ctxFor('authorize'),
      response(200, { pspReference: 'P2', resultCode: 'Refused', refusalReason: 'Not enough balance', refusalReasonCode: '12' }),
      gateway,
    );
    expect(outcome).toEqual({ status: 'FAIL', gatewayStatus: 'Refused', gatewayReference: 'P2', reason: '12', decline: declineOf('insufficient_funds', '12') });
  });

  it('maps a shopper challenge, which nobody can answer server to server, to FAIL with the result code as reason', () => {
    const outcome = t.parseResponse(ctxFor('authorize'), response(200, specExample('/payments', '200', 'card-3d-secure-2-web')), gateway);
    expect(outcome.status).toBe('FAIL');
    expect(outcome.reason).toBe(outcome.gatewayStatus);
  });

  describe('a waiting answer that carries an action for the shopper', () => {
    // Adyen's documented Pix answer: `Pending` with the QR code the shopper scans to pay.
    const pix = {
      pspReference: '8815658961765250',
      resultCode: 'Pending',
      action: { paymentData: 'Ab02b4c0!BQABAgA', paymentMethodType: 'pix', type: 'qrCode', qrCodeData: 'DMhpN90TFR2e7TzwHYRFkhw4brxm2wHBg' },
    };
    const oneTime = { payment_method: { type: 'card' as const, token: JWE, return_url: 'https://shop.example/return' } };

    it.each(['Pending', 'Received'])('hands the action of a %s answer to the storefront as ACTION_REQUIRED', (resultCode) => {
      const outcome = t.parseResponse(ctxFor('sale', oneTime), response(200, { ...pix, resultCode }), gateway);
      expect(outcome).toEqual({
        status: 'ACTION_REQUIRED',
        gatewayStatus: resultCode,
        gatewayReference: pix.pspReference,
        action: { kind: 'sdk', psp_action: pix.action },
      });
    });

    it('reads the expiresAt of a voucher action (CheckoutVoucherAction) as the action’s deadline', () => {
      // A Boleto as Adyen answers it: PresentToShopper with a voucher whose expiresAt is the shopper's local time.
      const boleto = {
        pspReference: '8815658961765251',
        resultCode: 'PresentToShopper',
        action: {
          type: 'voucher',
          paymentMethodType: 'boletobancario',
          reference: '03399.33335 33823.303087 19830.101023 6 84420000017000',
          downloadUrl: 'https://test.adyen.com/hpp/generationBoleto.shtml?data=x',
          expiresAt: '2026-03-14T00:00:00',
        },
      };
      const outcome = t.parseResponse(ctxFor('sale', oneTime), response(200, boleto), gateway);
      expect(outcome.status).toBe('ACTION_REQUIRED');
      // No offset: the latest instant that wall-clock time names anywhere (UTC-12), never before the shopper's deadline.
      expect(outcome.actionExpiresAt).toBe(Date.parse('2026-03-14T12:00:00Z'));
      const withOffset = { ...boleto, action: { ...boleto.action, expiresAt: '2026-03-14T00:00:00-03:00' } };
      expect(t.parseResponse(ctxFor('sale', oneTime), response(200, withOffset), gateway).actionExpiresAt).toBe(Date.parse('2026-03-14T03:00:00Z'));
    });

    it('reads the expiresAt of a QR code action (CheckoutQrCodeAction: Pix) as the action’s deadline', () => {
      const expiring = { ...pix, action: { ...pix.action, expiresAt: '2026-03-14T15:30:00Z' } };
      expect(t.parseResponse(ctxFor('sale', oneTime), response(200, expiring), gateway).actionExpiresAt).toBe(Date.parse('2026-03-14T15:30:00Z'));
    });

    it('takes the deadline of a voucher or a QR code only, and only a date: none when the action gives none, or no date, or is a redirect', () => {
      const expiring = { ...pix, action: { ...pix.action, expiresAt: '2026-03-14T15:30:00+01:00' } };
      expect(t.parseResponse(ctxFor('sale', oneTime), response(200, expiring), gateway).actionExpiresAt).toBe(Date.parse('2026-03-14T14:30:00Z'));
      expect(t.parseResponse(ctxFor('sale', oneTime), response(200, pix), gateway).actionExpiresAt).toBeUndefined();
      const unreadable = { ...pix, action: { ...pix.action, expiresAt: 'tomorrow' } };
      expect(t.parseResponse(ctxFor('sale', oneTime), response(200, unreadable), gateway).actionExpiresAt).toBeUndefined();
      const redirect = { ...pix, resultCode: 'RedirectShopper', action: { type: 'redirect', url: 'https://x.example', expiresAt: '2026-03-14T15:30:00Z' } };
      expect(t.parseResponse(ctxFor('sale', oneTime), response(200, redirect), gateway).actionExpiresAt).toBeUndefined();
    });

    it('leaves a Pending answer without an action PENDING for the webhook', () => {
      const { action: _none, ...bare } = pix;
      expect(t.parseResponse(ctxFor('sale', oneTime), response(200, bare), gateway).status).toBe('PENDING');
    });

    it('leaves it PENDING on a merchant-initiated charge, where no shopper could act', () => {
      const outcome = t.parseResponse(ctxFor('sale'), response(200, pix), gateway);
      expect(outcome.status).toBe('PENDING');
      expect(outcome.action).toBeUndefined();
    });
  });

  describe('the kind of an action', () => {
    const oneTime = { payment_method: { type: 'card' as const, token: JWE, return_url: 'https://shop.example/return' } };
    const kindOf = (type: string) =>
      t.parseResponse(ctxFor('sale', oneTime), response(200, { pspReference: '8815658961765250', resultCode: 'PresentToShopper', action: { type } }), gateway)
        .action?.kind;

    it.each([
      ['await', 'await'],
      ['bankTransfer', 'voucher'],
      ['delegatedAuthentication', 'three_ds'],
      ['nativeRedirect', 'redirect'],
      ['qrCode', 'sdk'],
      ['redirect', 'redirect'],
      ['sdk', 'sdk'],
      ['threeDS2', 'three_ds'],
      ['voucher', 'voucher'],
      ['wechatpaySDK', 'sdk'],
    ])('names an action of type %s: %s', (type, kind) => {
      expect(kindOf(type)).toBe(kind);
    });

    it('names every action type the Checkout spec lists (none is other)', () => {
      const types = specActionTypes();
      expect(types.length).toBeGreaterThanOrEqual(10);
      expect(types.filter((type) => kindOf(type) === 'other')).toEqual([]);
    });
  });

  it.each(Object.entries(MODIFICATION_PATHS))('maps the documented answer of %s to PENDING until the webhook', (command, [path, example]) => {
    const doc = specExample(path, '201', example) as { pspReference: string; amount?: { value: number } };
    const outcome = t.parseResponse(ctxFor(command as keyof typeof MODIFICATION_PATHS), response(201, doc), gateway);
    expect(outcome.status).toBe('PENDING');
    expect(outcome.gatewayStatus).toBe('received');
    expect(outcome.gatewayReference).toBe(doc.pspReference);
    if (doc.amount) expect(outcome.amount).toBe(doc.amount.value);
  });

  it('maps the documented stored payment method to a reusable key carrying shopper and id', () => {
    const outcome = t.parseResponse(ctxFor('tokenize'), response(201, specExample('/storedPaymentMethods', '201', 'encrypted-card-details')), gateway);
    expect(outcome).toEqual({
      status: 'SUCCESS',
      gatewayStatus: 'created',
      gatewayReference: 'KHQC5N7G84BLNK43',
      newGatewayKey: 'YOUR_SHOPPER_REFERENCE:KHQC5N7G84BLNK43',
      storedCard: { lastFour: '1111', expiryMonth: 3, expiryYear: 2030 },
    });
    expect(outcome.newGatewayKey).not.toMatch(/\d{12,}/);
  });

  it('reads the stored card of a tokenize as Adyen describes it: brand, lastFour, expiryMonth, a two-digit expiryYear as 20yy', () => {
    const stored = {
      id: 'KHQC5N7G84BLNK43',
      shopperReference: 'shopper-1',
      type: 'scheme',
      brand: 'visa',
      lastFour: '0004',
      expiryMonth: '10',
      expiryYear: '30',
    };
    expect(t.parseResponse(ctxFor('tokenize'), response(201, stored), gateway).storedCard).toEqual({
      brand: 'visa',
      lastFour: '0004',
      expiryMonth: 10,
      expiryYear: 2030,
    });
  });

  it('reads the card a payment stored from the documented additionalData: cardSummary, expiryDate M/YYYY, paymentMethod', () => {
    const ctx = ctxFor('authorize', { payment_method: { type: 'card', store: true } });
    const outcome = t.parseResponse(ctx, response(200, specExample('/payments', '200', 'split-balanceplatform')), gateway);
    expect(outcome.storedCard).toEqual({ brand: 'visa', lastFour: '1111', expiryMonth: 3, expiryYear: 2030 });
    // paymentMethod.brand (v69+) names the brand when present.
    const body = { resultCode: 'Authorised', pspReference: 'P1', paymentMethod: { type: 'scheme', brand: 'mc' }, additionalData: { cardSummary: '5454' } };
    expect(t.parseResponse(ctx, response(200, body), gateway).storedCard).toEqual({ brand: 'mc', lastFour: '5454' });
    // A brand alone is no card (Adyen names every method so).
    const ach = { resultCode: 'Authorised', pspReference: 'P2', additionalData: { paymentMethod: 'ach' } };
    expect(t.parseResponse(ctx, response(200, ach), gateway).storedCard).toBeUndefined();
    // A payment that stores nothing reports no card.
    expect(t.parseResponse(ctxFor('authorize'), response(200, body), gateway).storedCard).toBeUndefined();
  });

  it('treats an unknown resultCode as an unknown outcome, never a quiet PENDING', () => {
    const err = thrown(() => t.parseResponse(ctxFor('authorize'), response(200, { pspReference: 'P3', resultCode: 'Mystery' }), gateway));
    expect(err.kind).toBe('outcome_unknown');
  });

  it('treats a 2xx body it cannot read as an unknown outcome', () => {
    expect(thrown(() => t.parseResponse(ctxFor('capture'), response(201, '<html>'), gateway)).kind).toBe('outcome_unknown');
    expect(thrown(() => t.parseResponse(ctxFor('capture'), response(201, {}), gateway)).kind).toBe('outcome_unknown');
  });

  it.each([
    ['400', 'invalid_request'],
    ['401', 'authentication'],
    ['403', 'authentication'],
    ['422', 'invalid_request'],
    ['500', 'server_error'],
  ])('classifies the documented %s answer as %s', (status, kind) => {
    const err = thrown(() => t.parseResponse(ctxFor('authorize'), response(Number(status), specExample('/payments', status, 'generic')), gateway));
    expect(err.kind).toBe(kind);
    expect(err.details.httpStatus).toBe(Number(status));
  });

  it('never copies Adyen message text into the error', () => {
    const err = thrown(() =>
      t.parseResponse(
        ctxFor('authorize'),
        response(422, { status: 422, errorCode: '14_030', message: 'Return URL is missing for 4111111111111111', errorType: 'validation' }),
        gateway,
      ),
    );
    expect(err.message).not.toContain('4111');
    expect(err.details.gatewayCode).toBe('14_030');
  });
});

describe('Adyen status inquiry', () => {
  it.each(['authorize', 'capture'] as const)(
    'reads a 404 to the replayed %s as outcome_unknown (retryable), never as null: the replay may have landed, so it is never resent elsewhere',
    (command) => {
      const err = thrown(() => t.parseStatusResponse(ctxFor(command), response(404, { status: 404, errorCode: '000', errorType: 'validation' }), gateway));
      expect(err.kind).toBe('outcome_unknown');
      expect(err.retryable).toBe(true);
      expect(err.details).toMatchObject({ httpStatus: 404, gatewayCode: '000' });
    },
  );

  it('reads a replayed answer as the original one', () => {
    const outcome = t.parseStatusResponse(
      ctxFor('authorize'),
      response(200, specExample('/payments', '200', 'card-direct'), { 'idempotency-key': 'op-authorize-1' }),
      gateway,
    );
    expect(outcome?.status).toBe('SUCCESS');
  });

  it('still classifies other errors of the inquiry', () => {
    expect(() => t.parseStatusResponse(ctxFor('capture'), response(503, ''), gateway)).toThrow(GatewayError);
  });
});
