import { RoutingConfig } from '../../../src/config/routing-config';
import { Payment } from '../../../src/contracts/payment-command';
import { MerchantAgreements } from '../../../src/routing/merchant-agreements';
import { RoutingFacts, RoutingTable } from '../../../src/routing/routing-rules';
import { testConfig } from '../../support/test-config';

const NOW = Date.parse('2026-06-01T12:00:00Z');

/** The routing block as the configuration loader builds it (schema defaults applied). */
function routing(overrides: Record<string, unknown>): RoutingConfig {
  return testConfig({
    gateways: {
      stripe: { type: 'stripe', base_url: 'http://127.0.0.1:9', api_key: 'sk_test_rules_0123456789', webhook_secret: 'whsec_rulesTest0123456789abcdefXYZ' },
      adyen: {
        type: 'adyen',
        base_url: 'http://127.0.0.1:9',
        api_key: 'adyen-rules-key-0123456789',
        merchant_account: 'AcmeEU',
        webhook_secret: '00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF',
      },
      sim: { type: 'simulator', base_url: 'http://127.0.0.1:9', api_key: 'sim-rules-key-0123456789', webhook_secret: 'whsec-rules-test-0123456789' },
    },
    ...overrides,
  }).routing;
}

function facts(payment: Partial<Payment> = {}, more: Partial<RoutingFacts> = {}): RoutingFacts {
  return {
    command: 'authorize',
    channel: 'web',
    payment: { gateway: 'stripe', gateway_account: 'acme-eu', gateway_key: 'pm_card_visa', amount: 1000, currency: 'EUR', ...payment },
    ...more,
  };
}

const RULES = [
  { name: 'big-usd', when: { currencies: ['USD'], min_amount: 100000 }, gateways: ['adyen'] },
  {
    name: 'eu-cards',
    when: { commands: ['authorize', 'sale'], currencies: ['EUR'], methods: ['card'], countries: ['DE', 'FR'] },
    gateways: ['adyen', 'stripe'],
  },
  { name: 'pos', when: { channels: ['pos'] }, gateways: ['sim'] },
  { name: 'small', when: { currencies: ['EUR', 'USD'], max_amount: 500 }, gateways: ['sim', 'stripe'] },
];

describe('routing decision table', () => {
  const table = new RoutingTable(routing({ 'routing.rules': RULES }));
  const card = { method_details: { method: 'card' }, custom_attributes: { country: 'de' } };

  test.each([
    ['USD 1000.00 → big-usd', { currency: 'USD', amount: 100000 }, {}, 'big-usd', ['adyen']],
    ['USD 999.99 (below min_amount) → default', { currency: 'USD', amount: 99999 }, {}, undefined, ['stripe']],
    ['EUR card in DE → eu-cards', { ...card }, {}, 'eu-cards', ['adyen', 'stripe']],
    [
      'EUR card in FR, list-form attribute → eu-cards',
      { method_details: { method: 'CARD' }, custom_attributes: [{ name: 'country', value: 'FR' }] },
      {},
      'eu-cards',
      ['adyen', 'stripe'],
    ],
    ['EUR card in US → not eu-cards', { method_details: { method: 'card' }, custom_attributes: { country: 'US' } }, {}, undefined, ['stripe']],
    ['EUR card without a country → not eu-cards', { method_details: { method: 'card' } }, {}, undefined, ['stripe']],
    ['EUR paypal in DE → not eu-cards', { method_details: { method: 'paypal' }, custom_attributes: { country: 'DE' } }, {}, undefined, ['stripe']],
    ['EUR card in DE but a refund → not eu-cards', { ...card }, { command: 'refund' as const }, undefined, ['stripe']],
    ['POS channel → pos', {}, { channel: 'pos' as const }, 'pos', ['sim']],
    ['5.00 → small (inclusive max)', { amount: 500 }, {}, 'small', ['sim', 'stripe']],
    ['5.01 → default', { amount: 501 }, {}, undefined, ['stripe']],
    ['500 JPY (not 5.00) → not small', { currency: 'JPY', amount: 500 }, {}, undefined, ['stripe']],
  ])('%s', (_name, payment, more, rule, candidates) => {
    const result = table.decide(facts(payment, more), NOW);
    expect(result.rule).toBe(rule);
    expect(result.candidates).toEqual(candidates);
  });

  test('the first matching rule wins and every rule before it is listed with why it did not match', () => {
    const result = table.decide(facts({ amount: 400, ...card }), NOW);
    expect(result.rule).toBe('eu-cards');
    expect(result.evaluated).toEqual([
      { rule: 'big-usd', matched: false, why: 'currency EUR not in [USD]' },
      { rule: 'eu-cards', matched: true },
    ]);
  });

  test('no rules and no agreements: the table is inactive and routes to payment.gateway', () => {
    const empty = new RoutingTable(routing({}));
    expect(empty.active).toBe(false);
    expect(empty.decide(facts(), NOW)).toEqual({ candidates: ['stripe'], rule: undefined, evaluated: [], dropped: [] });
  });

  test('merchants and the command gateway are conditions too', () => {
    const t = new RoutingTable(
      routing({ 'routing.rules': [{ name: 'acme-stripe', when: { merchants: ['acme-eu'], gateways: ['stripe'] }, gateways: ['adyen'] }] }),
    );
    expect(t.decide(facts(), NOW).rule).toBe('acme-stripe');
    expect(t.decide(facts({ gateway_account: 'other' }), NOW).rule).toBeUndefined();
    expect(t.decide(facts({ gateway: 'sim' }), NOW).candidates).toEqual(['sim']);
  });
});

describe('per-currency amount bounds', () => {
  // One rule over currencies of 0, 2 and 3 decimals: each bound in its own currency's minor units.
  const BIG = { name: 'big', when: { min_amount: { EUR: 500000, JPY: 500000, KWD: 150000 } }, gateways: ['adyen'] };
  const SMALL = { name: 'small', when: { currencies: ['EUR', 'JPY'], max_amount: { EUR: 5000, JPY: 5000 } }, gateways: ['sim'] };
  const table = new RoutingTable(routing({ 'routing.rules': [BIG, SMALL] }));

  test.each([
    ['5,000.00 EUR → big', 'EUR', 500000, 'big', ['adyen']],
    ['4,999.99 EUR → neither (5,000 EUR cents is not small)', 'EUR', 499999, undefined, ['stripe']],
    ['500,000 JPY → big', 'JPY', 500000, 'big', ['adyen']],
    ['5,000 JPY (not 50.00) → small', 'JPY', 5000, 'small', ['sim']],
    ['5,001 JPY → neither', 'JPY', 5001, undefined, ['stripe']],
    ['150.000 KWD → big', 'KWD', 150000, 'big', ['adyen']],
    ['149.999 KWD → neither (not listed by small)', 'KWD', 149999, undefined, ['stripe']],
    ['50.00 EUR → small (inclusive max)', 'EUR', 5000, 'small', ['sim']],
  ])('%s', (_name, currency, amount, rule, candidates) => {
    const result = table.decide(facts({ currency, amount }), NOW);
    expect(result.rule).toBe(rule);
    expect(result.candidates).toEqual(candidates);
  });

  test('a rule passed over on a bound says which: the currency bound and its value', () => {
    expect(table.decide(facts({ currency: 'JPY', amount: 499999 }), NOW).evaluated[0]).toEqual({
      rule: 'big',
      matched: false,
      why: 'amount 499999 < min_amount.JPY 500000',
      bound: 'min_amount.JPY',
    });
    expect(table.decide(facts({ currency: 'EUR', amount: 5001 }), NOW).evaluated[1]).toEqual({
      rule: 'small',
      matched: false,
      why: 'amount 5001 > max_amount.EUR 5000',
      bound: 'max_amount.EUR',
    });
  });

  test('a currency the per-currency bounds do not name is outside them: the rule does not apply to it', () => {
    // 10,000,000 USD cents is not "at least 5,000.00": a EUR bound says nothing about USD.
    const result = table.decide(facts({ currency: 'USD', amount: 10000000 }), NOW);
    expect(result.rule).toBeUndefined();
    expect(result.evaluated[0]).toEqual({ rule: 'big', matched: false, why: 'amount bounds name no USD bound', bound: 'no_bound.USD' });
  });

  test('a floor and a ceiling may name different currencies; each side bounds only the ones it names', () => {
    const t = new RoutingTable(
      routing({ 'routing.rules': [{ name: 'band', when: { min_amount: { EUR: 1000, JPY: 100 }, max_amount: { EUR: 100000 } }, gateways: ['sim'] }] }),
    );
    expect(t.decide(facts({ currency: 'JPY', amount: 99999999 }), NOW).rule).toBe('band'); // JPY: a floor, no ceiling
    expect(t.decide(facts({ currency: 'EUR', amount: 100001 }), NOW).rule).toBeUndefined();
    expect(t.decide(facts({ currency: 'EUR', amount: 1000 }), NOW).rule).toBe('band');
  });

  test('the one-number form still works over currencies of one exponent, with its bound named in why', () => {
    const t = new RoutingTable(routing({ 'routing.rules': [{ name: 'small', when: { currencies: ['EUR', 'USD'], max_amount: 500 }, gateways: ['sim'] }] }));
    expect(t.decide(facts({ amount: 500 }), NOW).rule).toBe('small');
    expect(t.decide(facts({ amount: 501 }), NOW).evaluated[0]).toEqual({
      rule: 'small',
      matched: false,
      why: 'amount 501 > max_amount 500',
      bound: 'max_amount',
    });
  });

  test('one side per currency, the other one number over currencies of one exponent', () => {
    const t = new RoutingTable(
      routing({
        'routing.rules': [{ name: 'mid', when: { currencies: ['EUR', 'USD'], min_amount: 100, max_amount: { EUR: 1000, USD: 2000 } }, gateways: ['sim'] }],
      }),
    );
    expect(t.decide(facts({ currency: 'USD', amount: 1500 }), NOW).rule).toBe('mid');
    expect(t.decide(facts({ currency: 'EUR', amount: 1500 }), NOW).rule).toBeUndefined();
    expect(t.decide(facts({ currency: 'EUR', amount: 99 }), NOW).evaluated[0]).toMatchObject({ bound: 'min_amount' });
  });

  test('the configuration reads both forms into their own fields', () => {
    const r = routing({ 'routing.rules': [BIG, SMALL] });
    expect(r.rules[0].when).toMatchObject({
      minAmount: null,
      maxAmount: null,
      minAmountByCurrency: { EUR: 500000, JPY: 500000, KWD: 150000 },
      maxAmountByCurrency: null,
    });
    expect(r.rules[1].when).toMatchObject({ minAmountByCurrency: null, maxAmountByCurrency: { EUR: 5000, JPY: 5000 } });
  });

  const refused = (when: Record<string, unknown>): string => {
    try {
      routing({ 'routing.rules': [{ name: 'r', when, gateways: ['sim'] }] });
    } catch (err) {
      // `configuration key "k" problem` read as `k: problem`, the form check-config prints.
      return (err as Error).message.replace(/configuration key "([^"]+)" /g, '$1: ');
    }
    throw new Error('the configuration was accepted');
  };

  test('an unknown currency code is refused, naming the key', () => {
    expect(refused({ max_amount: { EUR: 5000, XYZ: 5000 } })).toMatch(/routing\.rules\[0\]\.when\.max_amount\.XYZ: "XYZ" is not an ISO 4217 currency code/);
    expect(refused({ max_amount: { eur: 5000 } })).toMatch(/routing\.rules\[0\]\.when\.max_amount\.eur: "eur" is not an ISO 4217 currency code/);
  });

  test('a negative, fractional or non-numeric bound is refused, naming the currency', () => {
    expect(refused({ max_amount: { EUR: -1 } })).toMatch(/routing\.rules\[0\]\.when\.max_amount\.EUR: must be >= 0/);
    expect(refused({ min_amount: { JPY: 10.5 } })).toMatch(/routing\.rules\[0\]\.when\.min_amount\.JPY: must be integer/);
    expect(refused({ min_amount: { JPY: '100' } })).toMatch(/routing\.rules\[0\]\.when\.min_amount\.JPY: must be integer/);
    expect(refused({ min_amount: -1, currencies: ['EUR'] })).toMatch(/routing\.rules\[0\]\.when\.min_amount: must be >= 0/);
    expect(refused({ min_amount: 'big', currencies: ['EUR'] })).toMatch(/routing\.rules\[0\]\.when\.min_amount: must be integer,object/);
  });

  test('a floor above the ceiling of the same currency is refused, naming both', () => {
    expect(refused({ min_amount: { EUR: 100, JPY: 9000 }, max_amount: { EUR: 1000, JPY: 5000 } })).toMatch(
      /routing\.rules\[0\]\.when\.min_amount\.JPY: \(9000\) must not exceed max_amount\.JPY \(5000\) for JPY/,
    );
    expect(refused({ currencies: ['EUR'], min_amount: 2000, max_amount: { EUR: 1000 } })).toMatch(
      /routing\.rules\[0\]\.when\.min_amount: \(2000\) must not exceed max_amount\.EUR \(1000\) for EUR/,
    );
    // A floor in one currency and a ceiling in another are no range.
    expect(routing({ 'routing.rules': [{ name: 'r', when: { min_amount: { JPY: 9000 }, max_amount: { EUR: 1000 } }, gateways: ['sim'] }] }).rules).toHaveLength(
      1,
    );
  });

  test('min_amount 0 as one number over currencies of different exponents is accepted (0 is no floor in any currency), a non-zero ceiling over them still refused', () => {
    const r = routing({
      'routing.rules': [{ name: 'r', when: { currencies: ['EUR', 'JPY'], min_amount: 0, max_amount: { EUR: 5000, JPY: 5000 } }, gateways: ['sim'] }],
    });
    expect(r.rules[0].when).toMatchObject({ minAmount: 0, maxAmountByCurrency: { EUR: 5000, JPY: 5000 } });
    expect(refused({ currencies: ['EUR', 'JPY'], min_amount: 0, max_amount: 5000 })).toMatch(
      /routing\.rules\[0\]\.when\.max_amount: \(5000\) is in minor units, and .*mixes currencies/,
    );
  });

  test("a bound for a currency the rule's currencies leave out is refused, and so is a listed currency no bound names", () => {
    expect(refused({ currencies: ['EUR', 'JPY'], max_amount: { EUR: 5000, JPY: 5000, KWD: 1500 } })).toMatch(
      /routing\.rules\[0\]\.when\.max_amount\.KWD: KWD is not in routing\.rules\[0\]\.when\.currencies \[EUR,JPY\]/,
    );
    expect(refused({ currencies: ['EUR', 'JPY', 'KWD'], max_amount: { EUR: 5000, JPY: 5000 } })).toMatch(
      /routing\.rules\[0\]\.when\.currencies: names KWD, which no min_amount \/ max_amount bound names/,
    );
  });

  test('an empty map is refused', () => {
    expect(refused({ max_amount: {} })).toMatch(/routing\.rules\[0\]\.when\.max_amount: names no currency/);
  });

  test('the one-number form over mixed exponents is refused and points at the per-currency form', () => {
    expect(refused({ currencies: ['EUR', 'JPY'], max_amount: 500 })).toMatch(
      /give the bound per currency in each one's minor units \(max_amount: \{ EUR: 500000/,
    );
  });
});

describe('merchant agreements', () => {
  const agreements = [
    { merchant: 'acme-eu', gateway: 'adyen', status: 'active', valid_from: '2026-01-01', valid_until: '2026-12-31T23:59:59Z' },
    { merchant: 'acme-eu', gateway: 'stripe', status: 'suspended' },
    { merchant: '*', gateway: 'sim', status: 'expired' },
    { merchant: 'acme-us', gateway: 'sim', status: 'active' },
  ];
  const table = new MerchantAgreements(routing({ 'routing.agreements': agreements }).agreements);

  test.each([
    ['active within its dates', 'acme-eu', 'adyen', NOW, 'active'],
    ['active, before valid_from', 'acme-eu', 'adyen', Date.parse('2025-12-31T00:00:00Z'), 'pending'],
    ['active, past valid_until', 'acme-eu', 'adyen', Date.parse('2027-01-01T00:00:00Z'), 'expired'],
    ['suspended', 'acme-eu', 'stripe', NOW, 'suspended'],
    ['the * row for a merchant without its own', 'acme-eu', 'sim', NOW, 'expired'],
    ["a merchant's own row wins over *", 'acme-us', 'sim', NOW, 'active'],
    ['no row', 'acme-us', 'stripe', NOW, 'none'],
  ])('%s', (_name, merchant, gateway, at, status) => {
    expect(table.statusAt(merchant, gateway, at)).toBe(status);
  });

  test('candidates without a usable agreement are dropped, and said why', () => {
    const t = new RoutingTable(routing({ 'routing.rules': [{ name: 'all', gateways: ['stripe', 'adyen', 'sim'] }], 'routing.agreements': agreements }));
    expect(t.decide(facts(), NOW)).toMatchObject({ rule: 'all', candidates: ['adyen'], dropped: ['agreement_suspended:stripe', 'agreement_expired:sim'] });
  });

  test('the default route is checked too: a suspended payment.gateway leaves no candidate', () => {
    const t = new RoutingTable(routing({ 'routing.agreements': agreements }));
    expect(t.active).toBe(true);
    expect(t.decide(facts(), NOW)).toMatchObject({ rule: undefined, candidates: [], dropped: ['agreement_suspended:stripe'] });
  });

  test('require_agreement drops gateways the merchant has no row for', () => {
    const t = new RoutingTable(routing({ 'routing.agreements': agreements, 'routing.require_agreement': true }));
    expect(t.decide(facts({ gateway_account: 'acme-us' }), NOW)).toMatchObject({ candidates: [], dropped: ['agreement_none:stripe'] });
    expect(t.decide(facts({ gateway_account: 'acme-us', gateway: 'sim' }), NOW).candidates).toEqual(['sim']);
  });

  test('a rule on agreement status routes away from a suspended gateway', () => {
    const t = new RoutingTable(
      routing({
        'routing.agreements': agreements,
        'routing.rules': [{ name: 'stripe-off', when: { agreement_status: ['suspended', 'expired'], agreement_gateway: 'stripe' }, gateways: ['adyen'] }],
      }),
    );
    expect(t.decide(facts(), NOW)).toMatchObject({ rule: 'stripe-off', candidates: ['adyen'] });
    expect(t.decide(facts({ gateway_account: 'acme-us', gateway: 'sim' }), NOW)).toMatchObject({ rule: undefined, candidates: ['sim'] });
  });
});

describe('routing configuration', () => {
  test('a rule naming a gateway that is not configured is refused, naming the key', () => {
    expect(() => routing({ 'routing.rules': [{ name: 'x', gateways: ['nope'] }] })).toThrow(/routing\.rules\[0\]\.gateways\[0\]/);
  });

  test('inverted amount ranges and duplicate rule names are refused', () => {
    expect(() => routing({ 'routing.rules': [{ name: 'x', when: { currencies: ['EUR'], min_amount: 10, max_amount: 5 }, gateways: ['sim'] }] })).toThrow(
      /must not exceed max_amount/,
    );
    expect(() =>
      routing({
        'routing.rules': [
          { name: 'x', gateways: ['sim'] },
          { name: 'x', gateways: ['stripe'] },
        ],
      }),
    ).toThrow(/unique/);
  });

  test('an amount bound without currencies is refused, naming the key and telling to name the currencies', () => {
    // 500 would be 5.00 EUR, 500 JPY and 0.500 KWD alike: the rule would route big JPY or KWD payments as small.
    const rules = [
      { name: 'eur', when: { currencies: ['EUR'] }, gateways: ['stripe'] },
      { name: 'small', when: { max_amount: 500 }, gateways: ['sim'] },
    ];
    expect(() => routing({ 'routing.rules': rules })).toThrow(
      /routing\.rules\[1\]\.when\.max_amount.*name the currencies.*routing\.rules\[1\]\.when\.currencies/,
    );
    expect(() => routing({ 'routing.rules': [{ name: 'big', when: { commands: ['sale'], min_amount: 100000 }, gateways: ['sim'] }] })).toThrow(
      /routing\.rules\[0\]\.when\.min_amount/,
    );
  });

  test('an amount bound over currencies of different minor-unit exponents is refused; one exponent is accepted', () => {
    expect(() => routing({ 'routing.rules': [{ name: 'small', when: { currencies: ['EUR', 'JPY', 'KWD'], max_amount: 500 }, gateways: ['sim'] }] })).toThrow(
      /routing\.rules\[0\]\.when\.max_amount.*JPY: 0 decimals; EUR: 2 decimals; KWD: 3 decimals/,
    );
    const ok = routing({
      'routing.rules': [{ name: 'small', when: { currencies: ['EUR', 'USD', 'GBP'], min_amount: 1, max_amount: 500 }, gateways: ['sim'] }],
    });
    expect(ok.rules[0].when).toMatchObject({ currencies: ['EUR', 'USD', 'GBP'], minAmount: 1, maxAmount: 500 });
    // Without a bound, currencies of any exponents mix freely.
    expect(routing({ 'routing.rules': [{ name: 'any', when: { currencies: ['EUR', 'JPY'] }, gateways: ['sim'] }] }).rules).toHaveLength(1);
  });

  test('defaults change nothing: no rules, no agreements, no failover', () => {
    const r = routing({});
    expect(r.rules).toEqual([]);
    expect(r.agreements).toEqual([]);
    expect(r.failover.enabled).toBe(false);
  });
});
