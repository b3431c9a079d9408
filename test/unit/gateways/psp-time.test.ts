import { LATEST_PSP_TIME_MS, pspEpochMs, pspEpochSecondsMs, pspIsoTimeMs } from '../../../src/gateways/psp-time';

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

  it('reads an ISO 8601 time with its zone strictly: a bad time is no time, never a crash nor a guess', () => {
    expect(pspIsoTimeMs('2024-01-01T12:00:00Z')).toBe(Date.UTC(2024, 0, 1, 12));
    // Cybersource writes some answers' submitTimeUtc without colons ("YYYY-MM-DDThhmmssZ").
    expect(pspIsoTimeMs('2020-01-11T224757Z')).toBe(Date.UTC(2020, 0, 11, 22, 47, 57));
    expect(pspIsoTimeMs('2024-01-01T12:00:00.5Z')).toBe(Date.UTC(2024, 0, 1, 12, 0, 0, 500));
    expect(pspIsoTimeMs('2024-02-29T23:59:59Z')).toBe(Date.UTC(2024, 1, 29, 23, 59, 59));
    // Adyen's eventDate ("yyyy-MM-DDThh:mm:ssTZD"): the offset says the zone, with or without its colon.
    expect(pspIsoTimeMs('2021-07-17T13:42:40+01:00')).toBe(Date.UTC(2021, 6, 17, 12, 42, 40));
    expect(pspIsoTimeMs('2021-07-17T13:42:40-0530')).toBe(Date.UTC(2021, 6, 17, 19, 12, 40));
    expect(pspIsoTimeMs('1970-01-01T01:00:01+01:00')).toBe(1000);
    for (const bad of [
      '2024-01-01T12:00:00', // no zone: Date.parse would read it in the server's
      '2024-01-01T12:00:00+24:00',
      '2024-01-01T12:00:00+01:60',
      '2024-01-01T12:00:00+1:00',
      '1970-01-01T00:30:00+01:00', // before 1970 once the offset is applied
      '2023-02-29T00:00:00Z',
      '2024-04-31T00:00:00Z',
      '2024-13-01T00:00:00Z',
      '2024-01-01T24:00:00Z',
      '2024-01-01T12:60:00Z',
      '2024-01-01T12:0000Z',
      '0000-01-01T00:00:00Z',
      '+010000-01-01T00:00:00Z',
      'Mon, 01 Jan 2024 12:00:00 GMT',
      '2024-01-01',
      '',
      1_704_110_400_000,
      null,
      undefined,
    ])
      expect(pspIsoTimeMs(bad)).toBeUndefined();
  });
});
