import { createHmac } from 'node:crypto';
import { cybersourceTransformer as t } from '../../../../src/gateways/cybersource';
import { SkippedWebhookItem } from '../../../../src/gateways/gateway-adapter';
import { CYBERSOURCE_WEBHOOK_EVENT_TYPES, webhookEventOutcome } from '../../../../src/gateways/cybersource/cybersource-webhook';
import { cybersourceGateway } from '../../../../src/gateways/cybersource/cybersource-gateway';
import { settlesCommand } from '../../../../src/webhooks/outcome-for-command';
import { PAYMENT_ID, PREVIOUS_WEBHOOK_KEY_ID, WEBHOOK_KEY_ID, gateway } from './cybersource-test-fixtures';

const NOW = new Date('2026-11-22T10:00:00.000Z');

/** A notification as the Webhooks guide shows it. */
function notification(eventType: string, data: Record<string, unknown> = {}): Buffer {
  return Buffer.from(
    JSON.stringify({
      notificationId: '0b9a1c6d-3f43-4c2e-9a65-2f0d5d2b1e77',
      retryNumber: 0,
      eventType,
      eventDate: NOW.toISOString(),
      webhookId: 'f2a7c6a1-1111-4a2b-9c3d-000000000001',
      payload: [{ data: { id: PAYMENT_ID, type: 'payments', clientReferenceInformation: { code: 'op-1' }, ...data }, organizationId: 'testrest' }],
    }),
  );
}

/**
 * Independent of the adapter: base64 HMAC-SHA256 of `t.body` keyed by the base64-decoded key, under `keyId`
 * (the current key's id unless the test says otherwise; the previous key's id for the previous key).
 */
function sign(
  rawBody: Buffer,
  t0: string,
  keyBase64: string,
  keyId = keyBase64 === gateway.webhookSecretPrevious ? PREVIOUS_WEBHOOK_KEY_ID : WEBHOOK_KEY_ID,
): Record<string, string> {
  const sig = createHmac('sha256', Buffer.from(keyBase64, 'base64'))
    .update(`${t0}.${rawBody.toString('utf8')}`, 'utf8')
    .digest('base64');
  return { 'v-c-signature': `t=${t0};keyId=${keyId};sig=${sig}` };
}

describe('Cybersource webhooks', () => {
  const body = notification('payments.payments.accept');

  it('accepts a notification signed with the current key at now', () => {
    expect(t.verifyWebhook(body, sign(body, String(NOW.getTime()), gateway.webhookSecret), gateway, NOW)).toBe(true);
  });

  it('accepts a notification signed with the previous key during rotation', () => {
    expect(t.verifyWebhook(body, sign(body, String(NOW.getTime()), gateway.webhookSecretPrevious), gateway, NOW)).toBe(true);
  });

  it('accepts a timestamp in seconds as well as in milliseconds', () => {
    expect(t.verifyWebhook(body, sign(body, String(NOW.getTime() / 1000), gateway.webhookSecret), gateway, NOW)).toBe(true);
  });

  it('reads the header name in any case', () => {
    const headers = sign(body, String(NOW.getTime()), gateway.webhookSecret);
    expect(t.verifyWebhook(body, { 'V-C-Signature': headers['v-c-signature'] }, gateway, NOW)).toBe(true);
  });

  it('refuses a tampered body', () => {
    const headers = sign(body, String(NOW.getTime()), gateway.webhookSecret);
    const tampered = Buffer.from(body.toString('utf8').replace('payments.payments.accept', 'payments.payments.reject'));
    expect(t.verifyWebhook(tampered, headers, gateway, NOW)).toBe(false);
  });

  it('refuses a signature made with another key', () => {
    expect(t.verifyWebhook(body, sign(body, String(NOW.getTime()), Buffer.from('someone else').toString('base64')), gateway, NOW)).toBe(false);
  });

  describe('the key is the one keyId names (Webhooks guide, Digital Signature Format: "keyId: The digital signature key ID")', () => {
    const now = String(NOW.getTime());

    it('checks a notification with the key its keyId names only: the previous key under the current key id, or the current under the previous id, is refused', () => {
      expect(t.verifyWebhook(body, sign(body, now, gateway.webhookSecretPrevious, WEBHOOK_KEY_ID), gateway, NOW)).toBe(false);
      expect(t.verifyWebhook(body, sign(body, now, gateway.webhookSecret, PREVIOUS_WEBHOOK_KEY_ID), gateway, NOW)).toBe(false);
    });

    it('refuses a keyId the gateway does not hold, even signed with a key it holds, and names that keyId for the refusal', () => {
      const headers = sign(body, now, gateway.webhookSecret, 'facdaf45-db00-233c-e053-5a588d0a743a');
      expect(t.verifyWebhook(body, headers, gateway, NOW)).toBe(false);
      expect(t.unheldWebhookKey?.(headers, gateway)).toBe('facdaf45-db00-233c-e053-5a588d0a743a');
    });

    it('names no unheld key for a keyId it holds (current or previous), nor for a missing or unreadable header (the signature check refuses those)', () => {
      expect(t.unheldWebhookKey?.(sign(body, now, gateway.webhookSecret), gateway)).toBeUndefined();
      expect(t.unheldWebhookKey?.(sign(body, now, gateway.webhookSecretPrevious), gateway)).toBeUndefined();
      expect(t.unheldWebhookKey?.({}, gateway)).toBeUndefined();
      expect(t.unheldWebhookKey?.({ 'v-c-signature': 'garbage' }, gateway)).toBeUndefined();
    });

    it('a header naming no keyId, or the id of a key not configured, is refused', () => {
      const sig = sign(body, now, gateway.webhookSecret)['v-c-signature'].replace(`keyId=${WEBHOOK_KEY_ID};`, '');
      expect(t.verifyWebhook(body, { 'v-c-signature': sig }, gateway, NOW)).toBe(false);
      expect(t.unheldWebhookKey?.({ 'v-c-signature': sig }, gateway)).toBe('');
      const rotated = { ...gateway, webhookSecretPrevious: '' };
      expect(t.verifyWebhook(body, sign(body, now, gateway.webhookSecretPrevious), rotated, NOW)).toBe(false);
      expect(t.unheldWebhookKey?.(sign(body, now, gateway.webhookSecretPrevious), rotated)).toBe(PREVIOUS_WEBHOOK_KEY_ID);
    });

    it('tries a key configured without its id (a deployment from before webhook_key_id) whatever keyId a notification names, refusing nothing it signs', () => {
      const noIds = { ...gateway, webhookKeyId: '', webhookKeyIdPrevious: '' };
      for (const keyId of ['', 'facdaf45-db00-233c-e053-5a588d0a743a', WEBHOOK_KEY_ID]) {
        expect(t.verifyWebhook(body, sign(body, now, gateway.webhookSecret, keyId), noIds, NOW)).toBe(true);
        expect(t.verifyWebhook(body, sign(body, now, gateway.webhookSecretPrevious, keyId), noIds, NOW)).toBe(true);
        expect(t.unheldWebhookKey?.(sign(body, now, gateway.webhookSecret, keyId), noIds)).toBeUndefined();
      }
      expect(t.verifyWebhook(body, sign(body, now, Buffer.from('someone else entirely').toString('base64'), 'x'), noIds, NOW)).toBe(false);
      // A key with its id beside one without: the one with an id checks only what names it.
      const mixed = { ...gateway, webhookKeyIdPrevious: '' };
      expect(t.verifyWebhook(body, sign(body, now, gateway.webhookSecret, 'other'), mixed, NOW)).toBe(false);
      expect(t.verifyWebhook(body, sign(body, now, gateway.webhookSecretPrevious, 'other'), mixed, NOW)).toBe(true);
    });

    it('warns at start about a webhook key configured without its id (its keyId not checked)', () => {
      const warnings = cybersourceGateway.configWarnings?.({ ...gateway, webhookKeyId: '', webhookKeyIdPrevious: '' }) ?? [];
      expect(warnings.map(([key]) => key)).toEqual(['webhook_key_id', 'webhook_key_id_previous']);
      expect(cybersourceGateway.configWarnings?.(gateway)).toEqual([]);
      expect(
        cybersourceGateway.configWarnings?.({ ...gateway, webhookSecret: '', webhookKeyId: '', webhookSecretPrevious: '', webhookKeyIdPrevious: '' }),
      ).toEqual([]);
    });
  });

  it("accepts the Webhooks guide's own t=1617830804768 years later: t is when the signature key was created, not an age to limit", () => {
    // "t: The timestamp at which the digital signature key was created" (Webhooks guide, Digital Signature Format).
    expect(t.verifyWebhook(body, sign(body, '1617830804768', gateway.webhookSecret), gateway, NOW)).toBe(true);
    expect(t.verifyWebhook(body, sign(body, String(NOW.getTime() + 301_000), gateway.webhookSecret), gateway, NOW)).toBe(true);
  });

  it('refuses a valid signature moved to another t: t is part of what is signed', () => {
    const headers = sign(body, '1617830804768', gateway.webhookSecret);
    const moved = headers['v-c-signature'].replace('t=1617830804768', `t=${NOW.getTime()}`);
    expect(t.verifyWebhook(body, { 'v-c-signature': moved }, gateway, NOW)).toBe(false);
  });

  it('refuses an unsigned notification and a malformed signature header', () => {
    expect(t.verifyWebhook(body, {}, gateway, NOW)).toBe(false);
    expect(t.verifyWebhook(body, { 'v-c-signature': 'garbage' }, gateway, NOW)).toBe(false);
    expect(t.verifyWebhook(body, { 'v-c-signature': `t=${NOW.getTime()};keyId=k;sig=` }, gateway, NOW)).toBe(false);
    expect(t.verifyWebhook(body, { 'v-c-signature': `t=${NOW.getTime()};keyId=k;sig=AAAA` }, gateway, NOW)).toBe(false);
  });

  it("acknowledges and skips an entry naming another organization than the gateway's merchant_id (other_account); one naming none is read", () => {
    const skipped: SkippedWebhookItem[] = [];
    const other = Buffer.from(notification('payments.payments.accept').toString('utf8').replace('"organizationId":"testrest"', '"organizationId":"otherorg"'));
    expect(t.parseWebhook(other, gateway, (item) => skipped.push(item))).toEqual([]);
    // Named by its notification's id too, for an operator to find it.
    expect(skipped).toEqual([
      {
        reason: 'other_account',
        eventId: '0b9a1c6d-3f43-4c2e-9a65-2f0d5d2b1e77',
        eventType: 'payments.payments.accept',
        account: 'otherorg',
        reference: PAYMENT_ID,
      },
    ]);
    // The body's organizationId stands for an entry naming none.
    const parsed = JSON.parse(notification('payments.payments.accept').toString('utf8')) as { payload: Array<Record<string, unknown>> };
    delete parsed.payload[0].organizationId;
    expect(t.parseWebhook(Buffer.from(JSON.stringify({ ...parsed, organizationId: 'otherorg' })), gateway)).toEqual([]);
    const [event] = t.parseWebhook(Buffer.from(JSON.stringify(parsed)), gateway);
    expect(event).toMatchObject({ operationId: 'op-1', outcome: { status: 'SUCCESS' } });
    expect(event.account).toBeUndefined();
  });

  it('maps an accepted payment to a SUCCESS event with our operation id and the notification id', () => {
    const events = t.parseWebhook(
      notification('payments.payments.accept', { orderInformation: { amountDetails: { totalAmount: '102.21', currency: 'USD' } } }),
      gateway,
    );
    expect(events).toEqual([
      {
        eventId: '0b9a1c6d-3f43-4c2e-9a65-2f0d5d2b1e77',
        operationId: 'op-1',
        gatewayReference: PAYMENT_ID,
        account: 'testrest',
        outcome: {
          status: 'SUCCESS',
          // A payment's event: the outcome of an authorization or sale, never of a modification named by its reference.
          settles: ['authorize', 'sale', 'revalidate'],
          gatewayStatus: 'payments.payments.accept',
          gatewayReference: PAYMENT_ID,
          amount: 10221,
          currency: 'USD',
          // eventDate, "the timestamp of when the event occurred": what orders it against a failure of the payment.
          occurredAt: NOW.getTime(),
        },
      },
    ]);
  });

  it('dates a success or a failure by its eventDate (a pending one, or a date that does not read, not at all), so the two are ordered by when Cybersource says they happened', () => {
    const [capture] = t.parseWebhook(notification('payments.captures.accept'), gateway);
    expect(capture.outcome).toMatchObject({ status: 'SUCCESS', occurredAt: NOW.getTime() });
    const [rejected] = t.parseWebhook(notification('payments.captures.reject'), gateway);
    expect(rejected.outcome).toMatchObject({ status: 'FAIL', occurredAt: NOW.getTime() });
    expect(rejected.adjustment?.occurredAt).toBe(NOW.getTime());
    expect(t.parseWebhook(notification('payments.captures.review'), gateway)[0].outcome.occurredAt).toBeUndefined();
    const undated = JSON.parse(notification('payments.captures.accept').toString('utf8')) as Record<string, unknown>;
    for (const eventDate of ['not a date', '+275760-09-13T00:00:00.000Z', undefined]) {
      const [event] = t.parseWebhook(Buffer.from(JSON.stringify({ ...undated, eventDate })), gateway);
      expect(event.outcome.occurredAt).toBeUndefined();
    }
  });

  it('reports the approved amount of a partial approval (authorizedAmount), not the amount asked (totalAmount)', () => {
    const amounts = { orderInformation: { amountDetails: { totalAmount: '100.00', authorizedAmount: '60.00', currency: 'USD' } } };
    const [event] = t.parseWebhook(notification('payments.payments.partial.approval', amounts), gateway);
    expect(event.outcome).toMatchObject({ status: 'SUCCESS', amount: 6000, currency: 'USD' });
  });

  it('never reports the amount asked as approved for a partial approval without authorizedAmount: PENDING, no amount, not marked partial', () => {
    for (const type of ['payments.payments.partial.approval', 'payments.refunds.partial.approval', 'payments.credits.partial.approval']) {
      const [event] = t.parseWebhook(notification(type, { orderInformation: { amountDetails: { totalAmount: '100.00', currency: 'USD' } } }), gateway);
      expect(event.outcome).toMatchObject({ status: 'PENDING', gatewayStatus: type, currency: 'USD' });
      expect(event.outcome.amount).toBeUndefined();
      expect(event.outcome.partialApproval).toBeUndefined();
    }
  });

  it('claims no operation for a digested reference (an id over 50 characters): the payment id finds it', () => {
    const digested = `h-${'0123456789abcdef'.repeat(3)}`;
    const [event] = t.parseWebhook(notification('payments.payments.accept', { clientReferenceInformation: { code: digested } }), gateway);
    expect(event.operationId).toBeUndefined();
    expect(event.gatewayReference).toBe(PAYMENT_ID);
  });

  it('marks a review accepted as the success of an authorization only (a sale held for review was not captured)', () => {
    const [event] = t.parseWebhook(notification('risk.casemanagement.decision.accept'), gateway);
    expect(event.outcome).toMatchObject({ status: 'SUCCESS', settles: ['authorize', 'revalidate'] });
    expect(t.parseWebhook(notification('payments.payments.accept'), gateway)[0].outcome.settles).toEqual(['authorize', 'sale', 'revalidate']);
  });

  // A follow-on the bridge did not send carries its payment's merchant reference (a reversal Decision Manager made for a
  // rejected review, a Business Center capture or refund): named so, its event must not settle the payment's operation.
  it.each([
    ['payments.payments.accept', ['authorize', 'sale', 'revalidate']],
    ['payments.payments.reject', ['authorize', 'sale', 'revalidate']],
    ['payments.payments.failed', ['authorize', 'sale', 'revalidate']],
    ['risk.profile.decision.reject', ['authorize', 'sale', 'revalidate']],
    ['risk.casemanagement.decision.reject', ['authorize', 'sale', 'revalidate']],
    ['payments.captures.accept', ['capture', 'sale']],
    ['payments.captures.reject', ['capture', 'sale']],
    ['payments.refunds.accept', ['refund']],
    ['payments.refunds.reject', ['refund']],
    ['payments.credits.failed', ['refund']],
    ['payments.reversals.accept', ['cancel']],
    ['payments.reversals.reject', ['cancel']],
    ['payments.voids.accept', ['cancel']],
    ['payments.voids.reject', ['cancel']],
  ] as const)("lets %s settle only the operations of its service's commands (%j)", (type, commands) => {
    const [event] = t.parseWebhook(notification(type), gateway);
    expect(event.outcome.settles).toEqual(commands);
    // A reversal or a refused void named by an authorization's merchant reference neither authorizes nor fails it.
    if (!commands.includes('authorize' as never)) expect(settlesCommand(event.outcome, 'authorize')).toBe(false);
  });

  it('names the commands every event type it lists settles', () => {
    for (const type of CYBERSOURCE_WEBHOOK_EVENT_TYPES) expect(t.parseWebhook(notification(type), gateway)[0].outcome.settles?.length).toBeGreaterThan(0);
  });

  it('says a review rejected leaves the authorization held (review_rejected), and no other failure does', () => {
    const [event] = t.parseWebhook(notification('risk.casemanagement.decision.reject'), gateway);
    expect(event.outcome).toMatchObject({ status: 'FAIL', gatewayStatus: 'risk.casemanagement.decision.reject', fundsHeld: 'review_rejected' });
    expect(event.outcome.settles).toEqual(['authorize', 'sale', 'revalidate']);
    for (const type of CYBERSOURCE_WEBHOOK_EVENT_TYPES.filter((x) => x !== 'risk.casemanagement.decision.reject')) {
      expect(t.parseWebhook(notification(type), gateway)[0].outcome.fundsHeld).toBeUndefined();
    }
  });

  it("reads a successful reversal or void as the PSP's cancel of the payment it names, and a refund as naming its own id; nothing else", () => {
    const cancels = ['payments.reversals.accept', 'payments.voids.accept', 'payments.voids.accepted'];
    const refunds = ['payments.refunds.accept', 'payments.refunds.partial.approval'];
    for (const type of CYBERSOURCE_WEBHOOK_EVENT_TYPES) {
      const [event] = t.parseWebhook(notification(type, { orderInformation: { amountDetails: { authorizedAmount: '1.00', currency: 'USD' } } }), gateway);
      expect([type, event.outcome.pspReversal]).toEqual([type, cancels.includes(type) ? 'cancel' : undefined]);
      expect([type, event.outcome.referenceIsModification]).toEqual([type, refunds.includes(type) ? true : undefined]);
    }
    // A refused reversal or void released nothing.
    expect(t.parseWebhook(notification('payments.reversals.reject'), gateway)[0].outcome.pspReversal).toBeUndefined();
  });

  it('keys a successful reversal, void or refund by its transaction (data.id), whatever notification tells it; anything else by the notification', () => {
    const told = (type: string, notificationId: string, id: string): string => {
      const body = JSON.parse(notification(type, { id }).toString('utf8')) as Record<string, unknown>;
      return t.parseWebhook(Buffer.from(JSON.stringify({ ...body, notificationId })), gateway)[0].eventId;
    };
    expect(told('payments.voids.accept', 'n-1', '7000000000000000000082')).toBe(told('payments.voids.accepted', 'n-2', '7000000000000000000082'));
    expect(told('payments.refunds.accept', 'n-1', '7000000000000000000072')).toBe(told('payments.refunds.accept', 'n-2', '7000000000000000000072'));
    expect(told('payments.refunds.accept', 'n-1', '7000000000000000000072')).not.toBe(told('payments.refunds.accept', 'n-1', '7000000000000000000073'));
    expect(told('payments.reversals.accept', 'n-1', '7000000000000000000032')).toBe('7000000000000000000032:succeeded');
    // A refusal, a capture, a payment: one fact per notification, as before.
    expect(told('payments.refunds.reject', 'n-1', '7000000000000000000072')).toBe('n-1');
    expect(told('payments.captures.accept', 'n-3', '7000000000000000000072')).toBe('n-3');
  });

  it('maps a rejected payment to FAIL with the reason', () => {
    const [event] = t.parseWebhook(notification('payments.payments.reject', { errorInformation: { reason: 'INSUFFICIENT_FUND' } }), gateway);
    expect(event.outcome).toMatchObject({ status: 'FAIL', reason: 'INSUFFICIENT_FUND' });
  });

  it.each([
    ['payments.payments.review', 'PENDING'],
    ['payments.captures.accept', 'SUCCESS'],
    ['payments.refunds.accept', 'SUCCESS'],
    ['payments.reversals.accept', 'SUCCESS'],
    ['payments.voids.reject', 'FAIL'],
  ] as const)('maps %s to %s', (type, status) => {
    expect(t.parseWebhook(notification(type), gateway)[0].outcome.status).toBe(status);
  });

  it('maps every event type it lists without falling through', () => {
    for (const type of CYBERSOURCE_WEBHOOK_EVENT_TYPES) expect(['SUCCESS', 'FAIL', 'PENDING']).toContain(webhookEventOutcome(type));
  });

  describe('a currency that is no ISO 4217 code: the entry refused naming the field, no outcome or adjustment', () => {
    it.each<[string, unknown]>([
      ['payments.payments.accept', 'EURO'],
      ['payments.captures.reject', 'eu'],
      ['payments.refunds.reject', 'XXX1'],
      ['payments.credits.failed', 978],
    ])('%s with currency %p', (type, currency) => {
      const skipped: SkippedWebhookItem[] = [];
      const body = notification(type, { orderInformation: { amountDetails: { totalAmount: '10.00', currency } } });
      expect(t.parseWebhook(body, gateway, (item) => skipped.push(item))).toEqual([]);
      expect(skipped).toEqual([
        expect.objectContaining({
          reason: 'unreadable',
          eventType: type,
          reference: PAYMENT_ID,
          account: 'testrest',
          field: 'payload[0].data.orderInformation.amountDetails.currency',
          problem: expect.stringContaining('is not an ISO 4217 currency code') as unknown,
        }),
      ]);
    });

    it('refuses that entry alone: the next entry of its notification is read, under the event id it always had', () => {
      const entry = (id: string, currency: string) => ({
        data: { id, type: 'payments', clientReferenceInformation: { code: 'op-1' }, orderInformation: { amountDetails: { totalAmount: '10.00', currency } } },
        organizationId: 'testrest',
      });
      const body = Buffer.from(
        JSON.stringify({ notificationId: 'n-1', eventType: 'payments.captures.reject', payload: [entry('1111', ''), entry('2222', 'USD')] }),
      );
      const skipped: SkippedWebhookItem[] = [];
      const events = t.parseWebhook(body, gateway, (item) => skipped.push(item));
      expect(events.map((e) => [e.eventId, e.gatewayReference, e.adjustment?.currency])).toEqual([['n-1:1', '2222', 'USD']]);
      expect(skipped).toEqual([expect.objectContaining({ reference: '1111', field: 'payload[0].data.orderInformation.amountDetails.currency' })]);
    });
  });

  it('gives no event for products outside payments, and reports an unknown payments event (payments.payments.updated) as skipped instead of throwing', () => {
    const skipped: SkippedWebhookItem[] = [];
    expect(t.parseWebhook(notification('tms.networktoken.updated'), gateway, (item) => skipped.push(item))).toEqual([]);
    expect(skipped).toEqual([]);
    expect(t.parseWebhook(notification('payments.payments.updated'), gateway, (item) => skipped.push(item))).toEqual([]);
    expect(skipped).toEqual([expect.objectContaining({ reason: 'unknown_event_type', eventType: 'payments.payments.updated', reference: PAYMENT_ID })]);
  });

  it('marks a partial approval as such, with the authorized amount as its amount; a full approval is not marked', () => {
    const [event] = t.parseWebhook(
      notification('payments.payments.partial.approval', {
        orderInformation: { amountDetails: { authorizedAmount: '60.00', totalAmount: '100.00', currency: 'USD' } },
      }),
      gateway,
    );
    expect(event.outcome).toMatchObject({ status: 'SUCCESS', amount: 6000, currency: 'USD', partialApproval: true });
    expect(t.parseWebhook(notification('payments.payments.accept'), gateway)[0].outcome.partialApproval).toBeUndefined();
  });

  it('acknowledges with a 200', () => {
    expect(t.webhookAck().status).toBe(200);
  });
});
