import { validateCommand } from '../../../src/contracts/command-validator';
import { checkProfile, profileFor } from '../../../src/contracts/validation-profile';
import { buildChannels } from '../../support/channels-config';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

const channels = buildChannels({
  'channels.profiles': [
    {
      channel: 'pos',
      required_fields: ['payment.order_id', 'sequence'],
      min_amount: 100,
      max_amount: 50000,
      currencies: ['EUR'],
      commands: ['sale', 'refund', 'cancel'],
    },
    { channel: 'pos', account: 'kiosk-eu', max_amount: 2000, currencies: ['EUR', 'CHF'] },
    { channel: 'marketplace', account: '*', required_fields: ['payment.order_id'] },
  ],
});

const pos = (command: 'sale' | 'refund' | 'cancel' | 'authorize', payment: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
  channelCommand(command, { channel: 'pos', sequence: 12, ...extra }, { gateway_account: 'store-12', ...payment });

describe('validation profiles per channel and account', () => {
  it('picks the account profile over the channel-wide one, and none for another channel', () => {
    expect(profileFor(channels, 'pos', 'kiosk-eu')?.account).toBe('kiosk-eu');
    expect(profileFor(channels, 'pos', 'store-12')?.account).toBe('*');
    expect(profileFor(channels, 'web', 'store-12')).toBeNull();
  });

  it('accepts a command inside the profile', () => {
    expect(() => validateCommand(pos('sale'), channels)).not.toThrow();
  });

  it.each([
    ['a missing required field', pos('sale', { order_id: undefined }), 'payment.order_id'],
    ['a missing required envelope field', pos('sale', {}, { sequence: undefined }), 'sequence'],
    ['an amount under the minimum', pos('sale', { amount: 99 }), 'payment.amount'],
    ['an amount over the maximum', pos('sale', { amount: 50001 }), 'payment.amount'],
    ['a currency outside the set', pos('sale', { currency: 'USD' }), 'payment.currency'],
    ['a command type the profile does not take', pos('authorize'), 'command'],
  ])('refuses %s with PROFILE_REJECTED naming the field', (_label, command, field) => {
    expect(() => validateCommand(command, channels)).toThrow(expect.objectContaining({ code: 'PROFILE_REJECTED', field }));
  });

  it('applies the account profile only to its account', () => {
    const kiosk = pos('sale', { gateway_account: 'kiosk-eu', amount: 2500 });
    expect(() => validateCommand(kiosk, channels)).toThrow(expect.objectContaining({ code: 'PROFILE_REJECTED', field: 'payment.amount' }));
    expect(() => validateCommand(pos('sale', { gateway_account: 'kiosk-eu', currency: 'CHF', amount: 1500 }), channels)).not.toThrow();
  });

  it('holds a partial refund to the ceiling but not to the floor: a refund of 99 under min_amount 100 passes, one over max_amount is refused', () => {
    expect(() => validateCommand(pos('refund', { amount: 99 }), channels)).not.toThrow();
    expect(() => validateCommand(pos('refund', { amount: 1 }), channels)).not.toThrow();
    expect(() => validateCommand(pos('refund', { amount: 50001 }), channels)).toThrow(
      expect.objectContaining({ code: 'PROFILE_REJECTED', field: 'payment.amount', message: expect.stringMatching(/at most 50000/) }),
    );
  });

  it('holds a revalidate (a new authorization) to the floor and the ceiling, and a gift card reload or issue to the ceiling only', () => {
    const kiosk = { channel: 'pos' as const, sequence: 12 };
    const refusedAmount = expect.objectContaining({ code: 'PROFILE_REJECTED', field: 'payment.amount' });
    // checkProfile itself: the profile is read the way validateCommand reads it, without each command's own schema.
    const open = buildChannels({ 'channels.profiles': [{ channel: 'pos', min_amount: 100, max_amount: 50000, currencies: ['EUR'] }] });
    const profile = profileFor(open, 'pos', 'store-12');
    expect(() => checkProfile(channelCommand('revalidate', kiosk, { gateway_account: 'store-12', amount: 50001 }), profile)).toThrow(refusedAmount);
    expect(() => checkProfile(channelCommand('revalidate', kiosk, { gateway_account: 'store-12', amount: 99 }), profile)).toThrow(refusedAmount);
    expect(() => checkProfile(channelCommand('reload', kiosk, { gateway_account: 'store-12', amount: 1_000_000_000 }), profile)).toThrow(refusedAmount);
    expect(() => checkProfile(channelCommand('issue', kiosk, { gateway_account: 'store-12', amount: 50001 }), profile)).toThrow(refusedAmount);
    expect(() => checkProfile(channelCommand('reload', kiosk, { gateway_account: 'store-12', amount: 50 }), profile)).not.toThrow();
  });

  it('does not apply amount limits to commands that move no money (a cancel of 0)', () => {
    expect(() => validateCommand(pos('cancel', { amount: 0 }), channels)).not.toThrow();
  });

  it('never weakens the base contract: a profile without limits still refuses a negative amount or an unknown currency', () => {
    expect(() => validateCommand(channelCommand('sale', { channel: 'marketplace' }, { amount: -1 }), channels)).toThrow(
      expect.objectContaining({ code: 'INVALID_PARAMS', field: 'payment.amount' }),
    );
    expect(() => validateCommand(channelCommand('sale', { channel: 'marketplace' }, { currency: 'XXY' }), channels)).toThrow(
      expect.objectContaining({ code: 'INVALID_PARAMS', field: 'payment.currency' }),
    );
  });

  it('the configuration refuses two profiles for the same channel and account, and a minimum over the maximum', () => {
    expect(() => testConfig({ 'channels.profiles': [{ channel: 'web' }, { channel: 'web', account: '*' }] })).toThrow(/channels\.profiles\[1\]/);
    expect(() => testConfig({ 'channels.profiles': [{ channel: 'web', currencies: ['EUR'], min_amount: 10, max_amount: 5 }] })).toThrow(
      /must not exceed max_amount/,
    );
    expect(() => testConfig({ 'channels.profiles': [{ channel: 'web', currencies: ['EURO'] }] })).toThrow(/channels\.profiles/);
  });

  it('the configuration refuses an amount limit without currencies, or over currencies of different minor-unit exponents', () => {
    // 500000 would be 5000.00 EUR but 500.000 KWD (about 1600 EUR) and 500000 JPY (about 3000 EUR).
    expect(() => testConfig({ 'channels.profiles': [{ channel: 'web' }, { channel: 'pos', max_amount: 500000 }] })).toThrow(
      /channels\.profiles\[1\]\.max_amount.*name the currencies.*channels\.profiles\[1\]\.currencies/,
    );
    expect(() => testConfig({ 'channels.profiles': [{ channel: 'pos', min_amount: 100, currencies: ['EUR', 'JPY'] }] })).toThrow(
      /channels\.profiles\[0\]\.min_amount.*JPY: 0 decimals; EUR: 2 decimals/,
    );
    expect(testConfig({ 'channels.profiles': [{ channel: 'pos', max_amount: 500000, currencies: ['EUR', 'CHF'] }] }).channels.profiles).toHaveLength(1);
  });

  it('the configuration accepts min_amount 0 as one number over currencies of different exponents (0 is no floor in any currency)', () => {
    const profile = { channel: 'pos', min_amount: 0, max_amount: { EUR: 500000, JPY: 500000, KWD: 150000 }, currencies: ['EUR', 'JPY', 'KWD'] };
    expect(testConfig({ 'channels.profiles': [profile] }).channels.profiles[0]).toMatchObject({ minAmount: 0 });
    expect(testConfig({ 'channels.profiles': [{ channel: 'pos', min_amount: 0, currencies: ['EUR', 'JPY'] }] }).channels.profiles).toHaveLength(1);
    // The other side is still checked, and 0 still needs the currencies named.
    expect(() => testConfig({ 'channels.profiles': [{ channel: 'pos', min_amount: 0, max_amount: 5000, currencies: ['EUR', 'JPY'] }] })).toThrow(
      /channels\.profiles\[0\]\.max_amount.*JPY: 0 decimals; EUR: 2 decimals/,
    );
    expect(() => testConfig({ 'channels.profiles': [{ channel: 'pos', min_amount: 0 }] })).toThrow(/channels\.profiles\[0\]\.min_amount.*names none/);
  });
});

describe('validation profile amount limits per currency', () => {
  // A web channel taking EUR (2 decimals), JPY (0) and KWD (3): each limit in its own minor units.
  const perCurrency = buildChannels({
    'channels.profiles': [{ channel: 'web', min_amount: { EUR: 100, JPY: 100, KWD: 100 }, max_amount: { EUR: 500000, JPY: 500000, KWD: 150000 } }],
  });
  const web = (command: 'sale' | 'cancel', payment: Record<string, unknown>) => channelCommand(command, { channel: 'web' }, payment);

  it.each([
    ['5,000.00 EUR', 500000, 'EUR'],
    ['500,000 JPY', 500000, 'JPY'],
    ['150.000 KWD', 150000, 'KWD'],
    ['1.00 EUR', 100, 'EUR'],
  ])('accepts %s, at its own currency limit', (_label, amount, currency) => {
    expect(() => validateCommand(web('sale', { amount, currency }), perCurrency)).not.toThrow();
  });

  it.each([
    ['150.001 KWD (over its own limit, though under the EUR and JPY numbers)', 150001, 'KWD', 'payment.amount', /at most 150000 minor units of KWD/],
    ['500,001 JPY', 500001, 'JPY', 'payment.amount', /at most 500000 minor units of JPY/],
    ['99 JPY', 99, 'JPY', 'payment.amount', /at least 100 minor units of JPY/],
    ['USD, which the limits do not name', 1000, 'USD', 'payment.currency', /amount bounds of this channel and account name/],
  ])('refuses %s with PROFILE_REJECTED naming the field', (_label, amount, currency, field, message) => {
    expect(() => validateCommand(web('sale', { amount, currency }), perCurrency)).toThrow(expect.objectContaining({ code: 'PROFILE_REJECTED', field }));
    expect(() => validateCommand(web('sale', { amount, currency }), perCurrency)).toThrow(message);
  });

  it.each(['capture', 'refund'] as const)(
    'a partial %s under the floor passes (the floor bounds opening a payment), over the ceiling is refused',
    (command) => {
      expect(() => validateCommand(channelCommand(command, { channel: 'web' }, { amount: 5, currency: 'EUR' }), perCurrency)).not.toThrow();
      expect(() => validateCommand(channelCommand(command, { channel: 'web' }, { amount: 99, currency: 'JPY' }), perCurrency)).not.toThrow();
      expect(() => validateCommand(channelCommand(command, { channel: 'web' }, { amount: 500001, currency: 'JPY' }), perCurrency)).toThrow(
        /at most 500000 minor units of JPY/,
      );
      expect(() => validateCommand(channelCommand(command, { channel: 'web' }, { amount: 5, currency: 'USD' }), perCurrency)).toThrow(
        expect.objectContaining({ code: 'PROFILE_REJECTED', field: 'payment.currency' }),
      );
    },
  );

  it.each(['authorize', 'sale'] as const)('%s under the floor is still refused', (command) => {
    expect(() => validateCommand(channelCommand(command, { channel: 'web' }, { amount: 99, currency: 'JPY' }), perCurrency)).toThrow(
      expect.objectContaining({ code: 'PROFILE_REJECTED', field: 'payment.amount', message: expect.stringMatching(/at least 100 minor units of JPY/) }),
    );
  });

  it('a command that moves no money is not held to the limits, whatever its currency', () => {
    expect(() => validateCommand(web('cancel', { amount: 0, currency: 'USD' }), perCurrency)).not.toThrow();
  });

  it('the configuration names the key of an unknown code, a code outside currencies, and a floor over its ceiling', () => {
    expect(() => testConfig({ 'channels.profiles': [{ channel: 'web', max_amount: { EUR: 5000, ABC: 1 } }] })).toThrow(
      /channels\.profiles\[0\]\.max_amount\.ABC.*not an ISO 4217 currency code/,
    );
    expect(() => testConfig({ 'channels.profiles': [{ channel: 'web', currencies: ['EUR'], max_amount: { EUR: 5000, JPY: 5000 } }] })).toThrow(
      /channels\.profiles\[0\]\.max_amount\.JPY.*JPY is not in channels\.profiles\[0\]\.currencies/,
    );
    expect(() => testConfig({ 'channels.profiles': [{ channel: 'web', min_amount: { JPY: 9000 }, max_amount: { JPY: 5000 } }] })).toThrow(
      /channels\.profiles\[0\]\.min_amount\.JPY.*must not exceed max_amount\.JPY \(5000\)/,
    );
    expect(() => testConfig({ 'channels.profiles': [{ channel: 'web', max_amount: { EUR: -5 } }] })).toThrow(
      /channels\.profiles\[0\]\.max_amount\.EUR.*must be >= 0/,
    );
  });

  it('the configuration refuses a currency with a per-currency limit on one side only, naming the missing key', () => {
    expect(() => testConfig({ 'channels.profiles': [{ channel: 'web', min_amount: { EUR: 100 }, max_amount: { EUR: 10000, JPY: 50000 } }] })).toThrow(
      /channels\.profiles\[0\]\.min_amount\.JPY" is missing while max_amount\.JPY is given/,
    );
    expect(() => testConfig({ 'channels.profiles': [{ channel: 'web', min_amount: { EUR: 100, JPY: 100 }, max_amount: { EUR: 10000 } }] })).toThrow(
      /channels\.profiles\[0\]\.max_amount\.JPY" is missing while min_amount\.JPY is given/,
    );
    expect(() => testConfig({ 'channels.profiles': [{ channel: 'web', currencies: ['EUR', 'JPY'], min_amount: 0, max_amount: { EUR: 10000 } }] })).toThrow(
      /channels\.profiles\[0\]\.max_amount\.JPY" is missing while min_amount \(0\) applies to JPY/,
    );
    // Each currency bounded on both sides (0: no floor), or one side only given at all: accepted.
    const paired = { channel: 'web', min_amount: { EUR: 100, JPY: 0 }, max_amount: { EUR: 10000, JPY: 50000 } };
    expect(testConfig({ 'channels.profiles': [paired, { channel: 'pos', max_amount: { EUR: 10000, JPY: 50000 } }] }).channels.profiles).toHaveLength(2);
  });
});
