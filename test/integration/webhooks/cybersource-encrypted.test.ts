/**
 * A Cybersource payment webhook with message-level encryption (the Webhooks guide: payment events are
 * encrypted as JWE, RSA-OAEP and AES-GCM, for the certificate the merchant gave Cybersource), signed as
 * Cybersource signs webhooks, through the real web route and worker: decrypted with
 * `webhook_private_key` and applied like a clear one; without the key it is refused (422) so that
 * Cybersource sends it again once the key is set.
 */
import { generateKeyPairSync } from 'node:crypto';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';
import { compactJwe } from '../../support/compact-jwe';
import { eventually } from '../../support/tcp-proxy';
import { cybersourceWebhookGateway, pendingOperation, postCybersourceSigned, useWebhookStack } from '../../support/webhook-stack';

const WEBHOOK_KEY = Buffer.from('encrypted-webhook-test-key-0123456789').toString('base64');
const ORGANIZATION = 'testrest';
const { privateKey, publicKey } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
});

const webLogs = captureLogger('warn');
const stack = useWebhookStack(
  {
    cybs: { ...cybersourceWebhookGateway(ORGANIZATION, WEBHOOK_KEY), webhook_private_key: privateKey },
    'cybs-nokey': cybersourceWebhookGateway(ORGANIZATION, WEBHOOK_KEY),
  },
  { webLogger: webLogs.logger },
);

function encryptedNotification(id: string, paymentId: string): string {
  const data = {
    id: paymentId,
    type: 'payments',
    clientReferenceInformation: { code: id },
    orderInformation: { amountDetails: { totalAmount: '25.00', currency: 'EUR' } },
  };
  return JSON.stringify({
    notificationId: `n-${id}`,
    retryNumber: 0,
    eventType: 'payments.payments.accept',
    eventDate: new Date().toISOString(),
    payload: [{ data: compactJwe(JSON.stringify(data), publicKey), organizationId: ORGANIZATION }],
  });
}

describe('a Cybersource payment webhook with message-level encryption', () => {
  it('is decrypted with the configured key and settles its operation, the key never in a log line', async () => {
    const paymentId = '7000000000000000000201';
    const id = await pendingOperation(stack.worker, 'authorize', { gateway: 'cybs', amount: 2500, currency: 'EUR' }, paymentId);
    expect(await postCybersourceSigned(stack, 'cybs', encryptedNotification(id, paymentId), WEBHOOK_KEY)).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(id))?.state === 'SUCCEEDED');
    expect(await stack.worker.ledger.get(id)).toMatchObject({ confirmedAmount: 2500, confirmedCurrency: 'EUR' });
    const keyBody = privateKey.split('\n')[1];
    expect(webLogs.lines.join('\n')).not.toContain(keyBody);
  });

  it('is refused with 422 when no decryption key is set, naming the setting, so that Cybersource sends it again', async () => {
    const before = await metricValue('pb_webhooks_refused_total', { gateway: 'cybs-nokey', reason: 'unparseable_body' });
    const paymentId = '7000000000000000000202';
    const id = await pendingOperation(stack.worker, 'authorize', { gateway: 'cybs-nokey', amount: 2500, currency: 'EUR' }, paymentId);
    expect(await postCybersourceSigned(stack, 'cybs-nokey', encryptedNotification(id, paymentId), WEBHOOK_KEY)).toBe(422);
    expect(await metricValue('pb_webhooks_refused_total', { gateway: 'cybs-nokey', reason: 'unparseable_body' })).toBe(before + 1);
    expect(webLogs.lines.some((l) => l.includes('gateways.cybs-nokey.webhook_private_key is not set'))).toBe(true);
    expect((await stack.worker.ledger.get(id))?.state).toBe('PENDING');
  });
});
