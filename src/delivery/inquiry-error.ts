import { Counter } from 'prom-client';
import { GatewayError } from '../errors/gateway-error';
import { GatewayTransformer } from '../gateways/gateway-adapter';
import { counter } from '../metrics/metrics-registry';

/**
 * Whether a non-retryable `GatewayError` met asking the PSP about an operation (a status inquiry) is an answer about
 * the operation itself, and so may fail it. Only a decline the PSP answered to an inquiry that sends the operation's
 * own request again (`inquiryReplaysRequest`: Adyen, Adyen Stored Value) is: that inquiry is the request, and its
 * refusal the request's. Anything else is about the question: a read-based inquiry (Stripe, Cybersource, the
 * simulator) refused as invalid, not found or even with a decline code, or a replay refused as invalid (a merchant
 * account renamed since the first attempt, a release that builds it otherwise) or not built at all (no HTTP status).
 * The operation may be at the PSP either way, so it is never failed on one of those.
 */
export function inquiryErrorIsAnswer(transformer: Pick<GatewayTransformer, 'inquiryReplaysRequest'>, err: GatewayError): boolean {
  return transformer.inquiryReplaysRequest === true && err.kind === 'declined' && err.details.httpStatus !== undefined;
}

/**
 * `pb_inquiry_errors_unresolved_total{gateway,kind}`: operations that may be at the PSP made UNRESOLVED because their
 * status inquiry was refused for good (an error about the question, not an answer about the operation: see
 * {@link inquiryErrorIsAnswer}). Never failed on it; the poller keeps asking. Rising for one gateway and kind: the
 * bridge's status request is wrong for that PSP (a release, a configuration change): fix it, then `ops recheck`.
 */
export function inquiryErrorsUnresolved(): Counter<'gateway' | 'kind'> {
  return counter(
    'pb_inquiry_errors_unresolved_total',
    'Operations made UNRESOLVED (never FAILED) because their status inquiry was refused for good, by gateway and error kind',
    ['gateway', 'kind'],
  );
}
