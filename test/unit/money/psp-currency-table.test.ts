import { MAX_MINOR_AMOUNT } from '../../../src/money/minor-units';
import { MoneyRefusalError } from '../../../src/errors/money-refusal-error';
import { GatewayOutcome } from '../../../src/gateways/gateway-adapter';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { ADYEN_CURRENCIES } from '../../../src/gateways/adyen/adyen-currencies';
import { CYBERSOURCE_CURRENCIES } from '../../../src/gateways/cybersource/cybersource-currencies';
import { STRIPE_CURRENCIES } from '../../../src/gateways/stripe/stripe-currencies';
import { isoAmountStep, isoToPspAmount, PspCurrencyTable, pspToIsoAmount, readConfirmedMoney, withConfirmedMoney } from '../../../src/money/psp-currency-table';

/** A made-up PSP: ISK in hundredths (multiples of 100), MGA whole, KWD in tens of fils, EUR up to 9999. */
const TABLE: PspCurrencyTable = {
  psp: 'testpsp',
  source: 'https://example.invalid/currencies',
  currencies: { ISK: { exponent: 2, multipleOf: 100 }, MGA: { exponent: 0 }, KWD: { exponent: 3, multipleOf: 10 }, EUR: { exponent: 2, maxValue: 9999 } },
};

describe('PSP currency table conversions', () => {
  it.each([
    ['ISK', 5, 500],
    ['MGA', 12300, 123],
    ['KWD', 5120, 5120],
    ['EUR', 9999, 9999],
  ])('%s: %d ISO minor units are %d PSP units, and back', (code, iso, psp) => {
    expect(isoToPspAmount(TABLE, iso, code)).toBe(psp);
    expect(pspToIsoAmount(TABLE, psp, code, 'amount')).toBe(iso);
  });

  it.each([
    ['a fraction of the PSP unit', 12345, 'MGA'],
    ['not the multiple the PSP takes', 5124, 'KWD'],
    ['above the PSP maximum', 10000, 'EUR'],
    ['not an integer', 10.5, 'EUR'],
  ])('refuses %s as amount_not_representable, naming the field, not retryable', (_why, iso, code) => {
    expect(() => isoToPspAmount(TABLE, iso, code, 'lines[0].refund_amount')).toThrow(
      expect.objectContaining({ refusal: 'amount_not_representable', field: 'lines[0].refund_amount', retryable: false, kind: 'invalid_request' }),
    );
  });

  it('refuses a currency the PSP does not list, and one that is not ISO 4217, as currency_not_supported', () => {
    for (const code of ['USD', 'ZZZ']) {
      expect(() => isoToPspAmount(TABLE, 100, code)).toThrow(expect.objectContaining({ refusal: 'currency_not_supported', field: 'payment.currency' }));
    }
  });

  it.each([
    ['amount', 'currency'],
    ['source.amount', 'source.currency'],
    ['amount.value', 'amount.currency'],
  ])('refuses a PSP %s in a currency the table lacks as currency_not_supported, naming %s, not the amount', (field, currencyField) => {
    for (const code of ['USD', 'ZZZ']) {
      expect(() => pspToIsoAmount(TABLE, 100, code, field)).toThrow(expect.objectContaining({ refusal: 'currency_not_supported', field: currencyField }));
    }
  });

  it('refuses a PSP amount finer than the ISO minor unit (550 ISK hundredths is 5.5 ISK)', () => {
    expect(() => pspToIsoAmount(TABLE, 550, 'ISK', 'amount_received')).toThrow(MoneyRefusalError);
  });

  it('reads confirmed money without ever throwing: an unreadable amount is left out, the currency kept, and counted', async () => {
    const before = await metricValue('pb_psp_amount_unreadable_total', { psp: 'testpsp' });
    expect(readConfirmedMoney(TABLE, 500, 'isk', 'amount')).toEqual({ amount: 5, currency: 'ISK' });
    expect(readConfirmedMoney(TABLE, 550, 'isk', 'amount')).toEqual({ currency: 'ISK' });
    expect(readConfirmedMoney(TABLE, '500', 'ISK', 'amount')).toEqual({ currency: 'ISK' });
    expect(readConfirmedMoney(TABLE, 500, 'USD', 'amount')).toEqual({ currency: 'USD' });
    expect(readConfirmedMoney(TABLE, 500, undefined, 'amount')).toEqual({});
    expect(readConfirmedMoney(TABLE, undefined, 'EUR', 'amount')).toEqual({ currency: 'EUR' });
    expect(await metricValue('pb_psp_amount_unreadable_total', { psp: 'testpsp' })).toBe(before + 3);
  });

  it('confirms nothing from an answer whose currency is no ISO 4217 code ("EURO", "eu", a number), and counts it as currency_not_iso', async () => {
    const before = await metricValue('pb_psp_amount_unreadable_total', { psp: 'testpsp', reason: 'currency_not_iso' });
    expect(readConfirmedMoney(TABLE, 500, 'EURO', 'amount')).toEqual({});
    expect(readConfirmedMoney(TABLE, 500, 'eu', 'amount')).toEqual({});
    expect(readConfirmedMoney(TABLE, 500, 978, 'amount')).toEqual({});
    expect(readConfirmedMoney(TABLE, 500, 'eur', 'amount')).toEqual({ amount: 500, currency: 'EUR' });
    expect(await metricValue('pb_psp_amount_unreadable_total', { psp: 'testpsp', reason: 'currency_not_iso' })).toBe(before + 2);
  });

  it('confirms no negative amount (no operation moves less than nothing): the currency kept, counted as amount_negative', async () => {
    const before = await metricValue('pb_psp_amount_unreadable_total', { psp: 'testpsp', reason: 'amount_negative' });
    expect(readConfirmedMoney(TABLE, -1, 'EUR', 'amount')).toEqual({ currency: 'EUR' });
    expect(readConfirmedMoney(TABLE, -250000, 'eur', 'amount')).toEqual({ currency: 'EUR' });
    expect(readConfirmedMoney(TABLE, -0, 'EUR', 'amount')).toEqual({ amount: 0, currency: 'EUR' });
    expect(Object.is(readConfirmedMoney(TABLE, -0, 'EUR', 'amount').amount, 0)).toBe(true);
    expect(await metricValue('pb_psp_amount_unreadable_total', { psp: 'testpsp', reason: 'amount_negative' })).toBe(before + 2);
  });

  it('confirms no amount beyond the largest the bridge handles (a card number sent as a number is one): counted', async () => {
    const before = await metricValue('pb_psp_amount_unreadable_total', { psp: 'testpsp', reason: 'amount_not_representable' });
    expect(readConfirmedMoney(TABLE, 4111111111111111, 'EUR', 'amount')).toEqual({ currency: 'EUR' });
    expect(readConfirmedMoney(TABLE, 378282246310005, 'EUR', 'amount')).toEqual({ currency: 'EUR' });
    expect(readConfirmedMoney(TABLE, MAX_MINOR_AMOUNT, 'EUR', 'amount')).toEqual({ amount: MAX_MINOR_AMOUNT, currency: 'EUR' });
    expect(() => pspToIsoAmount(TABLE, -378282246310005, 'EUR', 'amount')).toThrow(MoneyRefusalError);
    expect(await metricValue('pb_psp_amount_unreadable_total', { psp: 'testpsp', reason: 'amount_not_representable' })).toBe(before + 2);
  });

  it('sets only what was read on an outcome', () => {
    const outcome: GatewayOutcome = { status: 'SUCCESS', gatewayStatus: 'ok' };
    expect(withConfirmedMoney(outcome, { currency: 'ISK' })).toEqual({ status: 'SUCCESS', gatewayStatus: 'ok', currency: 'ISK' });
    expect(withConfirmedMoney({ status: 'SUCCESS', gatewayStatus: 'ok' } as GatewayOutcome, {})).toEqual({ status: 'SUCCESS', gatewayStatus: 'ok' });
  });
});

describe('isoAmountStep: the smallest ISO minor amount a PSP takes', () => {
  it.each([
    ['ISK', 1], // hundredths in multiples of 100: one whole krona, which is ISO's unit
    ['MGA', 100], // whole ariary: 100 ISO minor units
    ['KWD', 10], // tens of fils
    ['EUR', 1],
  ])('%s: %d', (code, step) => expect(isoAmountStep(TABLE, code)).toBe(step));

  it('a step that is not a whole number of ISO units is the least multiple that is (25 thousandths of a 2-decimal currency: 5 cents)', () =>
    expect(isoAmountStep({ psp: 'p', source: 's', currencies: { EUR: { exponent: 3, multipleOf: 25 } } }, 'EUR')).toBe(5));

  it.each([
    [ADYEN_CURRENCIES, 'IDR', 100],
    [ADYEN_CURRENCIES, 'CVE', 100],
    [ADYEN_CURRENCIES, 'ISK', 1],
    [ADYEN_CURRENCIES, 'CLP', 1],
    [STRIPE_CURRENCIES, 'KWD', 10],
    [STRIPE_CURRENCIES, 'MGA', 100],
    [STRIPE_CURRENCIES, 'UGX', 1],
    [STRIPE_CURRENCIES, 'IDR', 1],
    [CYBERSOURCE_CURRENCIES, 'KWD', 1],
  ])('the real tables: %# %s step %d', (table, code, step) => expect(isoAmountStep(table, code)).toBe(step));
});
