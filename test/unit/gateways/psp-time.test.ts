import { LATEST_PSP_TIME_MS, pspEpochMs, pspEpochSecondsMs } from '../../../src/gateways/psp-time';

describe('a PSP time', () => {
  it('is read from 1970 to the end of year 9999 only', () => {
    expect(pspEpochMs(1_790_000_000_000)).toBe(1_790_000_000_000);
    expect(pspEpochMs(LATEST_PSP_TIME_MS)).toBe(LATEST_PSP_TIME_MS);
    expect(new Date(LATEST_PSP_TIME_MS).toISOString()).toBe('9999-12-31T23:59:59.999Z');
    // A card number's digits as milliseconds (year 132 000), past what a Date holds, not whole, not after 1970.
    for (const ms of [4111111111111111, 8.64e15 + 1, 1e300, 1.5, 0, -1, '1790000000000', null]) expect(pspEpochMs(ms)).toBeUndefined();
    expect(pspEpochSecondsMs(1_790_000_000)).toBe(1_790_000_000_000);
    expect(pspEpochSecondsMs(4_111_111_111_111)).toBeUndefined();
  });
});
