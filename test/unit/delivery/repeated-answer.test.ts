import { Interaction } from '../../../src/ledger/ledger';
import { maybeSavedAnswer, sameUnknownAnswersInARow } from '../../../src/delivery/repeated-answer';

/** History entries at increasing times. */
function history(...entries: Omit<Interaction, 'at'>[]): Interaction[] {
  return entries.map((e, i) => ({ at: 1_000 + i, ...e }) as Interaction);
}

const attempt = (key?: string): Omit<Interaction, 'at'> => ({ event: 'attempt', ...(key ? { idempotency_key: key } : {}) });
const unknown = (status: number, code?: string): Omit<Interaction, 'at'> => ({
  event: 'send_error',
  kind: 'outcome_unknown',
  http_status: status,
  gateway_code: code,
});
const miss: Omit<Interaction, 'at'> = { event: 'inquiry', found: false };
const answer = { httpStatus: 500, gatewayCode: 'api_error' };

describe('sameUnknownAnswersInARow', () => {
  it('counts the attempts under the current key answered with the same 5xx, the current one included', () => {
    expect(sameUnknownAnswersInARow(history(attempt()), 'op', answer)).toBe(1);
    const twice = history(attempt(), unknown(500, 'api_error'), miss, attempt(), unknown(500, 'api_error'), miss, attempt());
    expect(sameUnknownAnswersInARow(twice, 'op', answer)).toBe(3);
  });

  it('stops at another answer, another status or code, an attempt with no recorded answer, or another key', () => {
    const other = history(attempt(), unknown(502, 'api_error'), miss, attempt(), unknown(500, 'api_error'), miss, attempt());
    expect(sameUnknownAnswersInARow(other, 'op', answer)).toBe(2);
    const code = history(attempt(), unknown(500), miss, attempt(), unknown(500, 'api_error'), miss, attempt());
    expect(sameUnknownAnswersInARow(code, 'op', answer)).toBe(2);
    const retried = history(attempt(), { event: 'send_error', kind: 'server_error', http_status: 500, gateway_code: 'api_error' }, attempt());
    expect(sameUnknownAnswersInARow(retried, 'op', answer)).toBe(1);
    const silent = history(attempt(), unknown(500, 'api_error'), attempt(), miss, attempt());
    expect(sameUnknownAnswersInARow(silent, 'op', answer)).toBe(1);
    // After a failover the attempt carries a key of its own: the first gateway's answers are another key's.
    const failover = history(attempt(), unknown(500, 'api_error'), attempt(), unknown(500, 'api_error'), attempt('op.failover1'));
    expect(sameUnknownAnswersInARow(failover, 'op', answer)).toBe(1);
    const sameFailover = history(attempt('op.failover1'), unknown(500, 'api_error'), miss, attempt('op.failover1'));
    expect(sameUnknownAnswersInARow(sameFailover, 'op', answer)).toBe(2);
  });

  it("reads only a 500 in the PSP's own error body as an answer it may have saved, never a proxy's 502/503/504 or bare 500", () => {
    expect(maybeSavedAnswer({ httpStatus: 500, gatewayCode: 'api_error' })).toBe(true);
    expect(maybeSavedAnswer({ httpStatus: 500 })).toBe(false);
    for (const httpStatus of [502, 503, 504]) {
      expect(maybeSavedAnswer({ httpStatus })).toBe(false);
      expect(maybeSavedAnswer({ httpStatus, gatewayCode: 'api_error' })).toBe(false);
    }
    expect(maybeSavedAnswer({})).toBe(false);
  });
});
