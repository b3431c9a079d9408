import { Payment } from '../../../src/contracts/payment-command';
import { pspBoundMethodField } from '../../../src/contracts/payment-method';
import { MethodBinding } from '../../../src/routing/method-binding';
import { testConfig } from '../../support/test-config';

const STRIPE_KEY = 'sk_test_binding_0123456789';
const STRIPE_HOOK = 'whsec_bindingTest0123456789abcdefXYZ';
const ADYEN_HOOK = '00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF';
const adyen = (merchantAccount: string, key = 'adyen-binding-key-0123456789') => ({
  type: 'adyen',
  base_url: 'http://127.0.0.1:9',
  api_key: key,
  merchant_account: merchantAccount,
  webhook_secret: ADYEN_HOOK,
});
const sim = (url: string, key: string) => ({ type: 'simulator', base_url: url, api_key: key, webhook_secret: 'whsec-binding-test-0123456789' });

/** Gateway entries of every kind the binding tells apart. */
const binding = new MethodBinding(
  testConfig({
    gateways: {
      stripe: { type: 'stripe', base_url: 'https://api.stripe.com', api_key: STRIPE_KEY, webhook_secret: STRIPE_HOOK },
      // Same account, same key, another endpoint and timeout: one vault.
      stripe_backup: { type: 'stripe', base_url: 'http://127.0.0.1:9', api_key: STRIPE_KEY, webhook_secret: STRIPE_HOOK, timeout_ms: 3000 },
      // Another key (maybe of the same account: the configuration cannot show it).
      stripe_other: { type: 'stripe', base_url: 'https://api.stripe.com', api_key: 'sk_test_binding_other_0123456789', webhook_secret: STRIPE_HOOK },
      // The same key acting as a Connect account: another account's vault.
      stripe_connect: {
        type: 'stripe',
        base_url: 'https://api.stripe.com',
        api_key: STRIPE_KEY,
        merchant_account: 'acct_1Binding',
        webhook_secret: STRIPE_HOOK,
      },
      adyen: adyen('AcmeEU'),
      adyen_us: adyen('AcmeUS'),
      cybersource: {
        type: 'cybersource',
        base_url: 'http://127.0.0.1:9',
        merchant_id: 'acme_binding',
        key_id: '11111111-2222-3333-4444-555555555555',
        shared_secret: 'c2hhcmVkLXNlY3JldC1iaW5kaW5nLTAxMjM0NTY3ODk=',
      },
      sim_a: sim('http://127.0.0.1:9', 'sim-binding-a-0123456789'),
      sim_a2: sim('http://127.0.0.1:9', 'sim-binding-a-0123456789'),
      sim_b: sim('http://127.0.0.1:19', 'sim-binding-b-0123456789'),
    },
  }).gateways,
);

function payment(fields: Partial<Payment>): Payment {
  return { gateway: 'stripe', gateway_account: 'acme', gateway_key: 'pm_1Stored', amount: 1000, currency: 'EUR', ...fields };
}

describe('which method data is bound to its PSP (pspBoundMethodField)', () => {
  test.each([
    ['a stored card (the default): the PSP token in gateway_key', {}, 'payment.gateway_key'],
    ['a stored card, named', { payment_method: { type: 'stored_card' } }, 'payment.gateway_key'],
    ['a one-time Stripe card (pm_ from Stripe.js)', { payment_method: { type: 'card' } }, 'payment.gateway_key'],
    ['an Adyen encrypted card', { payment_method: { type: 'card', token: 'eyJhbGciOiJSU0EtT0FFUCJ9.jwe' } }, 'payment.payment_method.token'],
    ['a wallet token', { payment_method: { type: 'apple_pay', token: '{"paymentData":{}}' } }, 'payment.payment_method.token'],
    ['a Stripe wallet PaymentMethod', { payment_method: { type: 'google_pay' } }, 'payment.gateway_key'],
    [
      'an Adyen gift card',
      { payment_method: { type: 'gift_card', token: 'adyenjs_gc', encrypted_security_code: 'adyenjs_pin' } },
      'payment.payment_method.token',
    ],
    [
      'an encrypted PIN alone',
      { payment_method: { type: 'gift_card', encrypted_security_code: 'adyenjs_pin' } },
      'payment.payment_method.encrypted_security_code',
    ],
    ['Klarna: the PSP creates the method from the shopper', { payment_method: { type: 'klarna' } }, null],
    ['crypto: the same', { payment_method: { type: 'crypto' } }, null],
  ] as const)('%s', (_what, fields, field) => {
    expect(pspBoundMethodField(payment(fields as Partial<Payment>))).toBe(field);
  });
});

describe('MethodBinding: which candidates can use the method data', () => {
  test('a Stripe PaymentMethod stays in its account: the named entry and an entry with the same key and account', () => {
    const p = payment({});
    expect(binding.unusableAt(p, 'stripe')).toBeNull();
    expect(binding.unusableAt(p, 'stripe_backup')).toBeNull();
    expect(binding.unusableAt(p, 'stripe_other')).toBe('payment.gateway_key');
    expect(binding.unusableAt(p, 'stripe_connect')).toBe('payment.gateway_key');
    expect(binding.unusableAt(p, 'adyen')).toBe('payment.gateway_key');
    expect(binding.unusableAt(p, 'cybersource')).toBe('payment.gateway_key');
    expect(binding.unusableAt(p, 'sim_a')).toBe('payment.gateway_key');
  });

  test('an Adyen encrypted card goes to no other merchant account and no other PSP', () => {
    const p = payment({ gateway: 'adyen', gateway_key: 'ORDER-1', payment_method: { type: 'card', token: 'eyJhbGciOiJSU0EtT0FFUCJ9.jwe' } });
    expect(binding.unusableAt(p, 'adyen')).toBeNull();
    expect(binding.unusableAt(p, 'adyen_us')).toBe('payment.payment_method.token');
    expect(binding.unusableAt(p, 'stripe')).toBe('payment.payment_method.token');
    // The simulator would not read the token, but it was encrypted for Adyen: the named side says so.
    expect(binding.unusableAt(p, 'sim_a')).toBe('payment.payment_method.token');
  });

  test('a Cybersource transient token stays with its merchant id', () => {
    const p = payment({ gateway: 'cybersource', gateway_key: 'ORDER-2', payment_method: { type: 'card', token: 'eyJraWQiOiJmbGV4In0.jwt' } });
    expect(binding.unusableAt(p, 'stripe')).toBe('payment.payment_method.token');
    expect(binding.unusableAt(p, 'adyen')).toBe('payment.payment_method.token');
  });

  test('Klarna goes to any gateway that offers it', () => {
    const p = payment({ gateway_key: 'ORDER-3', payment_method: { type: 'klarna' } });
    expect(binding.unusableAt(p, 'adyen')).toBeNull();
    expect(binding.unusableAt(p, 'stripe_other')).toBeNull();
  });

  test('the simulator: its test payment methods go to any simulator, never to a real PSP; a token it issued stays in its process', () => {
    const testCard = payment({ gateway: 'sim_a', gateway_key: 'pm_card_visa' });
    expect(binding.unusableAt(testCard, 'sim_b')).toBeNull();
    // Stripe would read it as its own PaymentMethod: a value the simulator made is not Stripe's.
    expect(binding.unusableAt(testCard, 'stripe')).toBe('payment.gateway_key');
    const token = payment({ gateway: 'sim_a', gateway_key: 'tok_0123' });
    expect(binding.unusableAt(token, 'sim_b')).toBe('payment.gateway_key');
    expect(binding.unusableAt(token, 'sim_a2')).toBeNull();
    expect(binding.unusableAt(payment({ gateway: 'sim_a', gateway_key: 'gc_demo_5000' }), 'sim_b')).toBe('payment.gateway_key');
  });

  test('a named gateway we lack: its data counts as a real PSP token, so it goes nowhere else', () => {
    const p = payment({ gateway: 'legacy' });
    expect(binding.unusableAt(p, 'legacy')).toBeNull();
    expect(binding.unusableAt(p, 'stripe')).toBe('payment.gateway_key');
    expect(binding.unusableAt(payment({ gateway: 'legacy', payment_method: { type: 'klarna' } }), 'stripe')).toBeNull();
  });

  test('filter: keeps the usable candidates in order, names each dropped one and the field', () => {
    expect(binding.filter(payment({}), ['adyen', 'stripe', 'sim_b', 'stripe_backup'])).toEqual({
      usable: ['stripe', 'stripe_backup'],
      dropped: ['method_bound:adyen', 'method_bound:sim_b'],
      field: 'payment.gateway_key',
    });
    expect(binding.filter(payment({}), ['stripe_backup', 'stripe'])).toEqual({ usable: ['stripe_backup', 'stripe'], dropped: [] });
  });
});

describe('MethodBinding: a Stripe Customer (custom_attributes.stripe_customer) is an object of one Stripe account', () => {
  const klarna = (fields: Partial<Payment> = {}) =>
    payment({ gateway_key: 'ORDER-4', payment_method: { type: 'klarna' }, custom_attributes: { stripe_customer: 'cus_Q9xyz' }, ...fields });

  test('a Stripe entry of another account would send it (No such customer): dropped, naming the attribute; its own vault takes it', () => {
    const p = klarna();
    expect(binding.unusableAt(p, 'stripe_backup')).toBeNull();
    expect(binding.unusableAt(p, 'stripe_other')).toBe('payment.custom_attributes.stripe_customer');
    expect(binding.unusableAt(p, 'stripe_connect')).toBe('payment.custom_attributes.stripe_customer');
  });

  test('a gateway that never sends it (Adyen, the simulator) still takes a one-off portable payment', () => {
    expect(binding.unusableAt(klarna(), 'adyen')).toBeNull();
    expect(binding.unusableAt(klarna(), 'sim_a')).toBeNull();
  });

  test('a payment that saves its method to the Customer (payment_method.store) stays in its vault, whoever would not read it', () => {
    const p = klarna({ payment_method: { type: 'klarna', store: true } });
    expect(binding.unusableAt(p, 'adyen')).toBe('payment.custom_attributes.stripe_customer');
    expect(binding.unusableAt(p, 'sim_a')).toBe('payment.custom_attributes.stripe_customer');
    expect(binding.unusableAt(p, 'stripe_backup')).toBeNull();
  });

  test('read in the list form the bus may send, as Stripe reads it', () => {
    const p = klarna({ custom_attributes: [{ name: 'stripe_customer', value: 'cus_Q9xyz' }] });
    expect(binding.unusableAt(p, 'stripe_other')).toBe('payment.custom_attributes.stripe_customer');
  });

  test('named at another PSP, the Customer is of no Stripe account we can tell: no Stripe entry takes it', () => {
    const p = klarna({ gateway: 'adyen' });
    expect(binding.unusableAt(p, 'stripe')).toBe('payment.custom_attributes.stripe_customer');
    expect(binding.unusableAt(p, 'adyen_us')).toBeNull();
  });

  test('a stored PaymentMethod with its Customer: the token is named first', () => {
    const p = payment({ custom_attributes: { stripe_customer: 'cus_Q9xyz' }, recurring: { model: 'unscheduled' } });
    expect(binding.unusableAt(p, 'stripe_other')).toBe('payment.gateway_key');
    expect(binding.unusableAt(p, 'stripe_backup')).toBeNull();
  });
});

describe('MethodBinding: Adyen shopper_reference is the merchant’s own name, bound only with a stored token', () => {
  const adyenPayment = (fields: Partial<Payment>) => payment({ gateway: 'adyen', custom_attributes: { shopper_reference: 'shopper-42' }, ...fields });

  test('first tokenization (a one-time method stored under it) is portable as the method is', () => {
    const p = adyenPayment({ gateway_key: 'ORDER-5', payment_method: { type: 'klarna', store: true } });
    expect(binding.unusableAt(p, 'adyen_us')).toBeNull();
    expect(binding.unusableAt(p, 'stripe')).toBeNull();
  });

  test('beside a bare storedPaymentMethodId it goes where the token goes: nowhere but its merchant account', () => {
    const p = adyenPayment({ gateway_key: '8415718415172200' });
    expect(binding.unusableAt(p, 'adyen_us')).toBe('payment.gateway_key');
  });
});

describe('MethodBinding: vaults the operator declares (gateways.<name>.vault)', () => {
  const declared = new MethodBinding(
    testConfig({
      gateways: {
        stripe: { type: 'stripe', base_url: 'https://api.stripe.com', api_key: STRIPE_KEY, webhook_secret: STRIPE_HOOK, vault: 'acme-stripe' },
        // A restricted key of the same account: the configuration cannot show it, the declaration does.
        stripe_rk: {
          type: 'stripe',
          base_url: 'https://api.stripe.com',
          api_key: 'rk_test_binding_0123456789',
          webhook_secret: STRIPE_HOOK,
          vault: 'acme-stripe',
        },
        // The same key as `stripe`, no declaration: in the vault its account and key are in.
        stripe_backup: { type: 'stripe', base_url: 'http://127.0.0.1:9', api_key: STRIPE_KEY, webhook_secret: STRIPE_HOOK },
        stripe_other: { type: 'stripe', base_url: 'https://api.stripe.com', api_key: 'sk_test_binding_other_0123456789', webhook_secret: STRIPE_HOOK },
        // Two merchant accounts of one Adyen company that share stored tokens.
        adyen: { ...adyen('AcmeEU'), vault: 'acme-adyen' },
        adyen_us: { ...adyen('AcmeUS'), vault: 'acme-adyen' },
        adyen_apac: adyen('AcmeAPAC'),
      },
    }).gateways,
  );

  test('entries declaring one vault take each other’s tokens and Customers; others stay apart', () => {
    const stored = payment({ custom_attributes: { stripe_customer: 'cus_Q9xyz' } });
    expect(declared.unusableAt(stored, 'stripe_rk')).toBeNull();
    expect(declared.unusableAt(stored, 'stripe_backup')).toBeNull();
    expect(declared.unusableAt(payment({ gateway: 'stripe_backup' }), 'stripe_rk')).toBeNull();
    expect(declared.unusableAt(stored, 'stripe_other')).toBe('payment.gateway_key');
    expect(declared.unusableAt(stored, 'adyen')).toBe('payment.gateway_key');
    const jwe = payment({ gateway: 'adyen', gateway_key: 'ORDER-6', payment_method: { type: 'card', token: 'eyJhbGciOiJSU0EtT0FFUCJ9.jwe' } });
    expect(declared.unusableAt(jwe, 'adyen_us')).toBeNull();
    expect(declared.unusableAt(jwe, 'adyen_apac')).toBe('payment.payment_method.token');
  });

  test('groups: declared by name, else by account and key, in configuration order', () => {
    expect(declared.groups).toEqual([
      { name: 'acme-stripe', source: 'declared', type: 'stripe', gateways: ['stripe', 'stripe_rk', 'stripe_backup'] },
      { name: 'stripe_other', source: 'configuration', type: 'stripe', gateways: ['stripe_other'] },
      { name: 'acme-adyen', source: 'declared', type: 'adyen', gateways: ['adyen', 'adyen_us'] },
      { name: 'adyen_apac', source: 'configuration', type: 'adyen', gateways: ['adyen_apac'] },
    ]);
  });
});
