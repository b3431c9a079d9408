/**
 * A Cybersource Decision Manager review accepted (`risk.casemanagement.decision.accept`), signed as
 * Cybersource signs webhooks and posted to the web process, applied by the worker on a real Redis. It
 * completes an authorization held for review; a sale held for review was authorized and not captured, so
 * the OMS must not hear "sold": the sale stays PENDING.
 */
import { CommandType } from '../../../src/contracts/payment-command';
import { captureLogger } from '../../support/capture-logger';
import { eventually } from '../../support/tcp-proxy';
import { cybersourceNotification, cybersourceWebhookGateway, pendingOperation, postCybersourceSigned, useWebhookStack } from '../../support/webhook-stack';

const WEBHOOK_KEY = Buffer.from('review-accepted-test-key-0123456789').toString('base64');
const ORGANIZATION = 'testrest';

const stack = useWebhookStack({ cybs: cybersourceWebhookGateway(ORGANIZATION, WEBHOOK_KEY) }, { webLogger: captureLogger('info').logger });

/** An operation of `command` held for review: PENDING after Cybersource answered AUTHORIZED_PENDING_REVIEW. */
function heldForReview(command: CommandType, paymentId: string): Promise<string> {
  return pendingOperation(stack.worker, command, { gateway: 'cybs', amount: 10221, currency: 'USD' }, paymentId);
}

/** The accept notification for `id`, signed with the webhook key (base64 HMAC-SHA256 of `t.body`). */
function postAccept(id: string, paymentId: string): Promise<number> {
  const body = cybersourceNotification('risk.casemanagement.decision.accept', id, paymentId, ORGANIZATION);
  return postCybersourceSigned(stack, 'cybs', body, WEBHOOK_KEY);
}

describe('a Cybersource review accepted', () => {
  it('completes an authorization held for review, and leaves a sale held for review PENDING (authorized, never captured)', async () => {
    const authorization = await heldForReview('authorize', '7000000000000000000001');
    const sale = await heldForReview('sale', '7000000000000000000002');
    expect(await postAccept(authorization, '7000000000000000000001')).toBe(200);
    expect(await postAccept(sale, '7000000000000000000002')).toBe(200);

    await eventually(async () => (await stack.worker.ledger.get(authorization))?.state === 'SUCCEEDED');
    await eventually(async () => (await stack.worker.ledger.interactions(sale)).some((h) => h.source === 'webhook'));
    expect((await stack.worker.ledger.get(sale))?.state).toBe('PENDING');
  });
});
