import { GatewayError } from '../../../src/errors/gateway-error';
import { PspRecordError } from '../../../src/errors/psp-record-error';
import { PSP_SURFACES, errorProblem, panIn, runPspInputFuzz } from '../../../harness/drills/psp-input-fuzz';
import { HostileJson, MAX_HOSTILE_BODY_BYTES, paths } from '../../../harness/drills/hostile-json';
import { seededRandom } from '../../../harness/workload/payment-scenarios';

/**
 * The PSP input fuzz (harness/drills/psp-input-fuzz.ts) as a property test: seeded hostile answers, status
 * inquiries, verified webhooks and reconciliation pages of every gateway, read by each gateway's own code. Every
 * case ends in a value or an error of the taxonomy, with no planted card number anywhere it goes, bounded error
 * texts, money in integer minor units, times a Date holds, and one hostile line or batch item never stopping the
 * others. `npm run fuzz` runs thousands more; a failure names the case (seed and number) that replays it.
 */
describe('PSP input fuzz', () => {
  it.each([[20_261_201], [7]])(
    'reads 600 seeded hostile PSP inputs (seed %p) as the rule says',
    async (seed) => {
      const report = await runPspInputFuzz({ seed, cases: 600 });
      expect(report.violations.map((v) => `#${v.n} ${v.surface} ${v.gateway} ${v.kind} at ${v.path || 'the body'}: ${v.problem}`)).toEqual([]);
      // Every surface was reached, and both sides of it: inputs read and inputs refused.
      for (const surface of PSP_SURFACES) {
        const rows = report.rows.filter((r) => r.surface === surface);
        expect(rows.reduce((n, r) => n + r.read, 0)).toBeGreaterThan(0);
        expect(rows.reduce((n, r) => n + r.refused, 0)).toBeGreaterThan(0);
      }
    },
    60_000,
  );

  it('gives the same cases for the same seed, each within the size bound', () => {
    const seed = { a: [1, { b: 'x', c: null }], d: 'e' };
    const one = new HostileJson(seededRandom(3));
    const two = new HostileJson(seededRandom(3));
    for (let i = 0; i < 200; i += 1) {
      const [x, y] = [one.variant(seed), two.variant(seed)];
      expect(x.body.equals(y.body)).toBe(true);
      expect(x.body.length).toBeLessThanOrEqual(MAX_HOSTILE_BODY_BYTES);
    }
    expect(paths(seed).map((p) => p.join('.'))).toEqual(['a', 'd', 'a.0', 'a.1', 'a.1.b', 'a.1.c']);
  });

  it('tells what breaks the rule: a throw outside the taxonomy, a card number in a text, a key or a number, an unbounded text', () => {
    expect(errorProblem(new TypeError('Cannot convert object to primitive value'))).toMatch(/outside the taxonomy/);
    expect(errorProblem(new GatewayError('server_error', 'psp', 'HTTP 500'))).toBeNull();
    expect(errorProblem(new PspRecordError('psp', 'line 2', 'type', 'x'.repeat(5000)))).toMatch(/5\d{3} characters/);
    expect(panIn({ a: { b: 'card 4111 1111 1111 1111' } })).toBe('a.b');
    expect(panIn({ ['5555555555554444']: 1 })).toMatch(/a name/);
    expect(panIn({ amount: 378282246310005 })).toBe('amount');
    expect(panIn({ gatewayReference: '4111111111111111' }, new Set(['gatewayReference']))).toBeNull();
  });
});
