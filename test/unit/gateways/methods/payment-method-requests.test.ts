import { readFileSync } from 'node:fs';
import { GatewayConfig } from '../../../../src/config/config';
import { CommandType, Payment } from '../../../../src/contracts/payment-command';
import { validateCommand } from '../../../../src/contracts/command-validator';
import { CommandValidationError } from '../../../../src/errors/command-validation-error';
import { adyenTransformer } from '../../../../src/gateways/adyen';
import { resultCodeStatus } from '../../../../src/gateways/adyen/adyen-status-map';
import { cybersourceTransformer } from '../../../../src/gateways/cybersource';
import { GatewayTransformer, OperationContext } from '../../../../src/gateways/gateway-adapter';
import { stripeTransformer } from '../../../../src/gateways/stripe';
import { outcomeEvent } from '../../../../src/events/payment-event';
import { draftRecord } from '../../../../src/ledger/record-fields';
import { specPath } from '../../../support/prism';
import { testConfig } from '../../../support/test-config';

/** Each payment method's request, PSP by PSP (docs/PAYMENT-METHODS.md), and the refusals naming their field. */
function gw(type: GatewayConfig['type'], store = true): GatewayConfig {
  return {
    name: `${type}-1`,
    type,
    baseUrl: 'https://psp.example',
    apiKey: 'k',
    webhookSecret: '',
    webhookSecretPrevious: '',
    merchantAccount: 'Acct',
    merchantId: 'm',
    keyId: '',
    sharedSecret: '',
    reportUsername: '',
    reportPassword: '',
    reportBaseUrl: '',
    authorisationType: '',
    webhookPrivateKey: '',
    webhookKeyId: '',
    webhookKeyIdPrevious: '',
    timeoutMs: 1000,
    maxSockets: 1,
    storePaymentMethods: store,
  };
}

function ctx(command: CommandType, payment: Partial<Payment>): OperationContext {
  return { operationId: 'op-m-1', command, payment: { gateway: 'g', gateway_account: 'a', gateway_key: 'pm_123', amount: 5000, currency: 'EUR', ...payment } };
}

function form(t: GatewayTransformer, c: OperationContext, g: GatewayConfig): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(t.buildRequest(c, g).body));
}

function json(t: GatewayTransformer, c: OperationContext, g: GatewayConfig): Record<string, unknown> {
  return JSON.parse(t.buildRequest(c, g).body ?? '{}') as Record<string, unknown>;
}

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof CommandValidationError) return err.field;
    throw err;
  }
  throw new Error('expected a refusal');
}

const shopper = { email: 'a@example.com', country: 'DE', first_name: 'Ada', last_name: 'L' };
const lines = [{ line_number: 1, item_name: 'Lamp', item_sku: 'L-1', quantity: 2, unit_price_gross: 2500, tax_rate: 19, tax_amount: 798 }];

describe('Stripe', () => {
  const g = gw('stripe');
  it('token on first use: setup_future_usage off_session with the Customer', () => {
    const f = form(stripeTransformer, ctx('authorize', { custom_attributes: { stripe_customer: 'cus_1' }, payment_method: { type: 'card', store: true } }), g);
    expect(f).toMatchObject({ setup_future_usage: 'off_session', customer: 'cus_1', payment_method: 'pm_123', capture_method: 'manual', confirm: 'true' });
  });

  it('refuses token on first use where the gateway does not allow it, or without a Customer, naming the field', () => {
    const c = ctx('authorize', { custom_attributes: { stripe_customer: 'cus_1' }, payment_method: { type: 'card', store: true } });
    expect(refusal(() => stripeTransformer.buildRequest(c, gw('stripe', false)))).toBe('payment.payment_method.store');
    expect(refusal(() => stripeTransformer.buildRequest(ctx('authorize', { payment_method: { type: 'card', store: true } }), g))).toBe(
      'payment.custom_attributes.stripe_customer',
    );
  });

  it('a one-time card with a return_url may redirect for 3-D Secure; without one, redirects stay off', () => {
    expect(form(stripeTransformer, ctx('authorize', { payment_method: { type: 'card', return_url: 'https://s.example/r' } }), g)).toMatchObject({
      return_url: 'https://s.example/r',
    });
    expect(form(stripeTransformer, ctx('authorize', { payment_method: { type: 'card' } }), g)).toMatchObject({
      'automatic_payment_methods[allow_redirects]': 'never',
    });
  });

  it('wallets: a PaymentMethod id, or a card token as payment_method_data', () => {
    expect(form(stripeTransformer, ctx('sale', { payment_method: { type: 'apple_pay' } }), g)).toMatchObject({ payment_method: 'pm_123' });
    const tok = form(stripeTransformer, ctx('sale', { gateway_key: 'order-1', payment_method: { type: 'google_pay', token: 'tok_abc' } }), g);
    expect(tok).toMatchObject({ 'payment_method_data[type]': 'card', 'payment_method_data[card][token]': 'tok_abc' });
    expect(refusal(() => stripeTransformer.buildRequest(ctx('sale', { gateway_key: 'x', payment_method: { type: 'google_pay', token: 'eyJ' } }), g))).toBe(
      'payment.payment_method.token',
    );
  });

  it('Klarna: payment_method_types klarna, billing e-mail and country, return_url, manual capture', () => {
    const f = form(stripeTransformer, ctx('authorize', { lines, payment_method: { type: 'klarna', return_url: 'https://s.example/k', shopper } }), g);
    expect(f).toMatchObject({
      'payment_method_types[0]': 'klarna',
      'payment_method_data[type]': 'klarna',
      'payment_method_data[billing_details][email]': 'a@example.com',
      'payment_method_data[billing_details][address][country]': 'DE',
      return_url: 'https://s.example/k',
      capture_method: 'manual',
    });
    expect(f['automatic_payment_methods[enabled]']).toBeUndefined();
  });

  it('crypto: a sale only, payment_method_types crypto', () => {
    const f = form(stripeTransformer, ctx('sale', { currency: 'USD', payment_method: { type: 'crypto', return_url: 'https://s.example/c' } }), g);
    expect(f).toMatchObject({ 'payment_method_types[0]': 'crypto', 'payment_method_data[type]': 'crypto', capture_method: 'automatic' });
    expect(
      refusal(() =>
        stripeTransformer.buildRequest(ctx('authorize', { currency: 'USD', payment_method: { type: 'crypto', return_url: 'https://s.example/c' } }), g),
      ),
    ).toBe('payment.payment_method.type');
  });

  it("a subscription's first payment stores the one-time method for off-session use and is itself on-session", () => {
    const f = form(
      stripeTransformer,
      ctx('sale', { custom_attributes: { stripe_customer: 'cus_1' }, payment_method: { type: 'card', store: true }, recurring: { model: 'subscription' } }),
      g,
    );
    expect(f).toMatchObject({ payment_method: 'pm_123', customer: 'cus_1', setup_future_usage: 'off_session', confirm: 'true' });
    expect(f.off_session).toBeUndefined();
  });

  it('recurring without the Customer: refused before any call, naming payment.custom_attributes.stripe_customer', () => {
    expect(refusal(() => stripeTransformer.buildRequest(ctx('sale', { recurring: { model: 'subscription', schedule_id: 'sub-1', cycle: 2 } }), g))).toBe(
      'payment.custom_attributes.stripe_customer',
    );
    // A stored card charged with the customer there (no recurring) is left to Stripe as before.
    expect(form(stripeTransformer, ctx('sale', {}), g).customer).toBeUndefined();
  });

  it('recurring: off_session on the stored PaymentMethod', () => {
    expect(form(stripeTransformer, ctx('sale', { custom_attributes: { stripe_customer: 'cus_1' }, recurring: { model: 'subscription' } }), g)).toMatchObject({
      off_session: 'true',
      confirm: 'true',
      customer: 'cus_1',
    });
  });

  it("recurring with the first payment's network transaction id: not sent, as the pinned API version (2023-08-16) has no payment_method_options.card.mit_exemption", () => {
    const spec = JSON.parse(readFileSync(specPath('stripe-payments-2023-08-16.prism.json'), 'utf8')) as {
      paths: Record<string, { post: { requestBody: { content: Record<string, { schema: { properties: Record<string, unknown> } }> } } }>;
    };
    const options = spec.paths['/v1/payment_intents'].post.requestBody.content['application/x-www-form-urlencoded'].schema.properties
      .payment_method_options as { properties: { card: { anyOf: Array<{ properties?: Record<string, unknown> }> } } };
    // Should a newer pinned version document it, this fails: the adapter's choice is to be made again.
    expect(Object.keys(options.properties.card.anyOf[0].properties ?? {})).not.toContain('mit_exemption');
    const sent = form(
      stripeTransformer,
      ctx('sale', { custom_attributes: { stripe_customer: 'cus_1' }, recurring: { model: 'subscription', network_transaction_id: '016150703802094' } }),
      g,
    );
    expect(sent.off_session).toBe('true');
    expect(Object.values(sent)).not.toContain('016150703802094');
  });
});

describe('Adyen', () => {
  const g = gw('adyen');
  it('one-time encrypted card with token on first use: storePaymentMethod, shopperReference, recurring model, Ecommerce', () => {
    const b = json(
      adyenTransformer,
      ctx('authorize', { payment_method: { type: 'card', token: 'eyJ.jwe', store: true, shopper: { reference: 'shopper-9' } } }),
      g,
    );
    expect(b).toMatchObject({
      paymentMethod: { type: 'scheme', encryptedCard: 'eyJ.jwe' },
      storePaymentMethod: true,
      shopperReference: 'shopper-9',
      recurringProcessingModel: 'UnscheduledCardOnFile',
      shopperInteraction: 'Ecommerce',
    });
  });

  it("a subscription's first payment stores the card for Subscription, shopper there (Ecommerce), and may ask for 3-D Secure", () => {
    const c = ctx('authorize', {
      payment_method: { type: 'card', token: 'eyJ.jwe', store: true, shopper: { reference: 'shopper-9' } },
      recurring: { model: 'subscription' },
    });
    expect(json(adyenTransformer, c, g)).toMatchObject({
      storePaymentMethod: true,
      shopperReference: 'shopper-9',
      recurringProcessingModel: 'Subscription',
      shopperInteraction: 'Ecommerce',
    });
    const challenge = { status: 200, headers: {}, body: JSON.stringify({ resultCode: 'ChallengeShopper', action: { type: 'threeDS2' } }), elapsedMs: 1 };
    expect(adyenTransformer.parseResponse(c, challenge, g).status).toBe('ACTION_REQUIRED');
  });

  it('wallets carry their token as Adyen documents it, and need it', () => {
    expect(json(adyenTransformer, ctx('sale', { payment_method: { type: 'apple_pay', token: 'AP' } }), g).paymentMethod).toEqual({
      type: 'applepay',
      applePayToken: 'AP',
    });
    expect(json(adyenTransformer, ctx('sale', { payment_method: { type: 'google_pay', token: 'GP' } }), g).paymentMethod).toEqual({
      type: 'googlepay',
      googlePayToken: 'GP',
    });
    expect(refusal(() => adyenTransformer.buildRequest(ctx('sale', { payment_method: { type: 'apple_pay' } }), g))).toBe('payment.payment_method.token');
  });

  it('Klarna: lineItems per unit with tax percentage in minor units, shopper fields, manual capture', () => {
    const b = json(adyenTransformer, ctx('authorize', { lines, payment_method: { type: 'klarna', return_url: 'https://s.example/k', shopper } }), g);
    expect(b).toMatchObject({
      paymentMethod: { type: 'klarna' },
      shopperEmail: 'a@example.com',
      countryCode: 'DE',
      shopperName: { firstName: 'Ada', lastName: 'L' },
      returnUrl: 'https://s.example/k',
      lineItems: [{ id: 'L-1', description: 'Lamp', quantity: 2, amountIncludingTax: 2500, taxPercentage: 1900, taxAmount: 399 }],
      additionalData: { manualCapture: 'true' },
    });
  });

  it('a partial capture per shipment names its lines', () => {
    const b = json(
      adyenTransformer,
      ctx('capture', { gateway_key: '993617894903480A', amount: 2500, lines: [{ ...lines[0], quantity: 1, tax_amount: 399 }] }),
      g,
    );
    expect(b).toMatchObject({ amount: { value: 2500, currency: 'EUR' }, lineItems: [{ id: 'L-1', quantity: 1 }] });
  });

  it('a line of a fractional quantity goes as one item of its total: Adyen LineItem.quantity is an integer (int64)', () => {
    const weighed = [
      { line_number: 1, item_sku: 'CHEESE', item_name: 'Cheese', quantity: 2.5, unit_price_gross: 1000, tax_amount: 175, tax_rate: 7 },
      // 1075 × 0.3 is no whole number of cents: no amount is made up for it.
      { line_number: 2, item_sku: 'HAM', item_name: 'Ham', quantity: 0.3, unit_price_gross: 1075 },
      { line_number: 3, item_sku: 'MUG', item_name: 'Mug', quantity: 2, unit_price_gross: 500 },
    ];
    const b = json(adyenTransformer, ctx('capture', { gateway_key: '993617894903480A', amount: 3500, lines: weighed }), g);
    expect(b.lineItems).toEqual([
      { id: 'CHEESE', sku: 'CHEESE', description: 'Cheese', quantity: 1, amountIncludingTax: 2500, taxPercentage: 700, taxAmount: 175 },
      { id: 'HAM', sku: 'HAM', description: 'Ham', quantity: 1 },
      { id: 'MUG', sku: 'MUG', description: 'Mug', quantity: 2, amountIncludingTax: 500 },
    ]);
    for (const item of b.lineItems as Array<{ quantity: number }>) expect(Number.isSafeInteger(item.quantity)).toBe(true);
  });

  it('a weighed line whose exact total has a fraction of a cent gets the rounding the amount says, so Klarna sees the lines add up to it', () => {
    // Klarna approves only when the lineItems add up to amount.value, amountIncludingTax required (Adyen, Klarna invoice lines).
    const weighed = [
      { line_number: 1, item_sku: 'HAM', item_name: 'Ham', quantity: 0.3, unit_price_gross: 1075 },
      { line_number: 2, item_sku: 'MUG', item_name: 'Mug', quantity: 2, unit_price_gross: 500 },
      { line_number: 3, item_sku: 'CHEESE', item_name: 'Cheese', quantity: 2.5, unit_price_gross: 1000 },
    ];
    const klarna = { type: 'klarna' as const, return_url: 'https://s.example/k', shopper };
    for (const total of [322, 323]) {
      const b = json(adyenTransformer, ctx('authorize', { amount: 3500 + total, lines: weighed, payment_method: klarna }), g);
      const items = b.lineItems as Array<{ quantity: number; amountIncludingTax?: number }>;
      expect(items[0]).toEqual({ id: 'HAM', sku: 'HAM', description: 'Ham', quantity: 1, amountIncludingTax: total });
      expect(items.reduce((sum, item) => sum + (item.amountIncludingTax ?? 0) * item.quantity, 0)).toBe(3500 + total);
      const capture = json(adyenTransformer, ctx('capture', { gateway_key: '993617894903480A', amount: 3500 + total, lines: weighed }), g);
      expect((capture.lineItems as Array<{ amountIncludingTax?: number }>)[0].amountIncludingTax).toBe(total);
    }
    // An amount that is no rounding of 3.225 (shipping not a line, a discount): no total is made up.
    const other = json(adyenTransformer, ctx('authorize', { amount: 3900, lines: weighed, payment_method: klarna }), g);
    expect((other.lineItems as Array<{ amountIncludingTax?: number }>)[0].amountIncludingTax).toBeUndefined();
  });

  it('recurring: ContAuth with Subscription or UnscheduledCardOnFile on the stored card', () => {
    const sub = json(adyenTransformer, ctx('sale', { gateway_key: 'shopper-1:SPM1', recurring: { model: 'subscription' } }), g);
    expect(sub).toMatchObject({
      shopperInteraction: 'ContAuth',
      recurringProcessingModel: 'Subscription',
      shopperReference: 'shopper-1',
      paymentMethod: { storedPaymentMethodId: 'SPM1' },
    });
    const cof = json(adyenTransformer, ctx('sale', { gateway_key: 'shopper-1:SPM1', recurring: { model: 'unscheduled' } }), g);
    expect(cof.recurringProcessingModel).toBe('UnscheduledCardOnFile');
  });

  it('a merchant-initiated charge of a card Adyen tokenized quotes no network transaction id: Adyen documents additionalData.networkTxReference only for card details it did not tokenize (Checkout v71, AdditionalDataCommon)', () => {
    const recurring = { model: 'subscription' as const, schedule_id: 'sub-1', cycle: 2, network_transaction_id: '016150703802094' };
    // An authorization keeps its manual capture alone; a sale has no additionalData.
    const auth = json(adyenTransformer, ctx('authorize', { gateway_key: 'shopper-1:SPM1', recurring }), g);
    expect(auth).toMatchObject({ paymentMethod: { storedPaymentMethodId: 'SPM1' }, shopperInteraction: 'ContAuth', recurringProcessingModel: 'Subscription' });
    expect(auth.additionalData).toEqual({ manualCapture: 'true' });
    const sale = json(adyenTransformer, ctx('sale', { gateway_key: 'shopper-1:SPM1', recurring: { ...recurring, model: 'unscheduled' } }), g);
    expect(sale).toMatchObject({ recurringProcessingModel: 'UnscheduledCardOnFile', captureDelayHours: 0 });
    expect(sale.additionalData).toBeUndefined();
    // Nowhere in the body either, a stored gift card's included.
    const giftCard = json(
      adyenTransformer,
      ctx('sale', { gateway_key: 'shopper-1:SPM1', method_details: { method: 'giftcard', submethod: 'givex' }, recurring }),
      g,
    );
    expect(giftCard.paymentMethod).toMatchObject({ type: 'giftcard' });
    for (const body of [auth, sale, giftCard]) expect(JSON.stringify(body)).not.toContain('016150703802094');
  });

  it('crypto is not an Adyen method: refused naming the field', () => {
    expect(
      refusal(() => adyenTransformer.buildRequest(ctx('sale', { currency: 'USD', payment_method: { type: 'crypto', return_url: 'https://s.example/c' } }), g)),
    ).toBe('payment.payment_method.type');
  });

  it('shopper-flow result codes are ACTION_REQUIRED with a shopper there, FAIL on a merchant-initiated charge', () => {
    for (const code of ['RedirectShopper', 'ChallengeShopper', 'IdentifyShopper', 'PresentToShopper'] as const) {
      expect([resultCodeStatus(code, true), resultCodeStatus(code, false)]).toEqual(['ACTION_REQUIRED', 'FAIL']);
    }
  });

  it('hands the action object to the storefront and reads the stored token of an authorised first use', () => {
    const action = { type: 'redirect', method: 'GET', url: 'https://checkoutshopper-test.adyen.com/x', paymentMethodType: 'klarna' };
    const c = ctx('authorize', { lines, payment_method: { type: 'klarna', return_url: 'https://s.example/k', shopper } });
    const waiting = adyenTransformer.parseResponse(
      c,
      { status: 200, headers: {}, body: JSON.stringify({ resultCode: 'RedirectShopper', action }), elapsedMs: 1 },
      g,
    );
    expect(waiting).toMatchObject({ status: 'ACTION_REQUIRED', action: { kind: 'redirect', url: action.url, psp_action: action } });
    const stored = ctx('authorize', { payment_method: { type: 'card', token: 'eyJ', store: true, shopper: { reference: 'shopper-9' } } });
    const ok = adyenTransformer.parseResponse(
      stored,
      {
        status: 200,
        headers: {},
        body: JSON.stringify({ resultCode: 'Authorised', pspReference: 'PSP1', additionalData: { 'tokenization.storedPaymentMethodId': 'SPM77' } }),
        elapsedMs: 1,
      },
      g,
    );
    expect(ok.storedToken).toBe('shopper-9:SPM77');
  });
});

describe('Cybersource', () => {
  const g = gw('cybersource');
  it('token on first use: TOKEN_CREATE with the token types, on the Flex transient token', () => {
    const b = json(cybersourceTransformer, ctx('authorize', { currency: 'USD', payment_method: { type: 'card', token: 'eyJ.flex', store: true } }), g);
    expect(b).toMatchObject({
      processingInformation: { capture: false, actionList: ['TOKEN_CREATE'], actionTokenTypes: ['customer', 'paymentInstrument', 'instrumentIdentifier'] },
      tokenInformation: { transientTokenJwt: 'eyJ.flex' },
    });
    expect(b.paymentInformation).toBeUndefined();
  });

  it("a subscription's first payment: TOKEN_CREATE, credentialStoredOnFile and firstRecurringPayment, no merchant-initiated flags", () => {
    const c = ctx('authorize', { currency: 'USD', payment_method: { type: 'card', token: 'eyJ.flex', store: true }, recurring: { model: 'subscription' } });
    const processing = json(cybersourceTransformer, c, g).processingInformation as Record<string, unknown>;
    expect(processing).toEqual({
      capture: false,
      actionList: ['TOKEN_CREATE'],
      actionTokenTypes: ['customer', 'paymentInstrument', 'instrumentIdentifier'],
      authorizationOptions: { initiator: { credentialStoredOnFile: true } },
      recurringOptions: { firstRecurringPayment: true },
    });
    // The customer is there: a gateway that authenticates cardholders does so on this payment.
    const withAuth = json(cybersourceTransformer, c, { ...g, payerAuthentication: true }).processingInformation as Record<string, unknown>;
    expect(withAuth.actionList).toEqual(['CONSUMER_AUTHENTICATION', 'TOKEN_CREATE']);
    const unscheduled = { ...c, payment: { ...c.payment, recurring: { model: 'unscheduled' as const } } };
    expect((json(cybersourceTransformer, unscheduled, g).processingInformation as Record<string, unknown>).recurringOptions).toBeUndefined();
  });

  it('recurring: merchant-initiated stored-credential flags and the commerce indicator', () => {
    const b = json(
      cybersourceTransformer,
      ctx('sale', { currency: 'USD', gateway_key: 'TOKEN1', recurring: { model: 'subscription', network_transaction_id: '0161507' } }),
      g,
    );
    expect(b).toMatchObject({
      processingInformation: {
        capture: true,
        commerceIndicator: 'recurring',
        authorizationOptions: {
          initiator: { type: 'merchant', storedCredentialUsed: true, merchantInitiatedTransaction: { previousTransactionId: '0161507' } },
        },
      },
      paymentInformation: { customer: { customerId: 'TOKEN1' } },
    });
  });

  it('reads the TMS customer created with the payment as the token', () => {
    const c = ctx('authorize', { currency: 'USD', payment_method: { type: 'card', token: 'eyJ', store: true } });
    const body = {
      id: '700',
      status: 'AUTHORIZED',
      tokenInformation: { customer: { id: 'CUST9' } },
      orderInformation: { amountDetails: { authorizedAmount: '50.00', currency: 'USD' } },
    };
    expect(cybersourceTransformer.parseResponse(c, { status: 201, headers: {}, body: JSON.stringify(body), elapsedMs: 1 }, g).storedToken).toBe('CUST9');
  });
});

describe('the command contract per method type', () => {
  const base = { version: 1, channel: 'web', received_at: new Date().toISOString() };
  const pay = (p: Record<string, unknown>) => ({ gateway: 'stripe', gateway_account: 'a', gateway_key: 'pm_1', amount: 5000, currency: 'EUR', ...p });
  const fieldOf = (message: unknown): string => refusal(() => validateCommand(message));

  it('Klarna needs lines, the shopper e-mail and country, and a return_url', () => {
    expect(fieldOf({ ...base, command: 'authorize', payment: pay({ payment_method: { type: 'klarna', return_url: 'https://s.example/k', shopper } }) })).toBe(
      'payment.lines',
    );
    expect(
      fieldOf({
        ...base,
        command: 'authorize',
        payment: pay({ lines, payment_method: { type: 'klarna', return_url: 'https://s.example/k', shopper: { country: 'DE' } } }),
      }),
    ).toBe('payment.payment_method.shopper.email');
    expect(() =>
      validateCommand({
        ...base,
        command: 'authorize',
        payment: pay({ lines, payment_method: { type: 'klarna', return_url: 'https://s.example/k', shopper } }),
      }),
    ).not.toThrow();
  });

  it('crypto is USD; a return_url is https; a one-time method is recurring only when stored with this payment; unknown method types are refused', () => {
    expect(fieldOf({ ...base, command: 'sale', payment: pay({ payment_method: { type: 'crypto', return_url: 'https://s.example/c' } }) })).toBe(
      'payment.currency',
    );
    expect(fieldOf({ ...base, command: 'sale', payment: pay({ payment_method: { type: 'card', return_url: 'http://s.example/c' } }) })).toBe(
      'payment.payment_method.return_url',
    );
    expect(fieldOf({ ...base, command: 'sale', payment: pay({ payment_method: { type: 'card' }, recurring: { model: 'subscription' } }) })).toBe(
      'payment.payment_method.type',
    );
    // Stored with this payment, a one-time method names the agreement it is stored for: the first payment.
    expect(() =>
      validateCommand({ ...base, command: 'sale', payment: pay({ payment_method: { type: 'card', store: true }, recurring: { model: 'subscription' } }) }),
    ).not.toThrow();
    expect(fieldOf({ ...base, command: 'sale', payment: pay({ payment_method: { type: 'paypal' } }) })).toBe('payment.payment_method.type');
  });

  it('never echoes the one-time token on an event', () => {
    const command = validateCommand({
      ...base,
      command: 'sale',
      payment: pay({ gateway: 'simulator', operation_reference: 'op-tok-1', payment_method: { type: 'apple_pay', token: 'APPLE-TOKEN-BLOB' } }),
    });
    const record = { ...draftRecord('op-tok-1', command, Date.now()), state: 'SUCCEEDED' as const };
    const event = outcomeEvent(record, testConfig());
    expect(JSON.stringify(event)).not.toContain('APPLE-TOKEN-BLOB');
    expect(event?.params.payment).toMatchObject({ payment_method: { type: 'apple_pay' } });
  });
});
