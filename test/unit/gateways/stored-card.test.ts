import { parseStoredCard, storedCardOf } from '../../../src/gateways/stored-card';

describe('stored card figures', () => {
  it('keeps a brand, four digits, a month 1-12 and a four-digit year, from strings or numbers', () => {
    expect(storedCardOf({ brand: ' Visa ', lastFour: '0042', expiryMonth: '03', expiryYear: 2030 })).toEqual({
      brand: 'visa',
      lastFour: '0042',
      expiryMonth: 3,
      expiryYear: 2030,
    });
  });

  it('reads a two-digit year as 20yy', () => {
    expect(storedCardOf({ expiryYear: '31' })).toEqual({ expiryYear: 2031 });
  });

  it('drops each figure that does not read as one: last four not exactly four digits, month outside 1-12, odd years, digit brands', () => {
    expect(storedCardOf({ lastFour: '4111111111111111' })).toBeUndefined();
    expect(storedCardOf({ lastFour: 4242 })).toBeUndefined();
    expect(storedCardOf({ lastFour: '42a2' })).toBeUndefined();
    expect(storedCardOf({ expiryMonth: 0 })).toBeUndefined();
    expect(storedCardOf({ expiryMonth: '13' })).toBeUndefined();
    expect(storedCardOf({ expiryYear: '203' })).toBeUndefined();
    expect(storedCardOf({ expiryYear: 1999 })).toBeUndefined();
    expect(storedCardOf({ brand: '4111111111111111' })).toBeUndefined();
    expect(storedCardOf({ brand: 'visa', lastFour: '12345' })).toEqual({ brand: 'visa' });
  });

  it('reads a stored card back from the ledger checked again, dropping anything unreadable', () => {
    expect(parseStoredCard({ brand: 'mc', lastFour: '5454', expiryMonth: 7, expiryYear: 2029 })).toEqual({
      brand: 'mc',
      lastFour: '5454',
      expiryMonth: 7,
      expiryYear: 2029,
    });
    expect(parseStoredCard('4111111111111111')).toBeUndefined();
    expect(parseStoredCard({ lastFour: '4111111111111111' })).toBeUndefined();
  });
});
