import { GatewayError, GatewayErrorKind } from '../../../src/errors/gateway-error';
import { inquiryErrorIsAnswer } from '../../../src/delivery/inquiry-error';

/** Which refusals of a status inquiry are answers about the operation (may fail it) and which are about the question. */
describe('inquiryErrorIsAnswer', () => {
  const refused = (kind: GatewayErrorKind, httpStatus?: number) => new GatewayError(kind, 'gw', 'refused', httpStatus === undefined ? {} : { httpStatus });
  const replay = { inquiryReplaysRequest: true };
  const read = {};

  it('a decline the PSP answered to a replay of the request is the request’s own', () => {
    expect(inquiryErrorIsAnswer(replay, refused('declined', 422))).toBe(true);
  });

  it.each<GatewayErrorKind>(['invalid_request', 'not_found', 'idempotency_conflict'])('a replay refused as %s is about the question', (kind) => {
    expect(inquiryErrorIsAnswer(replay, refused(kind, 422))).toBe(false);
  });

  it('a replay refused before it left (our builder: no HTTP status) is about the question', () => {
    expect(inquiryErrorIsAnswer(replay, refused('declined'))).toBe(false);
  });

  it.each<GatewayErrorKind>(['declined', 'invalid_request', 'not_found'])('a status read refused as %s is about the question', (kind) => {
    expect(inquiryErrorIsAnswer(read, refused(kind, 400))).toBe(false);
  });
});
