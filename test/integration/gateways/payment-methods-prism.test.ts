import { NO_CREDENTIALS } from '../../support/gateway-credentials';
import { AxiosInstance } from 'axios';
import { GatewayConfig } from '../../../src/config/config';
import { CommandType, Payment } from '../../../src/contracts/payment-command';
import { adyenTransformer } from '../../../src/gateways/adyen';
import { cybersourceTransformer } from '../../../src/gateways/cybersource';
import { GatewayRequest, GatewayTransformer, OperationContext } from '../../../src/gateways/gateway-adapter';
import { stripeTransformer } from '../../../src/gateways/stripe';
import { createOutboundHttp } from '../../../src/http/axios-http';
import { PrismMock, PrismViolation, requestViolations, startPrism } from '../../support/prism';

/**
 * Every payment method's requests (docs/PAYMENT-METHODS.md) against the PSP's official spec in Prism, one
 * Prism at a time: one-time cards, token on first use, wallets, Klarna with its partial capture, crypto,
 * and merchant-initiated recurring charges. No request violation means the PSP's spec accepts the shape.
 */
const BASE: Omit<GatewayConfig, 'name' | 'type' | 'baseUrl'> = {
  ...NO_CREDENTIALS,
  apiKey: 'sk_test_prism_methods_0123456789',
  webhookSecret: 'whsec_prism',
  merchantAccount: 'PrismMerchantAccount',
  merchantId: 'prism_merchant',
  keyId: '08d6a0e4-7a4c-4d3e-9c43-1f0c2b7d9e10',
  sharedSecret: Buffer.from('prism-shared-secret-0123456789abcdef').toString('base64'),
  timeoutMs: 10000,
  maxSockets: 4,
  storePaymentMethods: true,
};

const KLARNA_LINES: Payment['lines'] = [
  { line_number: 1, item_name: 'Rain jacket', item_sku: 'JKT-1', quantity: 1, unit_price_gross: 8000, tax_rate: 21, tax_amount: 1388 },
  { line_number: 2, item_name: 'Wool socks', item_sku: 'SCK-2', quantity: 2, unit_price_gross: 1000, tax_rate: 21, tax_amount: 348 },
];
const SHOPPER = {
  reference: 'shopper-0042',
  email: 's.hopper@example.com',
  country: 'NL',
  locale: 'nl-NL',
  first_name: 'Sam',
  last_name: 'Hopper',
  telephone: '+31 20 555 0100',
  billing_address: { street: 'Keizersgracht', house_number: '12', postal_code: '1015 CJ', city: 'Amsterdam', country: 'NL' },
};

function ctx(command: CommandType, gateway: string, payment: Partial<Payment>, n: string): OperationContext {
  return {
    operationId: `op-prism-methods-${n}`,
    command,
    payment: { gateway, gateway_account: 'default', gateway_key: 'k', amount: 10000, currency: 'EUR', order_id: 'ORD-M-1', ...payment },
  };
}

async function run(
  prismFile: string,
  t: GatewayTransformer,
  gatewayBase: Pick<GatewayConfig, 'name' | 'type'>,
  cases: ReadonlyArray<readonly [string, OperationContext]>,
): Promise<void> {
  let prism: PrismMock;
  let http: AxiosInstance;
  let gateway: GatewayConfig;

  beforeAll(async () => {
    prism = await startPrism(prismFile, 120_000);
    gateway = { ...BASE, ...gatewayBase, baseUrl: prism.url };
    http = createOutboundHttp({ baseURL: prism.url, timeoutMs: 10000, maxSockets: 4 });
  }, 150_000);

  afterAll(async () => {
    await prism?.stop();
  });

  async function send(request: GatewayRequest): Promise<{ status: number; violations: PrismViolation[] | undefined }> {
    const signed = t.authenticate(request, gateway, new Date());
    const { host: _host, ...headers } = signed.headers;
    const res = await http.request({ method: signed.method, url: signed.path, headers, data: signed.body });
    return { status: res.status, violations: requestViolations(res.headers['sl-violations'] as string | undefined) };
  }

  it.each(cases)('%s: the spec accepts the request', async (_label, c) => {
    const { status, violations } = await send(t.buildRequest(c, gateway));
    expect(violations).toBeUndefined();
    expect(status).toBeLessThan(400);
  });
}

describe('Stripe payment methods (Prism, 2023-08-16)', () => {
  const g = 'stripe-prism';
  const customer = { stripe_customer: 'cus_OTbK4yAhPz9Xr1' };
  void run('stripe-payments-2023-08-16.prism.json', stripeTransformer, { name: g, type: 'stripe' }, [
    [
      'one-time card, 3-D Secure capable, token on first use',
      ctx(
        'authorize',
        g,
        {
          gateway_key: 'pm_1NgB1q2eZvKYlo2CmTlPgL8w',
          custom_attributes: customer,
          payment_method: { type: 'card', store: true, return_url: 'https://shop.example/3ds' },
        },
        's1',
      ),
    ],
    ['Apple Pay PaymentMethod', ctx('sale', g, { gateway_key: 'pm_1NgB1q2eZvKYlo2CmTlPgL8w', payment_method: { type: 'apple_pay' } }, 's2')],
    [
      'Google Pay card token',
      ctx('authorize', g, { gateway_key: 'gpay-order-1', payment_method: { type: 'google_pay', token: 'tok_1NgB1q2eZvKYlo2CmTlPgL8w' } }, 's3'),
    ],
    [
      'Klarna authorization',
      ctx('authorize', g, { lines: KLARNA_LINES, payment_method: { type: 'klarna', return_url: 'https://shop.example/klarna', shopper: SHOPPER } }, 's4'),
    ],
    ['Klarna partial capture (one shipment)', ctx('capture', g, { gateway_key: 'pi_3NgB1r2eZvKYlo2C0kLq4ZxY', amount: 8000 }, 's5')],
    ['crypto (stablecoin) sale', ctx('sale', g, { currency: 'USD', payment_method: { type: 'crypto', return_url: 'https://shop.example/crypto' } }, 's6')],
    [
      'recurring subscription charge, off-session',
      ctx(
        'sale',
        g,
        { gateway_key: 'pm_1NgB1q2eZvKYlo2CmTlPgL8w', custom_attributes: customer, recurring: { model: 'subscription', schedule_id: 'sub-1', cycle: 3 } },
        's7',
      ),
    ],
  ]);
});

describe('Adyen payment methods (Prism, Checkout v71)', () => {
  const g = 'adyen-prism';
  const jwe = 'eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.prism-jwe';
  void run('adyen-checkout-v71.json', adyenTransformer, { name: g, type: 'adyen' }, [
    [
      'one-time encrypted card, token on first use',
      ctx(
        'authorize',
        g,
        { payment_method: { type: 'card', token: jwe, store: true, return_url: 'https://shop.example/3ds', shopper: { reference: 'shopper-0042' } } },
        'a1',
      ),
    ],
    ['Apple Pay token', ctx('sale', g, { payment_method: { type: 'apple_pay', token: 'eyJ2ZXJzaW9uIjoiRUNfdjEiLCJkYXRhIjoiLi4uIn0=' } }, 'a2')],
    [
      'Google Pay token',
      ctx('authorize', g, { payment_method: { type: 'google_pay', token: '{"signature":"MEUCIQ","protocolVersion":"ECv2","signedMessage":"{}"}' } }, 'a3'),
    ],
    [
      'Klarna authorization with lines and shopper',
      ctx(
        'authorize',
        g,
        {
          lines: KLARNA_LINES,
          method_details: { submethod: 'klarna_account' },
          payment_method: { type: 'klarna', return_url: 'https://shop.example/klarna', shopper: SHOPPER },
        },
        'a4',
      ),
    ],
    ['Klarna partial capture with its lineItems', ctx('capture', g, { gateway_key: '993617894903480A', amount: 8000, lines: KLARNA_LINES.slice(0, 1) }, 'a5')],
    [
      'recurring subscription on a stored card (ContAuth)',
      ctx('sale', g, { gateway_key: 'shopper-0042:8416039902646530', recurring: { model: 'subscription', cycle: 2 } }, 'a6'),
    ],
    ['unscheduled card-on-file charge', ctx('authorize', g, { gateway_key: 'shopper-0042:8416039902646530', recurring: { model: 'unscheduled' } }, 'a7')],
    [
      "a merchant-initiated charge whose command carries the first payment's network transaction id (not sent: an Adyen token)",
      ctx(
        'authorize',
        g,
        { gateway_key: 'shopper-0042:8416039902646530', recurring: { model: 'unscheduled', network_transaction_id: '016150703802094' } },
        'a9',
      ),
    ],
    [
      "a subscription's first payment, storing the card for Subscription (Ecommerce)",
      ctx(
        'authorize',
        g,
        { payment_method: { type: 'card', token: jwe, store: true, shopper: { reference: 'shopper-0042' } }, recurring: { model: 'subscription' } },
        'a8',
      ),
    ],
  ]);
});

describe('Cybersource payment methods (Prism, 2020-02-17)', () => {
  const g = 'cybs-prism';
  void run('cybersource-payments-2020-02-17.json', cybersourceTransformer, { name: g, type: 'cybersource' }, [
    [
      'Flex transient token, token on first use (TOKEN_CREATE)',
      ctx('authorize', g, { currency: 'USD', payment_method: { type: 'card', token: 'eyJraWQiOiJ0cmFuc2llbnQifQ.e30.sig', store: true } }, 'c1'),
    ],
    [
      'recurring subscription, merchant-initiated on the stored token',
      ctx(
        'sale',
        g,
        { currency: 'USD', gateway_key: 'AB695DA801DD1BB6E05341588E0A3BDC', recurring: { model: 'subscription', network_transaction_id: '016150703802094' } },
        'c2',
      ),
    ],
    [
      'unscheduled card-on-file, merchant-initiated',
      ctx('authorize', g, { currency: 'USD', gateway_key: 'AB695DA801DD1BB6E05341588E0A3BDC', recurring: { model: 'unscheduled' } }, 'c3'),
    ],
    [
      "a subscription's first payment (TOKEN_CREATE, firstRecurringPayment)",
      ctx(
        'authorize',
        g,
        { currency: 'USD', payment_method: { type: 'card', token: 'eyJraWQiOiJ0cmFuc2llbnQifQ.e30.sig', store: true }, recurring: { model: 'subscription' } },
        'c4',
      ),
    ],
  ]);
});
