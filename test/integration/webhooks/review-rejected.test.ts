/**
 * A Cybersource Decision Manager review rejected (`risk.casemanagement.decision.reject`), signed as
 * Cybersource signs webhooks and posted to the web process, applied by the worker on a real Redis. The
 * payment was authorized and held for the review, and a reject reverses that authorization only when the
 * merchant's settings or the reviewer asked: the operation fails and its hold is handed to orphan reversal
 * (`review_rejected`), as an `AUTHORIZED_RISK_DECLINED` one is. Orphan reversal is in its default mode here
 * (`dry_run`): it reports the void it would make.
 */
import { CommandType } from '../../../src/contracts/payment-command';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';
import { eventually } from '../../support/tcp-proxy';
import { cybersourceNotification, cybersourceWebhookGateway, pendingOperation, postCybersourceSigned, useWebhookStack } from '../../support/webhook-stack';

const WEBHOOK_KEY = Buffer.from('review-rejected-test-key-0123456789').toString('base64');
const ORGANIZATION = 'testrest';

const log = captureLogger('info');
const stack = useWebhookStack({ cybs: cybersourceWebhookGateway(ORGANIZATION, WEBHOOK_KEY) }, { webLogger: log.logger });

/** An operation of `command` held for review: PENDING after Cybersource answered AUTHORIZED_PENDING_REVIEW. */
function heldForReview(command: CommandType, paymentId: string): Promise<string> {
  return pendingOperation(stack.worker, command, { gateway: 'cybs', amount: 10221, currency: 'USD' }, paymentId);
}

/** The reject notification for `id`, signed with the webhook key (base64 HMAC-SHA256 of `t.body`). */
function postReject(id: string, paymentId: string): Promise<number> {
  const body = cybersourceNotification('risk.casemanagement.decision.reject', id, paymentId, ORGANIZATION);
  return postCybersourceSigned(stack, 'cybs', body, WEBHOOK_KEY);
}

/** The JSON line with `message` about operation `id`, if one was logged. */
function logged(message: string, id: string): Record<string, unknown> | undefined {
  return log.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.message === message && l.operation_id === id);
}

describe('a Cybersource review rejected', () => {
  it.each([
    ['authorize', '7000000000000000000011'],
    ['sale', '7000000000000000000012'],
  ] as const)('fails the %s held for review and hands its authorization to orphan reversal (review_rejected)', async (command, paymentId) => {
    const before = await metricValue('pb_failed_with_funds_held_total', { gateway: 'cybs', reason: 'review_rejected', release: 'would_void' });
    const id = await heldForReview(command, paymentId);
    expect(await postReject(id, paymentId)).toBe(200);

    await eventually(async () => (await stack.worker.ledger.get(id))?.state === 'FAILED');
    await eventually(
      async () => logged('operation failed while the PSP holds its funds, and the hold is not being released: reverse it at the PSP', id) !== undefined,
    );
    expect(logged('operation failed while the PSP holds its funds, and the hold is not being released: reverse it at the PSP', id)).toMatchObject({
      held_because: 'review_rejected',
      release: 'would_void',
      source: 'webhook',
      gateway_status: 'risk.casemanagement.decision.reject',
    });
    expect(logged('orphan reversal (dry run): would void this authorization', id)).toMatchObject({ reason: 'review_rejected' });
    expect(await metricValue('pb_failed_with_funds_held_total', { gateway: 'cybs', reason: 'review_rejected', release: 'would_void' })).toBe(before + 1);
  });
});
