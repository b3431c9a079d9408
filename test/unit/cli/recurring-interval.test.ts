import { parseInterval } from '../../../src/cli/recurring-commands';

describe('the --every interval of the recurring CLI', () => {
  it.each<[string, { unit: string; count: number }]>([
    ['1 month', { unit: 'month', count: 1 }],
    ['2 weeks', { unit: 'week', count: 2 }],
    [' 30 days ', { unit: 'day', count: 30 }],
    ['month', { unit: 'month', count: 1 }],
    ['2w', { unit: 'week', count: 2 }],
    ['30D', { unit: 'day', count: 30 }],
  ])('reads %j', (text, interval) => {
    expect(parseInterval(text)).toEqual(interval);
  });

  it('gives back what it cannot read, for validation to refuse', () => {
    expect(parseInterval('fortnight')).toBe('fortnight');
  });

  it('reads 200 000 spaces before a bad unit in one pass (the untrimmed pattern backtracked quadratically: ~50 s)', () => {
    const text = `${' '.repeat(200_000)}x`;
    expect(parseInterval(text)).toBe(text);
  });
});
