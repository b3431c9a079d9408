import { buildExchangeRateRequest, parseExchangeRates, plainDecimal } from '../../../../src/gateways/stripe';
import { MoneyRefusalError } from '../../../../src/errors/money-refusal-error';
import { errorBody, jsonResponse } from './stripe-fixtures';

describe('Stripe exchange rates', () => {
  it('asks for the rates of a base currency in lower case', () => {
    expect(buildExchangeRateRequest('USD')).toEqual({ method: 'GET', path: '/v1/exchange_rates/usd', headers: { 'stripe-version': '2023-08-16' } });
  });

  it('refuses an unknown currency', () => {
    expect(() => buildExchangeRateRequest('ZZZ')).toThrow(MoneyRefusalError);
  });

  it('returns every rate as the exact decimal string Stripe sent, never through a float', () => {
    const raw = '{"id":"usd","object":"exchange_rate","rates":{"eur":0.912345678901234567,"jpy":149.1,"kwd":0.30789,"btc":1.5e-5,"xof":6E2}}';
    expect(parseExchangeRates({ status: 200, headers: {}, body: raw, elapsedMs: 1 })).toEqual({
      base: 'USD',
      rates: { EUR: '0.912345678901234567', JPY: '149.1', KWD: '0.30789', BTC: '0.000015', XOF: '600' },
    });
  });

  it('writes number literals as plain decimals', () => {
    expect(plainDecimal('1')).toBe('1');
    expect(plainDecimal('0.10')).toBe('0.1');
    expect(plainDecimal('1.25e2')).toBe('125');
    expect(plainDecimal('12.5e-3')).toBe('0.0125');
  });

  it('refuses a rate whose exponent no currency needs (1e-100000 would be 100 000 digits) as a server error naming the currency', () => {
    expect(() => plainDecimal('1e-100000')).toThrow(RangeError);
    expect(() => plainDecimal('1e999999999')).toThrow(RangeError);
    expect(plainDecimal('1e-30')).toBe(`0.${'0'.repeat(29)}1`);
    const raw = '{"id":"eur","object":"exchange_rate","rates":{"usd":1e-100000}}';
    expect(() => parseExchangeRates({ status: 200, headers: {}, body: raw, elapsedMs: 1 })).toThrow(
      expect.objectContaining({ kind: 'server_error', message: expect.stringContaining('USD') }),
    );
  });

  it('throws the classified error for an error answer', () => {
    expect(() => parseExchangeRates(jsonResponse(404, errorBody('invalid_request_error', 'resource_missing')))).toThrow(
      expect.objectContaining({ kind: 'not_found' }),
    );
  });
});
