/**
 * Every `--limit` of an `ops` listing is a whole number from 1 to 1000, refused with an error naming it
 * before anything is read. `Number()` took it as typed: `0` or `-1` reached Redis as a range end of -1 or
 * less and read a whole set (the dead-letter archive holds 50 000 records; `ops dead-letters replay
 * --category C --limit -1` replayed nearly every record of that category), and a word reached it as `NaN`.
 */
import { PassThrough } from 'node:stream';
import { MAX_LIMIT, parseLimit } from '../../../src/cli/limit-option';
import { opsDeadLetterList, opsDeadLetterReplay, opsDeadLetterUnpark, opsList } from '../../../src/cli/ops-commands';
import { opsRejectedEvents } from '../../../src/cli/event-commands';
import { opsRiskReviews } from '../../../src/cli/risk-review-commands';
import { opsSplitTendersParked } from '../../../src/cli/split-tender-commands';
import { opsFailedWebhooks } from '../../../src/cli/webhook-commands';
import type { OpsContext } from '../../../src/ops/ops-context';

/** An object any use of which is noted in `touched` and throws: nothing may be read before the option is checked. */
function untouchable(name: string, touched: string[]): never {
  return new Proxy(
    {},
    {
      get: (_target, member) => {
        touched.push(`${name}.${String(member)}`);
        throw new Error(`${name}.${String(member)} used`);
      },
    },
  ) as never;
}

function context(touched: string[]): OpsContext {
  return {
    config: { redis: { keyPrefix: 'limit-test:' } },
    redis: untouchable('redis', touched),
    deadLetters: untouchable('deadLetters', touched),
    operations: untouchable('operations', touched),
    audit: untouchable('audit', touched),
    importDeadLetters: () => {
      touched.push('importDeadLetters');
      throw new Error('importDeadLetters used');
    },
    unparkDeadLetters: () => {
      touched.push('unparkDeadLetters');
      throw new Error('unparkDeadLetters used');
    },
  } as unknown as OpsContext;
}

const io = () => ({ out: new PassThrough(), err: new PassThrough(), actor: 'tester@ci' });

const COMMANDS: Array<[string, (ctx: OpsContext, limit: string) => Promise<number>]> = [
  ['ops list', (ctx, limit) => opsList(ctx, io(), { limit })],
  ['ops dead-letters list', (ctx, limit) => opsDeadLetterList(ctx, io(), { limit })],
  ['ops dead-letters list --no-import', (ctx, limit) => opsDeadLetterList(ctx, io(), { limit, import: false })],
  ['ops dead-letters replay --category', (ctx, limit) => opsDeadLetterReplay(ctx, io(), { ids: [], category: 'config', limit, execute: true })],
  ['ops dead-letters unpark', (ctx, limit) => opsDeadLetterUnpark(ctx, io(), { limit, execute: true })],
  ['ops events rejected', (ctx, limit) => opsRejectedEvents(ctx, io(), { limit })],
  ['ops risk-reviews', (ctx, limit) => opsRiskReviews(ctx, io(), { limit })],
  ['ops split-tenders-parked', (ctx, limit) => opsSplitTendersParked(ctx, io(), { limit })],
  ['ops webhooks failed', (ctx, limit) => opsFailedWebhooks(ctx, io(), { limit })],
];

describe('--limit of the ops listings', () => {
  it.each(COMMANDS)('%s refuses 0, -1, a word, a fraction and 1001, naming --limit, before reading anything', async (_name, run) => {
    for (const limit of ['0', '-1', 'many', '2.5', '1e3', '', String(MAX_LIMIT + 1)]) {
      const touched: string[] = [];
      await expect(run(context(touched), limit)).rejects.toThrow(`--limit must be an integer from 1 to ${MAX_LIMIT}`);
      expect(touched).toEqual([]);
    }
  });

  it('takes 1 to 1000, spaces around it aside', () => {
    expect(parseLimit('1')).toBe(1);
    expect(parseLimit(' 50 ')).toBe(50);
    expect(parseLimit(String(MAX_LIMIT))).toBe(MAX_LIMIT);
  });
});
