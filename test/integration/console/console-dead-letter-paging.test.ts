/**
 * The dashboard's dead-letter list pages: `per` rows (25 unless told, 1 to 100), "Older" / "Newer" links
 * that carry the place of the page's last / first row (`before` / `after`), so a dead letter archived
 * between two pages shifts neither, and ties (records of one millisecond, of one impact) are split by id.
 * A bad `per`, `before` or `after` is refused with 400 naming the parameter, never echoed.
 */
import { CONSOLE_PASSWORD, ConsoleStack, startConsoleStack } from '../../support/console-stack';
import { consoleLogin, sessionCookie } from '../../support/console-login';
import { DeadLetterRecord, DeadLetterStore } from '../../../src/ops/dead-letter-store';

const T0 = Date.parse('2026-12-01T10:00:00Z');

/** A dead letter `n`, three to a millisecond and five to an impact score, so page boundaries fall inside ties. */
function record(n: number, at = T0 + Math.floor(n / 3)): DeadLetterRecord {
  return {
    id: `dl-${n.toString(16).padStart(24, '0')}`,
    deadLetteredAt: at,
    archivedAt: at,
    code: 'VALIDATION_FAILED',
    field: 'amount',
    reason: `paging test ${n}`,
    source: 'http:intake',
    orderId: `ORD-PAGE-${n}`,
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

describe('console dashboard: paging the dead letters', () => {
  let stack: ConsoleStack;
  let cookie: string;
  let store: DeadLetterStore;
  const records = Array.from({ length: 60 }, (_, n) => record(n));

  beforeAll(async () => {
    stack = await startConsoleStack();
    cookie = sessionCookie(await consoleLogin(stack.base, CONSOLE_PASSWORD));
    store = new DeadLetterStore(stack.redis, stack.config.redis.keyPrefix);
    for (const r of records) await store.archive(r);
  });

  afterAll(() => stack.stop());

  const get = (href: string) => fetch(new URL(href, stack.base), { headers: { cookie }, redirect: 'manual' });
  /** A dashboard page's dead-letter rows, in order, and its Newer / Older links (unescaped). */
  const page = async (href: string) => {
    const res = await get(href);
    expect(res.status).toBe(200);
    const text = await res.text();
    const link = (which: string) => new RegExp(`data-page="${which}" href="([^"]+)"`).exec(text)?.[1]?.replace(/&#38;/g, '&');
    return { rows: [...text.matchAll(/<tr data-dead-letter="(dl-[0-9a-f]{24})"/g)].map((m) => m[1]), newer: link('newer'), older: link('older') };
  };

  it('lists 60 dead letters newest first in three pages of 25, 25 and 10, with no gap or repeat, though one arrives between page 1 and page 2', async () => {
    const expected = ranked(records, 'deadLetteredAt');
    const first = await page(stack.base);
    expect(first.rows).toEqual(expected.slice(0, 25));
    expect(first.newer).toBeUndefined();
    expect(first.older).toMatch(/^\/console\?dl=time&before=\d+%3Adl-[0-9a-f]{24}$/);

    const late = record(1000, T0 + 60_000);
    await store.archive(late);

    const second = await page(first.older as string);
    expect(second.rows).toEqual(expected.slice(25, 50));
    const third = await page(second.older as string);
    expect(third.rows).toEqual(expected.slice(50, 60));
    expect(third.older).toBeUndefined();
    expect(new Set([...first.rows, ...second.rows, ...third.rows]).size).toBe(60);

    // Back up: Newer from page 3 is page 2 again, from page 2 the rows of page 1 as they were; above those, the
    // late one, and Newer near the top gives the first page whole rather than one row.
    expect((await page(third.newer as string)).rows).toEqual(second.rows);
    const again = await page(second.newer as string);
    expect(again.rows).toEqual(expected.slice(0, 25));
    const top = await page(again.newer as string);
    expect(top.rows).toEqual([late.id, ...expected.slice(0, 24)]);
    expect(top.newer).toBeUndefined();
  });

  it('pages the impact order by the impact index, per rows at a time, keeping per in its links', async () => {
    const expected = ranked([...records, record(1000, T0 + 60_000)], 'impact');
    const seen: string[] = [];
    let href: string | undefined = `${stack.config.console.path}?dl=impact&per=20`;
    for (let n = 0; href && n < 10; n += 1) {
      const p = await page(href);
      expect(p.rows.length).toBeLessThanOrEqual(20);
      seen.push(...p.rows);
      if (p.older) expect(p.older).toMatch(/^\/console\?dl=impact&per=20&before=[\d.]+%3Adl-[0-9a-f]{24}$/);
      href = p.older;
    }
    expect(seen).toEqual(expected);
  });

  it('answers 400 naming per, before or after for a value its links never send, without echoing it', async () => {
    const refused: Array<[string, string]> = [
      ['per=0', 'The parameter per must be a whole number from 1 to 100.'],
      ['per=101', 'The parameter per must be a whole number from 1 to 100.'],
      ['per=2.5', 'The parameter per must be a whole number from 1 to 100.'],
      ['per=', 'The parameter per must be a whole number from 1 to 100.'],
      ['before=%3Cscript%3E', 'The parameter before must be a place in the list'],
      ['before=-5', 'The parameter before must be a place in the list'],
      ['before=12%3Adl-zz', 'The parameter before must be a place in the list'],
      ['after=NaN', 'The parameter after must be a place in the list'],
      ['before=1&after=2', 'Give one of the parameters before and after, not both.'],
    ];
    for (const [query, message] of refused) {
      const res = await get(`${stack.config.console.path}?${query}`);
      expect(res.status).toBe(400);
      const text = await res.text();
      expect(text).toContain(message);
      expect(text).not.toContain('<script>');
      expect(text).not.toContain('id="dead-letters');
    }
  });

  it('takes a bare score as before: the dead letters dead-lettered before that millisecond', async () => {
    const p = await page(`${stack.config.console.path}?before=${T0 + 10}&per=5`);
    expect(p.rows).toEqual(
      ranked(records, 'deadLetteredAt')
        .filter((id) => records.find((r) => r.id === id)!.deadLetteredAt < T0 + 10)
        .slice(0, 5),
    );
  });

  it('goes on by score when the record a link names has gone since (erased), without a gap', async () => {
    const expected = ranked(records, 'deadLetteredAt');
    const gone = records.find((r) => r.id === expected[29])!;
    const keys = { time: `${stack.config.redis.keyPrefix}{dl}:dls:time`, impact: `${stack.config.redis.keyPrefix}{dl}:dls:impact` };
    await stack.redis.multi().zrem(keys.time, gone.id).zrem(keys.impact, gone.id).exec();
    const p = await page(`${stack.config.console.path}?before=${encodeURIComponent(`${gone.deadLetteredAt}:${gone.id}`)}&per=5`);
    expect(p.rows).toEqual(expected.slice(30, 35));
  });
});
