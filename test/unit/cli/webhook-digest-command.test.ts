import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { opsWebhookDigest } from '../../../src/cli/webhook-commands';
import { AuditEntry, AuditRecord } from '../../../src/audit/audit-log';
import { Config, GatewayConfig } from '../../../src/config/config';
import { WebhookEvent } from '../../../src/gateways/gateway-adapter';
import { adyenTransformer } from '../../../src/gateways/adyen';
import { checkWebhookItem } from '../../../src/webhooks/webhook-item-check';
import { webhookDigestKeys } from '../../../src/webhooks/webhook-event-key';

const SECRET = 'bus-secret-for-the-digest-command-tests';
const PAN = '4111111111111111';
const MERCHANT = 'AcmeEU';
const adyen = { name: 'adyen', type: 'adyen', merchantAccount: MERCHANT } as GatewayConfig;
const nothingOurs = { hasOperation: async () => false, operationOfReference: async () => null };

/** Runs `ops webhooks digest` on `value` as standard input; what it printed and audit-logged. */
async function digestCommand(value: string, opts: { eventKey?: boolean; token?: boolean; json?: boolean } = {}, secret = SECRET) {
  let printed = '';
  const out = new Writable({ write: (chunk: Buffer, _enc, done) => ((printed += chunk.toString()), done()) });
  const audited: AuditEntry[] = [];
  const ctx = { config: { serviceBus: { secret } as Config['serviceBus'] }, audit: { record: async (e: AuditEntry) => (audited.push(e), {} as AuditRecord) } };
  const code = await opsWebhookDigest(
    ctx,
    { out, err: new Writable({ write: (_c, _e, done) => done() }), actor: 'ops@test' },
    Readable.from([Buffer.from(value, 'utf8')]),
    opts,
  );
  return { code, printed, audited };
}

function item(pspReference: string, eventId: string): WebhookEvent {
  return {
    eventId,
    gatewayReference: pspReference,
    account: MERCHANT,
    outcome: { status: 'SUCCESS', gatewayStatus: 'AUTHORISATION', gatewayReference: pspReference, amount: 5000, currency: 'EUR' },
    operationId: 'opref-unknown',
  };
}

describe('payment-bridge ops webhooks digest', () => {
  it("prints the skip line's value_hmac of the value on standard input, keyed by service_bus.secret, never its unkeyed SHA-256", async () => {
    const verdict = await checkWebhookItem(item(PAN, `${PAN}:AUTHORISATION:true`), 'adyen', adyen, nothingOurs, webhookDigestKeys(SECRET));
    expect(verdict.kind).toBe('skip');
    const logged = verdict.kind === 'skip' ? verdict.digest.hex : '';
    const { code, printed, audited } = await digestCommand(PAN);
    expect(code).toBe(0);
    expect(printed).toBe(`${logged}\n`);
    expect(printed).not.toContain(createHash('sha256').update(Buffer.from(PAN, 'utf16le')).digest('hex'));
    expect((await digestCommand(PAN, {}, 'another-secret')).printed).not.toBe(printed);
    // Audited without the value or the digest.
    expect(audited).toEqual([expect.objectContaining({ action: 'ops.webhook_digest', actor: 'ops@test', outcome: 'ok', detail: { kind: 'value_hmac' } })]);
    expect(JSON.stringify(audited)).not.toContain(PAN);
    expect(JSON.stringify(audited)).not.toContain(logged);
  });

  it('with --event-key prints the event key an event id holding a card number is logged, queued and recorded under', async () => {
    const eventId = `${PAN}:AUTHORISATION:true`;
    const verdict = await checkWebhookItem(item(PAN, eventId), 'adyen', adyen, nothingOurs, webhookDigestKeys(SECRET));
    expect(verdict).toMatchObject({ kind: 'skip', eventKey: expect.stringMatching(/^hmac:[0-9a-f]{64}$/) });
    const { printed } = await digestCommand(eventId, { eventKey: true });
    expect(printed).toBe(`${verdict.kind === 'skip' ? verdict.eventKey : ''}\n`);
    expect(JSON.parse((await digestCommand(eventId, { eventKey: true, json: true })).printed)).toEqual({ event_key: printed.trim() });
  });

  it("with --token prints the keyed digest an Adyen RECURRING_CONTRACT's event id ends in for its token, as the route queues and logs it", async () => {
    // A token of digits (Adyen's often are), its contract naming nothing of ours: skipped, its line's event_id ending in the digest.
    const token = '5300912374650184';
    const item = {
      eventCode: 'RECURRING_CONTRACT',
      merchantAccountCode: MERCHANT,
      merchantReference: 'opref-unknown',
      originalReference: 'QFQTPCQ8HXSKGK82',
      pspReference: token,
      amount: { value: 0, currency: 'EUR' },
      success: 'true',
      additionalData: { shopperReference: 'shopper-0042' },
    };
    const [event] = adyenTransformer.parseWebhook(
      Buffer.from(JSON.stringify({ live: 'false', notificationItems: [{ NotificationRequestItem: item }] })),
      adyen,
    );
    const skipped = await checkWebhookItem(event, 'adyen', adyen, nothingOurs, webhookDigestKeys(SECRET));
    const ours = await checkWebhookItem(event, 'adyen', adyen, { ...nothingOurs, hasOperation: async () => true }, webhookDigestKeys(SECRET));
    if (skipped.kind !== 'skip' || ours.kind !== 'queue') throw new Error('the contract was not skipped when not ours and queued when ours');
    const { code, printed, audited } = await digestCommand(token, { token: true });
    expect(code).toBe(0);
    expect(printed).toMatch(/^[0-9a-f]{16}\n$/);
    expect(skipped.eventKey).toBe(`QFQTPCQ8HXSKGK82:RECURRING_CONTRACT:true:${printed.trim()}`);
    expect(ours.data.eventId).toBe(skipped.eventKey);
    // Keyed by service_bus.secret, never the unkeyed SHA-256 earlier releases appended; the key itself is never printed.
    expect(printed).not.toContain(createHash('sha256').update(token).digest('hex').slice(0, 16));
    expect((await digestCommand(token, { token: true }, 'another-secret')).printed).not.toBe(printed);
    expect(printed).not.toContain(webhookDigestKeys(SECRET).idSecret.toString('hex').slice(0, 16));
    expect(JSON.parse((await digestCommand(token, { token: true, json: true })).printed)).toEqual({ token_digest: printed.trim() });
    expect(audited).toEqual([expect.objectContaining({ action: 'ops.webhook_digest', outcome: 'ok', detail: { kind: 'token_digest' } })]);
    expect(JSON.stringify(audited)).not.toContain(token);
    // Two digests of two keys at once: refused, nothing printed or audited.
    const both = await digestCommand(token, { token: true, eventKey: true });
    expect(both).toMatchObject({ code: 2, printed: '', audited: [] });
  });

  it('refuses standard input from a terminal (the typed value would be echoed on screen) and an empty one, printing and auditing nothing', async () => {
    for (const input of [Object.assign(Readable.from([Buffer.from(PAN, 'utf8')]), { isTTY: true }), Readable.from([])]) {
      let printed = '';
      let said = '';
      const out = new Writable({ write: (chunk: Buffer, _enc, done) => ((printed += chunk.toString()), done()) });
      const err = new Writable({ write: (chunk: Buffer, _enc, done) => ((said += chunk.toString()), done()) });
      const audited: AuditEntry[] = [];
      const ctx = {
        config: { serviceBus: { secret: SECRET } as Config['serviceBus'] },
        audit: { record: async (e: AuditEntry) => (audited.push(e), {} as AuditRecord) },
      };
      expect(await opsWebhookDigest(ctx, { out, err, actor: 'ops@test' }, input, {})).toBe(2);
      expect(printed).toBe('');
      expect(said).toContain('printf %s');
      expect(said).not.toContain(PAN);
      expect(audited).toEqual([]);
    }
  });
});
