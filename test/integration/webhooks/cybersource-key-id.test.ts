/**
 * Which key checks a Cybersource notification, and whose notification it may be, through the real web route and
 * worker. `v-c-signature` names its key (`keyId`, the digital signature key's id: Webhooks guide, "Digital
 * Signature Format"): the notification is checked with that key only, and one naming a key the gateway does not
 * hold is refused (401, `unknown_key_id`, its keyId logged, never a key) so that Cybersource sends it again once
 * the key is configured. A notification for another organization than `merchant_id` is acknowledged and skipped.
 */
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { AuditRecord } from '../../../src/audit/audit-log';
import { opsWebhookDigest } from '../../../src/cli/webhook-commands';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';
import { eventually } from '../../support/tcp-proxy';
import { cybersourceNotification, cybersourceWebhookGateway, pendingOperation, postCybersourceSigned, useWebhookStack } from '../../support/webhook-stack';

const KEY = Buffer.from('key-id-test-current-webhook-key-0123').toString('base64');
const PREVIOUS_KEY = Buffer.from('key-id-test-previous-webhook-key-012').toString('base64');
const KEY_ID = 'bf44c857-b182-bb05-e053-34b8d30a7a72';
const PREVIOUS_KEY_ID = 'bdc0fe52-091e-b0d6-e053-34b8d30a0504';
const NEW_KEY_ID = 'facdaf45-db00-233c-e053-5a588d0a743a';
const ORGANIZATION = 'testrest';

const webLogs = captureLogger('info');
const stack = useWebhookStack(
  {
    cybs: {
      ...cybersourceWebhookGateway(ORGANIZATION, KEY),
      webhook_key_id: KEY_ID,
      webhook_secret_previous: PREVIOUS_KEY,
      webhook_key_id_previous: PREVIOUS_KEY_ID,
    },
    // Its own gateway: a refusal's warn line is throttled per gateway (one a minute).
    cybsshape: { ...cybersourceWebhookGateway(ORGANIZATION, KEY), webhook_key_id: KEY_ID },
  },
  { webLogger: webLogs.logger },
);

function accepted(id: string, paymentId: string, organizationId = ORGANIZATION): string {
  return cybersourceNotification('payments.payments.accept', id, paymentId, organizationId, { totalAmount: '25.00', currency: 'EUR' });
}

function pending(paymentId: string): Promise<string> {
  return pendingOperation(stack.worker, 'authorize', { gateway: 'cybs', amount: 2500, currency: 'EUR' }, paymentId);
}

function lines(): Array<Record<string, unknown>> {
  return webLogs.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('a Cybersource notification', () => {
  it('naming a key id the gateway does not hold is refused (401, unknown_key_id, the key id logged), even signed with a key it holds; under its own key id it is applied', async () => {
    const before = await metricValue('pb_webhooks_refused_total', { gateway: 'cybs', reason: 'unknown_key_id' });
    const paymentId = '7000000000000000000301';
    const id = await pending(paymentId);
    const body = accepted(id, paymentId);

    expect(await postCybersourceSigned(stack, 'cybs', body, KEY, NEW_KEY_ID)).toBe(401);
    expect(await metricValue('pb_webhooks_refused_total', { gateway: 'cybs', reason: 'unknown_key_id' })).toBe(before + 1);
    expect(lines().find((l) => l.key_id === NEW_KEY_ID)).toMatchObject({ level: 'warn', gateway: 'cybs' });
    expect(webLogs.lines.join('\n')).not.toContain(KEY);
    expect(webLogs.lines.join('\n')).not.toContain(PREVIOUS_KEY);
    expect((await stack.worker.ledger.get(id))?.state).toBe('PENDING');

    expect(await postCybersourceSigned(stack, 'cybs', body, KEY, KEY_ID)).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(id))?.state === 'SUCCEEDED');
  });

  it('naming a key id of no key id shape logs its keyed digest (key_id_hmac, as ops webhooks digest prints it), never the value or its SHA-256', async () => {
    const pan = '4111111111111111';
    const keyId = `card ${pan}`;
    expect(await postCybersourceSigned(stack, 'cybsshape', accepted('op-shape', 'pay-shape'), KEY, keyId)).toBe(401);
    let printed = '';
    const out = new Writable({ write: (chunk: Buffer, _enc, done) => ((printed += chunk.toString()), done()) });
    const ctx = { config: stack.config, audit: { record: async () => ({}) as AuditRecord } };
    await opsWebhookDigest(ctx, { out, err: process.stderr, actor: 'ops@test' }, Readable.from([Buffer.from(keyId, 'utf8')]), {});
    const digest = printed.trim();
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    expect(lines().find((l) => l.key_id_hmac === digest)).toMatchObject({ level: 'warn', gateway: 'cybsshape' });
    expect(webLogs.lines.join('\n')).not.toContain(pan);
    expect(webLogs.lines.join('\n')).not.toContain(createHash('sha256').update(Buffer.from(keyId, 'utf16le')).digest('hex'));
  });

  it('is checked with the key its key id names: the previous key under its own id is accepted, under the current id refused', async () => {
    const paymentId = '7000000000000000000302';
    const id = await pending(paymentId);
    const body = accepted(id, paymentId);
    const before = await metricValue('pb_webhooks_refused_total', { gateway: 'cybs', reason: 'invalid_signature' });
    expect(await postCybersourceSigned(stack, 'cybs', body, PREVIOUS_KEY, KEY_ID)).toBe(401);
    expect(await metricValue('pb_webhooks_refused_total', { gateway: 'cybs', reason: 'invalid_signature' })).toBe(before + 1);
    expect(await postCybersourceSigned(stack, 'cybs', body, PREVIOUS_KEY, PREVIOUS_KEY_ID)).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(id))?.state === 'SUCCEEDED');
  });

  it('for another organization than merchant_id is acknowledged and skipped (other_account): it never reaches the operation it names', async () => {
    const before = await metricValue('pb_webhook_items_skipped_total', { gateway: 'cybs', reason: 'other_account' });
    const paymentId = '7000000000000000000303';
    const id = await pending(paymentId);
    expect(await postCybersourceSigned(stack, 'cybs', accepted(id, paymentId, 'otherorg'), KEY, KEY_ID)).toBe(200);
    expect(await metricValue('pb_webhook_items_skipped_total', { gateway: 'cybs', reason: 'other_account' })).toBe(before + 1);
    expect(lines().find((l) => l.reason === 'other_account' && l.account === 'otherorg')).toMatchObject({
      gateway: 'cybs',
      event_type: 'payments.payments.accept',
      level: 'info',
    });
    expect((await stack.worker.ledger.get(id))?.state).toBe('PENDING');
  });
});
