import { parseExportLine } from '../../../src/data-lifecycle/operation-snapshot';

describe('parseExportLine', () => {
  const message = (raw: string): string => {
    try {
      parseExportLine(raw, 7);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error('expected the line to be refused');
  };

  it('names an unknown line type that is a word', () => {
    expect(message('{"type":"trailer"}')).toBe('line 7: unknown line type "trailer"');
  });

  it.each([
    ['a card number', '"4111 1111 1111 1111"', '4111'],
    ['a megabyte', JSON.stringify('x'.repeat(1_000_000)), 'xxxx'],
    ['an object', '{"pan":"4111111111111111"}', '4111'],
  ])('never quotes a line type that is %s: the message is printed and audited', (_name, type, fragment) => {
    const text = message(`{"type":${type}}`);
    expect(text).toBe('line 7: unknown line type');
    expect(text).not.toContain(fragment);
  });
});
