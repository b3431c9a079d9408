import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CURRENCY_CODES, currencyExponent, isIsoCurrencyCode, isKnownCurrency, readPspCurrency } from '../../../src/money/currencies';

describe('readPspCurrency (a currency a PSP names in a webhook or a report)', () => {
  it.each([
    ['EUR', 'EUR'],
    ['eur', 'EUR'],
    ['Usd', 'USD'],
    ['jpy', 'JPY'],
    // Active ISO 4217 codes the money table leaves out: a real currency, never refused as none.
    ['CHE', 'CHE'],
    ['xau', 'XAU'],
    ['xcg', 'XCG'],
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

describe('the money table against ISO 4217 list one (SIX, published 2024-06-25)', () => {
  const xml = readFileSync(join(__dirname, '../../fixtures/iso4217/list-one.xml'), 'utf8');
  const entries = [...xml.matchAll(/<CcyNtry>([\s\S]*?)<\/CcyNtry>/g)].flatMap(([, entry]) => {
    const code = /<Ccy>([A-Z]{3})<\/Ccy>/.exec(entry ?? '')?.[1];
    const units = /<CcyMnrUnts>([^<]+)<\/CcyMnrUnts>/.exec(entry ?? '')?.[1];
    return code === undefined || units === undefined ? [] : [{ code, units }];
  });
  // Funds codes the table leaves out on purpose (no command is taken in them; a PSP naming one is still read).
  const fundsLeftOut = new Set(['BOV', 'CHE', 'CHW', 'COU', 'MXV', 'USN']);

  it('reads the list (179 codes)', () => {
    expect(new Set(entries.map((e) => e.code)).size).toBe(179);
  });

  it('takes every code with a minor unit, at the exponent ISO gives it', () => {
    const wrong = entries
      .filter((e) => /^\d$/.test(e.units) && !fundsLeftOut.has(e.code))
      .filter((e) => !isKnownCurrency(e.code) || currencyExponent(e.code) !== Number(e.units))
      .map((e) => `${e.code} ${e.units}`);
    expect(wrong).toEqual([]);
  });

  it('knows every other code but the testing and no-currency codes as a currency', () => {
    const unknown = entries.filter((e) => !isIsoCurrencyCode(e.code)).map((e) => e.code);
    expect([...new Set(unknown)].sort()).toEqual(['XTS', 'XXX']);
  });

  it('takes the Caribbean guilder (XCG, 2 decimals) that replaced ANG in 2025', () => {
    expect(currencyExponent('XCG')).toBe(2);
  });
});
