import { BUS_ANSWERS, FUZZ_ACCESS_TOKEN, runBusAnswerFuzz, tokenIn } from '../../../harness/drills/bus-answer-fuzz';
import { BusRequestError, BusRpcError } from '../../../src/bus/bus-errors';

/**
 * The bus answer fuzz (harness/drills/bus-answer-fuzz.ts) as a property test: seeded hostile token, register
 * and notification answers at any status, read by the product's readers. Every case ends in a value or one of
 * the reader's errors, with no card number nor any part of our access token in an error's texts, bounded texts,
 * and a token and lifetime the provider can plan with. `npm run fuzz` runs thousands more; a failure names the
 * case (seed and number) that replays it.
 */
describe('bus answer fuzz', () => {
  it.each([[20_261_205], [13]])(
    'reads 900 seeded hostile bus answers (seed %p) as the rule says',
    (seed) => {
      const report = runBusAnswerFuzz({ seed, cases: 900 });
      expect(report.violations.map((v) => `#${v.n} ${v.answer} ${v.kind} at ${v.path || 'the body'}, HTTP ${v.status}: ${v.problem}`)).toEqual([]);
      // Every reader was reached, and both sides of it: answers read and answers refused.
      for (const answer of BUS_ANSWERS) {
        const row = report.rows.find((r) => r.answer === answer);
        expect(row?.read).toBeGreaterThan(0);
        expect(row?.refused).toBeGreaterThan(0);
      }
    },
    120_000,
  );

  it('catches a reader that throws outside the taxonomy, quotes our token or a card number, or reads a lifetime unbounded', () => {
    const report = runBusAnswerFuzz({
      seed: 5,
      cases: 300,
      readers: {
        register: (a) => {
          if (a.body.includes('Invalid params')) throw new BusRpcError(-32602, a.body);
          if (a.status >= 500) throw new TypeError('Cannot read properties of undefined');
          return undefined;
        },
        notification: (a) => {
          throw new BusRequestError(`bus said ${a.body.slice(0, 2000)}`, a.status);
        },
        token: () => ({ token: 'tok', lifetimeS: 1e12 }),
      },
    });
    const problems = report.violations.map((v) => `${v.answer}: ${v.problem}`);
    expect(problems).toEqual(expect.arrayContaining([expect.stringMatching(/^register: threw outside the taxonomy \(TypeError/)]));
    expect(problems).toEqual(expect.arrayContaining([expect.stringMatching(/^notification: .*(access token|card number|characters)/)]));
    expect(problems).toEqual(expect.arrayContaining([expect.stringMatching(/^token: read a lifetime of 1000000000000 s/)]));
  });

  it('finds our token whole or any run of 24 of its characters, and nothing in an innocent text', () => {
    expect(tokenIn(`x ${FUZZ_ACCESS_TOKEN} y`)).toBe('our access token');
    expect(tokenIn(`cut: ${FUZZ_ACCESS_TOKEN.slice(400, 430)}`)).toBe('a part of our access token');
    expect(tokenIn(`cut: ${FUZZ_ACCESS_TOKEN.slice(400, 430)}`, false)).toBeNull();
    expect(tokenIn('the OAuth server at https://oauth.bus.example/oauth/token refused the client credentials (HTTP 401)')).toBeNull();
  });
});
