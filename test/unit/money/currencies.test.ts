import { CURRENCY_CODES, isIsoCurrencyCode, isKnownCurrency, readPspCurrency } from '../../../src/money/currencies';

describe('readPspCurrency (a currency a PSP names in a webhook or a report)', () => {
  it.each([
    ['EUR', 'EUR'],
    ['eur', 'EUR'],
    ['Usd', 'USD'],
    ['jpy', 'JPY'],
    // Active ISO 4217 codes the money table leaves out: a real currency, never refused as none.
    ['CHE', 'CHE'],
    ['xau', 'XAU'],
    ['XCG', 'XCG'],
  ])('reads %p as %p', (value, code) => {
    expect(readPspCurrency(value)).toEqual({ code });
  });

  it.each([
    ['EURO', 'a string of 4 characters'],
    ['eu', 'a string of 2 characters'],
    ['XXX1', 'a string of 4 characters'],
    ['', 'a string of 0 characters'],
    [' EUR', 'a string of 4 characters'],
    // "No currency" and the testing code name no money; an offshore yuan is no ISO 4217 code.
    ['XXX', 'a string of 3 characters'],
    ['XTS', 'a string of 3 characters'],
    ['CNH', 'a string of 3 characters'],
    ['ZZZ', 'a string of 3 characters'],
    // Upper-cases to "USD", but is no ASCII code.
    ['uſd', 'a string of 3 characters'],
    [978, 'a number'],
    [true, 'a boolean'],
    [null, 'null'],
    [['EUR'], 'an array'],
    [{ code: 'EUR' }, 'an object'],
  ])('refuses %p, saying what it was and never the value', (value, what) => {
    const read = readPspCurrency(value);
    expect(read).toEqual({ problem: `is not an ISO 4217 currency code (${what})` });
  });

  it('knows every code of the money table as ISO 4217', () => {
    for (const code of CURRENCY_CODES) expect(isIsoCurrencyCode(code)).toBe(true);
    expect(isKnownCurrency('CHE')).toBe(false);
    expect(isIsoCurrencyCode('CHE')).toBe(true);
  });
});
