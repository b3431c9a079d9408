import { MovedAmountFields, RoutingRecord, amountIn, amountInCommandCurrency, confirmedOrAsked } from '../../../src/ledger/routing-record';
import { channelCommand } from '../../support/fixtures';

/** A capture of USD `amount`, sent as EUR `sent` when given (a converted authorization's locked rate). */
function capture(amount: number, extra: Partial<MovedAmountFields> = {}, sent?: number): MovedAmountFields {
  const routing: RoutingRecord | undefined =
    sent === undefined
      ? undefined
      : {
          gateway: 'adyen',
          requested: 'adyen',
          candidates: ['adyen'],
          index: 0,
          decisions: [{ stage: 'fx', outcome: 'changed', reasons: ['converted'] }],
          amount: sent,
          currency: 'EUR',
        };
  return { payment: channelCommand('capture', {}, { amount, currency: 'USD' }).payment, routing, ...extra };
}

describe('amountIn: what an operation moved in a given currency', () => {
  it('is the confirmed figure when the PSP confirmed it in that currency, whatever case it names it in', () => {
    expect(amountIn(capture(2000, { confirmedAmount: 1500, confirmedCurrency: 'usd' }), 'USD')).toBe(1500);
    expect(amountIn(capture(2000, { confirmedAmount: 1802, confirmedCurrency: 'EUR' }, 1802), 'eur')).toBe(1802);
  });

  it('is what the command asked when nothing was confirmed in that currency and the command is in it', () => {
    expect(amountIn(capture(2000), 'USD')).toBe(2000);
    expect(amountIn(capture(2000, { confirmedAmount: 1802, confirmedCurrency: 'EUR' }, 1802), 'USD')).toBe(2000);
  });

  it('is what the gateway was asked at the locked rate when only that is in the currency (a converted capture Adyen did not confirm)', () => {
    expect(amountIn(capture(1000, {}, 901), 'EUR')).toBe(901);
    // A confirmed figure with no currency is in the currency the gateway was asked in.
    expect(amountIn(capture(1000, { confirmedAmount: 900 }, 901), 'EUR')).toBe(900);
  });

  it('is null in a currency none of its figures is in', () => {
    expect(amountIn(capture(2000), 'EUR')).toBeNull();
    expect(amountIn(capture(2000, { confirmedAmount: 1802, confirmedCurrency: 'EUR' }, 1802), 'GBP')).toBeNull();
  });

  it("amountInCommandCurrency keeps the command's figure for a converted operation, the confirmed one otherwise", () => {
    expect(amountInCommandCurrency(capture(2000, { confirmedAmount: 1802, confirmedCurrency: 'EUR' }, 1802))).toBe(2000);
    expect(amountInCommandCurrency(capture(2000, { confirmedAmount: 1500, confirmedCurrency: 'USD' }))).toBe(1500);
    expect(amountInCommandCurrency(capture(2000, { confirmedAmount: 1500 }))).toBe(1500);
  });
});

describe('confirmedOrAsked', () => {
  const asked = { amount: 1000, currency: 'USD' };

  it('is the confirmed amount with its currency (upper-cased), or the asked currency when the PSP named none', () => {
    expect(confirmedOrAsked({ confirmedAmount: 900, confirmedCurrency: 'eur' }, asked)).toEqual({ amount: 900, currency: 'EUR' });
    expect(confirmedOrAsked({ confirmedAmount: 900 }, asked)).toEqual({ amount: 900, currency: 'USD' });
  });

  it('a confirmed currency without its amount is ignored: the asked money, never the asked amount in the confirmed currency', () => {
    expect(confirmedOrAsked({ confirmedCurrency: 'EUR' }, asked)).toEqual(asked);
  });
});
