import { folderCycles, folderOf } from '../../../scripts/check-folder-cycles';

const graph = (pairs: [string, string][]) => {
  const edges = new Map<string, Set<string>>();
  for (const [a, b] of pairs) {
    if (!edges.has(a)) edges.set(a, new Set());
    edges.get(a)?.add(b);
  }
  return edges;
};

describe('folder cycle check', () => {
  it('names the folder of a module by its first segment under src/', () => {
    expect(folderOf('src/gateways/stripe/stripe-requests.ts')).toBe('gateways');
    expect(folderOf('src/cli.ts')).toBe('(src)');
    expect(folderOf('test/unit/x.test.ts')).toBeNull();
  });

  it('finds a two-folder cycle and a three-folder cycle, and nothing in an acyclic graph', () => {
    expect(
      folderCycles(
        graph([
          ['a', 'b'],
          ['b', 'a'],
          ['c', 'd'],
        ]),
      ),
    ).toEqual([['a', 'b']]);
    expect(
      folderCycles(
        graph([
          ['a', 'b'],
          ['b', 'c'],
          ['c', 'a'],
          ['c', 'd'],
        ]),
      ),
    ).toEqual([['a', 'b', 'c']]);
    expect(
      folderCycles(
        graph([
          ['a', 'b'],
          ['b', 'c'],
          ['a', 'c'],
        ]),
      ),
    ).toEqual([]);
  });
});
