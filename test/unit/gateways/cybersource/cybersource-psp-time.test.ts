import { cybersourceTransformer as t } from '../../../../src/gateways/cybersource';
import { merchantReference } from '../../../../src/gateways/cybersource/cybersource-requests';
import { PAYMENT_ID, ctx, gateway, response } from './cybersource-test-fixtures';

/**
 * Every Cybersource REST answer carries `submitTimeUtc` ("Time of request in UTC. Format: YYYY-MM-DDThh:mm:ssZ"):
 * the PSP's own time of the transaction, read as the outcome's `occurredAt` for a success or a failure found by the
 * answer or by the status inquiry, so they are ordered by the PSP's times (as a webhook's `eventDate` is).
 */
const AT = '2026-11-22T10:00:00Z';
const LATER = '2026-11-22T10:05:00Z';

const summary = (command: string, status: string, submitTimeUtc: unknown, id = PAYMENT_ID): unknown => ({
  id,
  submitTimeUtc,
  clientReferenceInformation: { code: merchantReference(`op-${command}-1`) },
  applicationInformation: { status, applications: [] },
  orderInformation: { amountDetails: { totalAmount: '102.21', currency: 'USD' } },
});
const search = (...summaries: unknown[]): ReturnType<typeof response> =>
  response(201, { searchId: 's1', count: summaries.length, totalCount: summaries.length, _embedded: { transactionSummaries: summaries } });

describe('Cybersource PSP time (submitTimeUtc)', () => {
  it("dates a synchronous answer's success or failure by its submitTimeUtc", () => {
    const capture = t.parseResponse(ctx('capture'), response(201, { id: PAYMENT_ID, submitTimeUtc: AT, status: 'PENDING' }), gateway);
    expect(capture).toMatchObject({ status: 'SUCCESS', occurredAt: Date.parse(AT) });
    const reversal = t.parseResponse(ctx('cancel'), response(201, { id: PAYMENT_ID, submitTimeUtc: AT, status: 'REVERSED' }), gateway);
    expect(reversal).toMatchObject({ status: 'SUCCESS', occurredAt: Date.parse(AT) });
    const declined = t.parseResponse(
      ctx('authorize'),
      response(201, { id: PAYMENT_ID, submitTimeUtc: AT, status: 'DECLINED', errorInformation: { reason: 'INSUFFICIENT_FUND' } }),
      gateway,
    );
    expect(declined).toMatchObject({ status: 'FAIL', reason: 'INSUFFICIENT_FUND', occurredAt: Date.parse(AT) });
    // A 400 business refusal is a failure the PSP dated too.
    const refused = t.parseResponse(
      ctx('capture'),
      response(400, { submitTimeUtc: AT, status: 'INVALID_REQUEST', reason: 'EXCEEDS_AUTH_AMOUNT', message: 'exceeds' }),
      gateway,
    );
    expect(refused).toMatchObject({ status: 'FAIL', reason: 'EXCEEDS_AUTH_AMOUNT', occurredAt: Date.parse(AT) });
  });

  it('dates nothing that decides nothing (a review hold, a challenge)', () => {
    const review = t.parseResponse(ctx('authorize'), response(201, { id: PAYMENT_ID, submitTimeUtc: AT, status: 'AUTHORIZED_PENDING_REVIEW' }), gateway);
    expect(review.status).toBe('PENDING');
    expect(review.occurredAt).toBeUndefined();
  });

  it('reads a bad time as no time, never a crash nor a guess', () => {
    for (const bad of ['2026-11-22T10:00:00', '2026-02-30T10:00:00Z', 'yesterday', '', 1795341600000, null, '+010000-01-01T00:00:00Z']) {
      const outcome = t.parseResponse(ctx('authorize'), response(201, { id: PAYMENT_ID, submitTimeUtc: bad, status: 'AUTHORIZED' }), gateway);
      expect(outcome.status).toBe('SUCCESS');
      expect(outcome.occurredAt).toBeUndefined();
      // The authorization's own time is read as strictly: without its Z it is no UTC time.
      expect(outcome.authorizedAt).toBeUndefined();
    }
  });

  it('dates a status inquiry by the transaction that decides it: the newest of the operation', () => {
    const found = t.parseStatusResponse(ctx('capture'), search(summary('capture', 'DECLINED', AT, 'OLD'), summary('capture', 'PENDING', LATER)), gateway);
    expect(found).toMatchObject({ status: 'SUCCESS', occurredAt: Date.parse(LATER) });
    const failed = t.parseStatusResponse(ctx('refund'), search(summary('refund', 'DECLINED', LATER)), gateway);
    expect(failed).toMatchObject({ status: 'FAIL', occurredAt: Date.parse(LATER) });
  });

  it('finds the newest by the times read, not their text (a fraction of a second, the compact form)', () => {
    // As text, "…10:05:00.500Z" sorts before "…10:05:00Z" and "…T100600Z" before both.
    const list = search(summary('capture', 'DECLINED', '2026-11-22T10:05:00Z', 'A'), summary('capture', 'PENDING', '2026-11-22T10:05:00.500Z', 'B'));
    expect(t.parseStatusResponse(ctx('capture'), list, gateway)).toMatchObject({ gatewayReference: 'B', occurredAt: Date.parse('2026-11-22T10:05:00.500Z') });
    const compact = search(summary('capture', 'DECLINED', '2026-11-22T10:05:00Z', 'A'), summary('capture', 'PENDING', '2026-11-22T100600Z', 'C'));
    expect(t.parseStatusResponse(ctx('capture'), compact, gateway)).toMatchObject({ gatewayReference: 'C', occurredAt: Date.parse('2026-11-22T10:06:00Z') });
  });

  it('dates a validate by its transaction details (submitTimeUTC)', () => {
    const details = response(200, { id: PAYMENT_ID, submitTimeUTC: AT, applicationInformation: { status: 'AUTHORIZED' } });
    expect(t.parseResponse(ctx('validate'), details, gateway)).toMatchObject({ status: 'SUCCESS', occurredAt: Date.parse(AT) });
  });
});
