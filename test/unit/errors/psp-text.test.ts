import { MAX_QUOTED_PSP_CHARS, pspValueText } from '../../../src/errors/psp-text';

describe('pspValueText: a PSP value as an error message names it', () => {
  it('quotes a string, cut; a number or boolean as written; anything else by its type alone', () => {
    expect(pspValueText('weird')).toBe('"weird"');
    expect(pspValueText('z'.repeat(10_000))).toBe(`${JSON.stringify('z'.repeat(MAX_QUOTED_PSP_CHARS))}…`);
    expect(pspValueText(42)).toBe('42');
    expect(pspValueText(false)).toBe('false');
    expect(pspValueText(null)).toBe('null');
    expect(pspValueText(undefined)).toBe('nothing');
    expect(pspValueText({ status: 'x' })).toBe('a value of type object');
    expect(pspValueText([1])).toBe('an array');
  });

  it('never walks a value: arrays nested 200 000 deep cost nothing and throw nothing', () => {
    const deep = JSON.parse(`${'['.repeat(200_000)}1${']'.repeat(200_000)}`) as unknown;
    expect(pspValueText(deep)).toBe('an array');
  });

  it('masks a card number before quoting it: a tab between its groups would be escaped out of the masking', () => {
    for (const pan of ['4111\t1111\t1111\t1111', '4111 1111 1111 1111', `${'x'.repeat(60)}4111111111111111`]) {
      expect(pspValueText(pan)).not.toMatch(/4111(\\t| )?1111(\\t| )?1111/);
    }
  });
});
