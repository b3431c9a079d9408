import { JSON_RPC } from '../../../src/bus/json-rpc';
import { BusCommandName } from '../../../src/config/config';
import { commandMethodIndex, mapBusCall, MappedBusCall } from '../../../src/intake/bus-command-mapper';
import { cardExpiryMonth, cardExpiryYear } from '../../../src/contracts/payment-command';
import { testConfig } from '../../support/test-config';

const methods = commandMethodIndex(testConfig());
const RECEIVED_AT = '2024-06-01T10:00:00.000Z';
const CAPTURE = 'magento.payments.payments_management.capture';

type Json = Record<string, unknown>;

const payment = (overrides: Json = {}): Json => ({
  gateway: 'simulator',
  gateway_account: 'acme-eu',
  gateway_key: 'auth_1',
  amount: 1999,
  currency: 'EUR',
  order_id: 'ORD-1',
  ...overrides,
});

const call = (overrides: Json = {}): Json => ({ jsonrpc: '2.0', id: 'rpc-1', method: CAPTURE, params: { payment: payment() }, ...overrides });

const map = (body: unknown, units: 'minor' | 'major' = 'minor'): MappedBusCall => mapBusCall(body, methods, units, RECEIVED_AT);

/** Expects a JSON-RPC error mapping and returns it. */
function failure(result: MappedBusCall): Extract<MappedBusCall, { ok: false }> {
  if (result.ok) throw new Error('expected the call to be refused');
  return result;
}

/** Expects an accepted mapping and returns it. */
function success(result: MappedBusCall): Extract<MappedBusCall, { ok: true }> {
  if (!result.ok) throw new Error(`expected the call to be accepted, got ${result.error.message}`);
  return result;
}

describe('commandMethodIndex', () => {
  it('maps the five configured bus methods and the stored value card methods to their commands', () => {
    expect([...methods.entries()].sort()).toEqual([
      ['magento.payments.payments_management.activate', 'activate'],
      ['magento.payments.payments_management.balance_inquiry', 'balance_inquiry'],
      ['magento.payments.payments_management.cancel', 'cancel'],
      ['magento.payments.payments_management.capture', 'capture'],
      ['magento.payments.payments_management.deactivate', 'deactivate'],
      ['magento.payments.payments_management.issue', 'issue'],
      ['magento.payments.payments_management.merge_balance', 'merge_balance'],
      ['magento.payments.payments_management.refund', 'refund'],
      ['magento.payments.payments_management.reload', 'reload'],
      ['magento.payments.payments_management.revalidate', 'revalidate'],
      ['magento.payments.payments_management.validate', 'validate'],
    ]);
  });

  it('follows a renamed method in the configuration', () => {
    const index = commandMethodIndex(testConfig({ 'service_bus.method.capture': 'acme.pay.capture' }));
    expect(index.get('acme.pay.capture')).toBe('capture');
    expect(index.has(CAPTURE)).toBe(false);
  });
});

describe('mapBusCall refuses a malformed envelope with -32600', () => {
  it('refuses a batch', () => {
    const r = failure(map([call()]));
    expect(r).toMatchObject({ id: null, code: JSON_RPC.INVALID_REQUEST });
    expect(r.error.field).toBe('(root)');
    expect(r.error.code).toBe('INVALID_REQUEST');
  });

  it.each([null, 'text', 42, true])('refuses the non-object body %p', (body) => {
    const r = failure(map(body));
    expect(r).toMatchObject({ id: null, code: JSON_RPC.INVALID_REQUEST });
    expect(r.error.field).toBe('(root)');
  });

  it.each([undefined, '1.0', 2])('refuses jsonrpc %p, answering with the id', (jsonrpc) => {
    const r = failure(map(call({ jsonrpc })));
    expect(r).toMatchObject({ id: 'rpc-1', code: JSON_RPC.INVALID_REQUEST });
    expect(r.error.field).toBe('jsonrpc');
  });

  it.each([true, { a: 1 }, [1]])('refuses the id %p, answering with a null id', (id) => {
    const r = failure(map(call({ id })));
    expect(r).toMatchObject({ id: null, code: JSON_RPC.INVALID_REQUEST });
    expect(r.error.field).toBe('id');
  });

  it.each(['i'.repeat(65), '', -1, Number.MIN_SAFE_INTEGER])(
    'accepts the id %p (any string, any safe integer), echoes it, and takes a digest of it as the sequence',
    (id) => {
      const r = success(map(call({ id })));
      expect(r.id).toBe(id);
      expect(r.command.sequence).toMatch(/^id-[0-9a-f]{40}$/);
    },
  );

  it('keeps distinct odd ids distinct sequences (the number -1 and the string "-1" too)', () => {
    const sequences = [-1, -2, '-1', '1.5', 'i'.repeat(65), 'i'.repeat(66)].map((id) => success(map(call({ id }))).command.sequence);
    expect(new Set(sequences).size).toBe(sequences.length);
  });

  it('keeps the sequences of valid ids as they were (a command re-sent after an upgrade keeps its operation id)', () => {
    const sequences = [0, 7, Number.MAX_SAFE_INTEGER, 'rpc-42', -1, '', 'i'.repeat(65)].map((id) => success(map(call({ id }))).command.sequence);
    expect(sequences).toEqual([
      0,
      7,
      Number.MAX_SAFE_INTEGER,
      'rpc-42',
      'id-1bad6b8cf97131fceab8543e81f7757195fbb1d3',
      'id-12ae32cb1ec02d01eda3581b127c1fee3b0dc535',
      'id-104f1772936b4aad1d6f20d82dd988236b182bf7',
    ]);
  });

  it.each(['9007199254740993', '9007199254740992', '-9007199254740993', '1e400', '-1e400', '1.5', '1e300'])(
    'refuses the numeric id %s, not a safe integer (parsed, it is not the number sent), with a null id (-32600)',
    (id) => {
      const body = JSON.parse(JSON.stringify(call()).replace('"id":"rpc-1"', `"id":${id}`)) as unknown;
      const r = failure(map(body));
      expect(r).toMatchObject({ id: null, code: JSON_RPC.INVALID_REQUEST });
      expect(r.error).toMatchObject({ field: 'id', code: 'INVALID_REQUEST' });
    },
  );

  it('no longer lets two distinct large ids become one operation: both are refused', () => {
    for (const id of ['9007199254740993', '9007199254740992']) {
      expect(map(JSON.parse(JSON.stringify(call()).replace('"id":"rpc-1"', `"id":${id}`))).ok).toBe(false);
    }
  });

  it('accepts an id of exactly 64 characters and the id 0', () => {
    expect(success(map(call({ id: 'i'.repeat(64) }))).command.sequence).toBe('i'.repeat(64));
    expect(success(map(call({ id: 0 }))).command.sequence).toBe(0);
  });

  it('refuses a method that is not a string', () => {
    const r = failure(map(call({ method: 7 })));
    expect(r).toMatchObject({ id: 'rpc-1', code: JSON_RPC.INVALID_REQUEST });
    expect(r.error.field).toBe('method');
  });

  it.each([undefined, null, [1], 'payment'])('refuses params %p of a payment command as invalid params (-32602)', (params) => {
    const r = failure(map(call({ params })));
    expect(r).toMatchObject({ id: 'rpc-1', code: JSON_RPC.INVALID_PARAMS });
    expect(r.error.field).toBe('params');
  });

  it('answers an unknown method -32601 whatever its params (the method is checked first)', () => {
    const body = call({ method: 'foo.bar' });
    delete body.params;
    expect(failure(map(body))).toMatchObject({ id: 'rpc-1', code: JSON_RPC.METHOD_NOT_FOUND });
    expect(failure(map(call({ method: 'foo.bar', params: [1] })))).toMatchObject({ code: JSON_RPC.METHOD_NOT_FOUND });
  });
});

describe('mapBusCall refuses an unknown method with -32601', () => {
  it.each(['magento.payments.payments_management.CAPTURE', 'magento.service_bus.remote.register', 'magento.payments.payments_management.captured'])(
    'refuses %s',
    (method) => {
      const r = failure(map(call({ method, id: 9 })));
      expect(r).toMatchObject({ id: 9, code: JSON_RPC.METHOD_NOT_FOUND });
      expect(r.error.field).toBe('method');
      expect(r.error.code).toBe('UNKNOWN_METHOD');
    },
  );
});

describe('mapBusCall refuses invalid params with -32602 naming the field', () => {
  it('names a missing payment', () => {
    const r = failure(map(call({ params: {} })));
    expect(r).toMatchObject({ id: 'rpc-1', code: JSON_RPC.INVALID_PARAMS });
    expect(r.error.field).toBe('payment');
  });

  it('names a missing payment field', () => {
    const p = payment();
    delete p.gateway_key;
    const r = failure(map(call({ params: { payment: p } })));
    expect(r.code).toBe(JSON_RPC.INVALID_PARAMS);
    expect(r.error.field).toBe('payment.gateway_key');
  });

  it('names a zero capture amount', () => {
    const r = failure(map(call({ params: { payment: payment({ amount: 0 }) } })));
    expect(r.code).toBe(JSON_RPC.INVALID_PARAMS);
    expect(r.error.field).toBe('payment.amount');
  });

  it('refuses card data in a structured field as -32602 without quoting it', () => {
    const r = failure(map(call({ params: { payment: payment({ order_id: '4111111111111111' }) } })));
    expect(r.code).toBe(JSON_RPC.INVALID_PARAMS);
    expect(r.error.code).toBe('CARD_DATA_REJECTED');
    expect(r.error.field).toBe('payment.order_id');
    expect(r.error.message).not.toContain('4111');
  });

  it('masks card data in a free-text note and maps the call, reporting the masked field', () => {
    const r = map(call({ params: { payment: payment({ custom_attributes: { note: '4111111111111111' } }) } }));
    if (!r.ok) throw new Error('refused');
    expect(r.command.payment.custom_attributes).toEqual({ note: '[PAN REDACTED]' });
    expect(r.masked).toEqual(['payment.custom_attributes.note']);
  });
});

describe('mapBusCall maps a valid call to a canonical command', () => {
  it.each<[string, BusCommandName]>([
    ['magento.payments.payments_management.validate', 'validate'],
    ['magento.payments.payments_management.revalidate', 'revalidate'],
    ['magento.payments.payments_management.capture', 'capture'],
    ['magento.payments.payments_management.cancel', 'cancel'],
    ['magento.payments.payments_management.refund', 'refund'],
  ])('maps %s to the %s command', (method, command) => {
    const r = success(map(call({ method, id: 'rpc-42' })));
    expect(r.id).toBe('rpc-42');
    expect(r.command).toEqual({
      version: 1,
      command,
      channel: 'bus',
      sequence: 'rpc-42',
      received_at: RECEIVED_AT,
      payment: payment(),
    });
  });

  it('uses a numeric JSON-RPC id as the sequence', () => {
    const r = success(map(call({ id: 7 })));
    expect(r.id).toBe(7);
    expect(r.command.sequence).toBe(7);
  });

  it('leaves the sequence out when the call has no id', () => {
    const body = call();
    delete body.id;
    const r = success(map(body));
    expect(r.id).toBeNull();
    expect(r.command).not.toHaveProperty('sequence');
  });

  it('keeps minor-unit amounts as they are by default', () => {
    const r = success(map(call({ params: { payment: payment({ amount: 10, currency: 'USD' }) } })));
    expect(r.command.payment.amount).toBe(10);
  });
});

describe('mapBusCall takes method_details as the MIB payment specification types them', () => {
  // The specification's payment: card expiry as strings, the card's authorization, AVS and CVV result codes,
  // and a bank account's details with an integer security_indicator.
  const methodDetails = (card: Json, bank?: Json): Json => ({
    method: 'CREDIT_CARD',
    submethod: 'VISA',
    card: { bin: '411111', last_four_digits: '1111', authorization_code: 'A12345', avs_response_code: 'Y', cvv_response_code: 'M', ...card },
    ...(bank ? { bank } : {}),
  });

  it.each<[string, string, number, number]>([
    ['12', '2030', 12, 2030],
    ['03', '2031', 3, 2031],
    ['7', '30', 7, 2030],
  ])('takes expiration_month %p and expiration_year %p (%d/%d), kept as sent so the event echoes them so', (month, year, m, y) => {
    const r = success(map(call({ params: { payment: payment({ method_details: methodDetails({ expiration_month: month, expiration_year: year }) }) } })));
    const card = r.command.payment.method_details?.card;
    expect(card).toMatchObject({ expiration_month: month, expiration_year: year, authorization_code: 'A12345' });
    expect([cardExpiryMonth(card), cardExpiryYear(card)]).toEqual([m, y]);
  });

  it('still refuses an expiry that is no month or year, naming the field', () => {
    const r = failure(map(call({ params: { payment: payment({ method_details: methodDetails({ expiration_month: '13', expiration_year: '2030' }) }) } })));
    expect(r.code).toBe(JSON_RPC.INVALID_PARAMS);
    expect(r.error.field).toBe('payment.method_details.card.expiration_month');
    // The reason says what is wrong with the string, never "must be integer": strings are taken.
    expect(r.error.reason).toMatch(/^must match pattern/);
    const y = failure(map(call({ params: { payment: payment({ method_details: methodDetails({ expiration_month: '12', expiration_year: 'soon' }) }) } })));
    expect(y.error.field).toBe('payment.method_details.card.expiration_year');
    expect(y.error.reason).toMatch(/^must match pattern/);
    const m = failure(map(call({ params: { payment: payment({ method_details: methodDetails({ expiration_month: 13, expiration_year: 2030 }) }) } })));
    expect([m.error.field, m.error.reason]).toEqual(['payment.method_details.card.expiration_month', 'must be <= 12']);
    const b = failure(map(call({ params: { payment: payment({ method_details: methodDetails({}, { security_indicator: true }) }) } })));
    expect([b.error.field, b.error.reason]).toEqual(['payment.method_details.bank.security_indicator', 'must be string,integer']);
  });

  it('takes a bank account with an integer security_indicator', () => {
    const bank = { account_holder_name: 'Jane Doe', iban: 'DE89370400440532013000', security_indicator: 1 };
    const r = success(map(call({ params: { payment: payment({ method_details: methodDetails({}, bank) }) } })));
    expect(r.command.payment.method_details?.bank).toEqual(bank);
  });
});

describe('mapBusCall converts major units when the bus sends them', () => {
  it.each<[number, string, number]>([
    [10, 'USD', 1000],
    [10, 'JPY', 10],
    [1, 'KWD', 1000],
    [3, 'CLF', 30000],
  ])('turns %d %s into %d minor units', (major, currency, minor) => {
    const r = success(map(call({ params: { payment: payment({ amount: major, currency }) } }), 'major'));
    expect(r.command.payment.amount).toBe(minor);
  });

  it('converts the line amounts too and leaves quantities and rates alone', () => {
    const lines = [{ line_number: 1, quantity: 2, unit_price_gross: 5, refund_amount: 10, tax_amount: 2, tax_rate: 21 }];
    const r = success(
      map(call({ method: 'magento.payments.payments_management.refund', params: { payment: payment({ amount: 10, currency: 'USD', lines }) } }), 'major'),
    );
    expect(r.command.payment.lines).toEqual([{ line_number: 1, quantity: 2, unit_price_gross: 500, refund_amount: 1000, tax_amount: 200, tax_rate: 21 }]);
    expect(lines[0].unit_price_gross).toBe(5);
  });

  it("converts a marketplace order's splits too, so a seller's 90 EUR part is 9000 minor units, not 90", () => {
    const splits = [
      { type: 'seller', account: 'seller-1', reference: 's1', amount: 90 },
      { type: 'marketplace_fee', amount: 10 },
    ];
    const capture = success(map(call({ params: { payment: payment({ amount: 100, currency: 'EUR', splits }) } }), 'major'));
    expect(capture.command.payment.amount).toBe(10000);
    expect(capture.command.payment.splits?.map((p) => p.amount)).toEqual([9000, 1000]);
  });

  // The MIB payment specification types the amounts as floats (12.99): decimal major units, exactly converted.
  it.each<[number, string, number]>([
    [10.5, 'USD', 1050],
    [19.99, 'EUR', 1999],
    [0.07, 'USD', 7],
    [1.234, 'KWD', 1234],
    [0.0001, 'CLF', 1],
    [999_999_999_999.99, 'USD', 999_999_999_999_99],
    // A writer of 17 significant digits (PHP's serialize_precision 17) sends 19.99 so: the same double.
    [19.989999999999998, 'USD', 1999],
  ])('turns the decimal %d %s into %d minor units, exactly', (major, currency, minor) => {
    const r = success(map(call({ params: { payment: payment({ amount: major, currency }) } }), 'major'));
    expect(r.command.payment.amount).toBe(minor);
  });

  it('converts decimal line amounts too (unit_price_gross 2.5, refund_amount 10.99, tax_amount 0.42)', () => {
    const lines = [{ line_number: 1, quantity: 3, unit_price_gross: 2.5, refund_amount: 10.99, tax_amount: 0.42, tax_rate: 21.5 }];
    const r = success(
      map(call({ method: 'magento.payments.payments_management.refund', params: { payment: payment({ amount: 10.99, currency: 'USD', lines }) } }), 'major'),
    );
    expect(r.command.payment.amount).toBe(1099);
    expect(r.command.payment.lines).toEqual([{ line_number: 1, quantity: 3, unit_price_gross: 250, refund_amount: 1099, tax_amount: 42, tax_rate: 21.5 }]);
  });

  it.each<[number, string]>([
    [10.555, 'USD'],
    [10.5, 'JPY'],
    [1.0001, 'KWD'],
    [1e-7, 'USD'],
  ])('refuses %d %s, more decimals than the currency has (never rounded), naming the amount', (major, currency) => {
    const r = failure(map(call({ params: { payment: payment({ amount: major, currency }) } }), 'major'));
    expect(r.code).toBe(JSON_RPC.INVALID_PARAMS);
    expect(r.error.field).toBe('payment.amount');
    expect(r.error.reason).toMatch(/decimals/);
  });

  it('refuses a line amount with more decimals than the currency has, naming the line field', () => {
    const lines = [{ line_number: 1, unit_price_gross: 2.505 }];
    const r = failure(map(call({ params: { payment: payment({ amount: 10, currency: 'USD', lines }) } }), 'major'));
    expect(r.error.field).toBe('payment.lines[0].unit_price_gross');
  });

  it('still refuses a fractional amount from a bus that sends minor units', () => {
    const r = failure(map(call({ params: { payment: payment({ amount: 10.5, currency: 'USD' }) } })));
    expect(r.code).toBe(JSON_RPC.INVALID_PARAMS);
    expect(r.error.field).toBe('payment.amount');
  });

  it('refuses a major amount too large to convert, naming the amount', () => {
    const r = failure(map(call({ params: { payment: payment({ amount: 9_000_000_000_000, currency: 'USD' }) } }), 'major'));
    expect(r.code).toBe(JSON_RPC.INVALID_PARAMS);
    expect(r.error.field).toBe('payment.amount');
  });

  it('refuses a major line amount too large to convert, naming the line field', () => {
    const lines = [{ line_number: 1 }, { line_number: 2, refund_amount: 2_000_000_000_000 }];
    const r = failure(map(call({ params: { payment: payment({ amount: 10, currency: 'USD', lines }) } }), 'major'));
    expect(r.code).toBe(JSON_RPC.INVALID_PARAMS);
    expect(r.error.field).toBe('payment.lines[1].refund_amount');
  });

  it('refuses an unknown currency, naming the currency', () => {
    const r = failure(map(call({ params: { payment: payment({ amount: 10, currency: 'XYZ' }) } }), 'major'));
    expect(r.error.field).toBe('payment.currency');
  });
});

// A refusal's reason quotes amounts as the bus sent them: an OMS operator on a major-unit bus who sent 20.00 EUR
// reads 20.00, not 2000 (nor 100 times its lines). Machine-readable fields (code, field) stay as they are.
describe('mapBusCall tells the amounts of a refusal in the unit the bus uses', () => {
  const REFUND = 'magento.payments.payments_management.refund';
  const refundOf = (amount: number, refunds: number[], currency = 'EUR'): Json =>
    call({
      method: REFUND,
      params: { payment: payment({ amount, currency, lines: refunds.map((r, i) => ({ line_number: i + 1, refund_amount: r })) }) },
    });
  const splitsOf = (amount: number, parts: number[]): Json =>
    call({ params: { payment: payment({ amount, splits: parts.map((p, i) => ({ type: 'seller', account: `s${i}`, reference: `r${i}`, amount: p })) }) } });

  it('a refund of 20.00 EUR whose lines add to 19.99, on a major-unit bus: 19.99 EUR, not payment.amount (20.00)', () => {
    const r = failure(map(refundOf(20, [9.99, 10]), 'major'));
    expect(r.code).toBe(JSON_RPC.INVALID_PARAMS);
    expect(r.error.field).toBe('payment.lines[].refund_amount');
    expect(r.error.reason).toBe('add up to 19.99 EUR, not payment.amount (20.00)');
    // Our log line keeps minor units, as the configuration says them.
    expect(r.error.minorReason).toBe('add up to 1999 minor units, not payment.amount (2000)');
  });

  it('the same refund in KWD (3 decimals) and JPY (none), each with its own exponent', () => {
    expect(failure(map(refundOf(2, [1.999], 'KWD'), 'major')).error.reason).toBe('add up to 1.999 KWD, not payment.amount (2.000)');
    expect(failure(map(refundOf(2000, [1999], 'JPY'), 'major')).error.reason).toBe('add up to 1999 JPY, not payment.amount (2000)');
  });

  it('on a minor-unit bus, keeps the text in minor units', () => {
    const minor = failure(map(refundOf(2000, [999, 1000])));
    expect(minor.error.reason).toBe('add up to 1999 minor units, not payment.amount (2000)');
    expect(minor.error.minorReason).toBeUndefined();
  });

  it("a marketplace order's splits that do not add up, in the bus's unit", () => {
    const major = failure(map(splitsOf(100, [89.99, 10]), 'major'));
    expect(major.error.field).toBe('payment.splits');
    expect(major.error.reason).toBe('amounts add up to 99.99 EUR, not payment.amount (100.00)');
    expect(failure(map(splitsOf(10000, [8999, 1000]))).error.reason).toBe('amounts add up to 9999 minor units, not payment.amount (10000)');
  });

  it("a bus profile's cap: at most 5000.00 EUR on a major-unit bus, 500000 minor units of EUR on a minor-unit one", () => {
    const channels = testConfig({
      'channels.profiles': [{ channel: 'bus', account: 'acme-eu', max_amount: { EUR: 500000 }, currencies: ['EUR'] }],
    }).channels;
    const capture = (amount: number): Json => call({ params: { payment: payment({ amount }) } });
    const major = failure(mapBusCall(capture(6000), methods, 'major', RECEIVED_AT, channels));
    expect(major.error).toMatchObject({ code: 'PROFILE_REJECTED', field: 'payment.amount' });
    expect(major.error.reason).toBe('must be at most 5000.00 EUR (profile bus/acme-eu)');
    expect(major.error.minorReason).toBe('must be at most 500000 minor units of EUR (profile bus/acme-eu)');
    const minor = failure(mapBusCall(capture(600000), methods, 'minor', RECEIVED_AT, channels));
    expect(minor.error.reason).toBe('must be at most 500000 minor units of EUR (profile bus/acme-eu)');
  });
});
