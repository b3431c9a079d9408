import { DEFAULT_HEAP_GROWING_PERCENT, heapGrowingPercent } from '../../../src/cli/heap-tuning';

describe('heapGrowingPercent', () => {
  it('defaults to 60 % when PB_HEAP_GROWING_PERCENT is unset or empty', () => {
    expect(DEFAULT_HEAP_GROWING_PERCENT).toBe(60);
    expect(heapGrowingPercent({})).toBe(60);
    expect(heapGrowingPercent({ PB_HEAP_GROWING_PERCENT: '' })).toBe(60);
  });

  it('takes an integer percent, and 0 as "leave it to V8"', () => {
    expect(heapGrowingPercent({ PB_HEAP_GROWING_PERCENT: '35' })).toBe(35);
    expect(heapGrowingPercent({ PB_HEAP_GROWING_PERCENT: '0' })).toBeNull();
  });

  it.each(['-5', '1.5', 'lots', '401', ' 60'])('refuses %p naming the variable', (raw) => {
    expect(() => heapGrowingPercent({ PB_HEAP_GROWING_PERCENT: raw })).toThrow(/PB_HEAP_GROWING_PERCENT must be an integer from 0 to 400/);
  });
});
