/**
 * `ops dead-letters list` pages as the console's list does: `--limit` rows (1 to 1000) below `--before` or
 * above `--after` a place, through the same `DeadLetterStore.page`, and it prints the place of the next page
 * each way (a ready command line; `older` / `newer` under `--json`). Before, it printed the newest `--limit`
 * and nothing more: the rest of an incident's dead letters could not be listed.
 */
import { PassThrough } from 'node:stream';
import { opsDeadLetterList } from '../../../src/cli/ops-commands';
import { Config } from '../../../src/config/config';
import { silentLogger } from '../../../src/logging/logger';
import { OpsContext, openOps } from '../../../src/ops/ops-context';
import { DeadLetterRecord } from '../../../src/ops/dead-letter-store';
import { testConfig } from '../../support/test-config';

const T0 = Date.parse('2026-12-01T10:00:00Z');

/** A dead letter `n`, three to a millisecond and five to an impact score, so page boundaries fall inside ties. */
function record(n: number): DeadLetterRecord {
  const at = T0 + Math.floor(n / 3);
  return {
    id: `dl-${n.toString(16).padStart(24, '0')}`,
    deadLetteredAt: at,
    archivedAt: at,
    code: 'VALIDATION_FAILED',
    field: 'amount',
    reason: `cli paging test ${n}`,
    source: 'http:intake',
    orderId: `ORD-CLI-PAGE-${n}`,
    replayable: false,
    category: 'hard',
    impact: Math.floor(n / 5) * 1.25,
    body: '{}',
    replays: 0,
  };
}

/** Time order (newest first) or impact order (highest first), ties by id descending, as Redis ranks them. */
const ranked = (records: DeadLetterRecord[], by: 'deadLetteredAt' | 'impact') =>
  [...records].sort((a, b) => b[by] - a[by] || (a.id < b.id ? 1 : -1)).map((r) => r.id);

type ListArgs = Parameters<typeof opsDeadLetterList>[2];

describe('ops dead-letters list: paging (real Redis, own namespace)', () => {
  let config: Config;
  let ctx: OpsContext;
  const records = Array.from({ length: 60 }, (_, n) => record(n));

  beforeAll(async () => {
    config = testConfig();
    ctx = openOps(config, silentLogger(), { service: 'ops', auditStream: new PassThrough() });
    for (const r of records) await ctx.deadLetters.archive(r);
  });

  afterAll(() => ctx.close());

  async function list(args: ListArgs): Promise<{ text: string; json: { dead_letters: { id: string }[]; newer?: string; older?: string } }> {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    expect(await opsDeadLetterList(ctx, { out, err: new PassThrough(), actor: 'tester@ci' }, { import: false, ...args })).toBe(0);
    const text = Buffer.concat(chunks).toString('utf8');
    return { text, json: args.json ? JSON.parse(text) : { dead_letters: [] } };
  }

  it.each([
    ['time', 'deadLetteredAt'],
    ['impact', 'impact'],
  ] as const)('walks every dead letter by %s, --limit a page, down by --before and back up by --after, each once', async (by, field) => {
    const expected = ranked(records, field);
    const seen: string[][] = [];
    let page = await list({ by, limit: '25', json: true });
    expect(page.json.newer).toBeUndefined();
    seen.push(page.json.dead_letters.map((r) => r.id));
    while (page.json.older) {
      page = await list({ by, limit: '25', before: page.json.older, json: true });
      seen.push(page.json.dead_letters.map((r) => r.id));
    }
    expect(seen.map((p) => p.length)).toEqual([25, 25, 10]);
    expect(seen.flat()).toEqual(expected);
    // Back up from the last page: the middle page again, then the first.
    const back = await list({ by, limit: '25', after: page.json.newer, json: true });
    expect(back.json.dead_letters.map((r) => r.id)).toEqual(seen[1]);
    const top = await list({ by, limit: '25', after: back.json.newer, json: true });
    expect(top.json.dead_letters.map((r) => r.id)).toEqual(seen[0]);
    expect(top.json.newer).toBeUndefined();
  });

  it('prints the command line of the next page each way under the rows', async () => {
    const first = await list({ limit: '20' });
    const older = /^older: payment-bridge ops dead-letters list --limit 20 --no-import --before (\S+)$/m.exec(first.text);
    expect(older).not.toBeNull();
    expect(first.text).not.toMatch(/^newer:/m);
    const second = await list({ limit: '20', before: older?.[1] });
    const expected = ranked(records, 'deadLetteredAt');
    expect(second.text).toContain(expected[20]);
    expect(second.text).not.toContain(expected[19]);
    expect(second.text).toMatch(/^newer: payment-bridge ops dead-letters list --limit 20 --no-import --after \S+$/m);
    const byImpact = await list({ by: 'impact', limit: '20' });
    expect(byImpact.text).toMatch(/^lower impact: payment-bridge ops dead-letters list --by impact --limit 20 --no-import --before \S+$/m);
  });

  it('gives a page of up to 1000 rows, as --limit allows', async () => {
    const many = testConfig();
    const big = openOps(many, silentLogger(), { service: 'ops', auditStream: new PassThrough() });
    try {
      const all = Array.from({ length: 1005 }, (_, n) => record(n));
      for (let i = 0; i < all.length; i += 100) await Promise.all(all.slice(i, i + 100).map((r) => big.deadLetters.archive(r)));
      const out = new PassThrough();
      const chunks: Buffer[] = [];
      out.on('data', (c: Buffer) => chunks.push(c));
      await opsDeadLetterList(big, { out, err: new PassThrough(), actor: 'tester@ci' }, { import: false, limit: '1000', json: true });
      const json = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { dead_letters: { id: string }[]; older?: string };
      expect(json.dead_letters.map((r) => r.id)).toEqual(ranked(all, 'deadLetteredAt').slice(0, 1000));
      expect(json.older).toEqual(expect.any(String));
    } finally {
      await big.close();
    }
  });

  it('refuses a --before or --after that is no place, both at once, or one with --category, naming the option, before importing anything', async () => {
    const io = { out: new PassThrough(), err: new PassThrough(), actor: 'tester@ci' };
    const imports = jest.spyOn(ctx, 'importDeadLetters');
    await expect(opsDeadLetterList(ctx, io, { before: 'yesterday' })).rejects.toThrow(/^--before must be a place in the list/);
    await expect(opsDeadLetterList(ctx, io, { after: '12:dl-xyz' })).rejects.toThrow(/^--after must be a place in the list/);
    await expect(opsDeadLetterList(ctx, io, { before: '1', after: '2' })).rejects.toThrow('give one of --before and --after, not both');
    await expect(opsDeadLetterList(ctx, io, { category: 'hard', before: '1' })).rejects.toThrow(/--category .* leave out --before/);
    expect(imports).not.toHaveBeenCalled();
  });
});
