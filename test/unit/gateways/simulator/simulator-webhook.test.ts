import { createHmac } from 'node:crypto';
import { GatewayError } from '../../../../src/errors/gateway-error';
import { SkippedWebhookItem } from '../../../../src/gateways/gateway-adapter';
import { simulatorTransformer } from '../../../../src/gateways/simulator';
import { parseSignatureHeader } from '../../../../src/gateways/simulator/simulator-webhook';
import { authorization, gateway } from './simulator-test-support';

const t = simulatorTransformer;
const NOW = new Date('2026-11-22T12:00:00Z');
const T = Math.floor(NOW.getTime() / 1000);

/** Independent of the adapter: hex HMAC-SHA256 of `${t}.${body}`. */
function sign(body: Buffer, secret: string, ts = T): string {
  return createHmac('sha256', secret)
    .update(`${ts}.${body.toString('utf8')}`)
    .digest('hex');
}

function event(object: Record<string, unknown>, type = 'authorization.succeeded'): Buffer {
  return Buffer.from(JSON.stringify({ id: 'evt_100', type, created: T, data: { object } }));
}

describe('simulator webhook signature', () => {
  const body = event(authorization());

  it('accepts a body signed with the current secret', () => {
    expect(t.verifyWebhook(body, { 'Simulator-Signature': `t=${T},v1=${sign(body, 'whsec_current')}` }, gateway, NOW)).toBe(true);
  });

  it('accepts a body signed with the previous secret during a rotation', () => {
    expect(t.verifyWebhook(body, { 'simulator-signature': `t=${T},v1=${sign(body, 'whsec_previous')}` }, gateway, NOW)).toBe(true);
  });

  it('accepts a header with several v1 entries when one matches', () => {
    const header = `t=${T},v1=${sign(body, 'whsec_other')},v1=${sign(body, 'whsec_current')}`;
    expect(t.verifyWebhook(body, { 'simulator-signature': header }, gateway, NOW)).toBe(true);
  });

  it('refuses a body signed with another secret', () => {
    expect(t.verifyWebhook(body, { 'simulator-signature': `t=${T},v1=${sign(body, 'whsec_other')}` }, gateway, NOW)).toBe(false);
  });

  it('refuses a tampered body', () => {
    const header = { 'simulator-signature': `t=${T},v1=${sign(body, 'whsec_current')}` };
    const tampered = Buffer.from(body.toString('utf8').replace('2550', '2551'));
    expect(t.verifyWebhook(tampered, header, gateway, NOW)).toBe(false);
  });

  it('refuses a signature whose timestamp is more than 300 seconds from now, either way', () => {
    const old = T - 301;
    const future = T + 301;
    expect(t.verifyWebhook(body, { 'simulator-signature': `t=${old},v1=${sign(body, 'whsec_current', old)}` }, gateway, NOW)).toBe(false);
    expect(t.verifyWebhook(body, { 'simulator-signature': `t=${future},v1=${sign(body, 'whsec_current', future)}` }, gateway, NOW)).toBe(false);
    const edge = T - 300;
    expect(t.verifyWebhook(body, { 'simulator-signature': `t=${edge},v1=${sign(body, 'whsec_current', edge)}` }, gateway, NOW)).toBe(true);
  });

  it('refuses a signature whose timestamp was changed after signing', () => {
    expect(t.verifyWebhook(body, { 'simulator-signature': `t=${T + 1},v1=${sign(body, 'whsec_current')}` }, gateway, NOW)).toBe(false);
  });

  it('refuses a missing, empty or malformed header', () => {
    expect(t.verifyWebhook(body, {}, gateway, NOW)).toBe(false);
    expect(t.verifyWebhook(body, { 'simulator-signature': '' }, gateway, NOW)).toBe(false);
    expect(t.verifyWebhook(body, { 'simulator-signature': `v1=${sign(body, 'whsec_current')}` }, gateway, NOW)).toBe(false);
    expect(t.verifyWebhook(body, { 'simulator-signature': `t=${T},v1=abc` }, gateway, NOW)).toBe(false);
    expect(t.verifyWebhook(body, { 'simulator-signature': `t=${T},v0=${sign(body, 'whsec_current')}` }, gateway, NOW)).toBe(false);
  });

  it('refuses everything when no secret is configured', () => {
    const bare = { ...gateway, webhookSecret: '', webhookSecretPrevious: '' };
    expect(t.verifyWebhook(body, { 'simulator-signature': `t=${T},v1=${sign(body, '')}` }, bare, NOW)).toBe(false);
  });

  it('parses the header with spaces and in any order', () => {
    expect(parseSignatureHeader(` v1=${'a'.repeat(64)} , t=${T} `)).toEqual({ t: T, v1: ['a'.repeat(64)] });
  });
});

describe('simulator webhook events', () => {
  it('maps a succeeded authorization to one SUCCESS event with our operation id and the PSP id', () => {
    expect(t.parseWebhook(event(authorization()), gateway)).toEqual([
      {
        eventId: 'evt_100',
        operationId: 'op-authorize-42',
        gatewayReference: 'auth_abc123',
        outcome: { status: 'SUCCESS', gatewayStatus: 'authorized', gatewayReference: 'auth_abc123', amount: 2550, currency: 'EUR' },
      },
    ]);
  });

  it('maps a failed authorization to FAIL with the decline code', () => {
    const [e] = t.parseWebhook(event(authorization({ status: 'declined', decline_code: 'insufficient_funds' }), 'authorization.failed'), gateway);
    expect(e.outcome).toMatchObject({ status: 'FAIL', reason: 'insufficient_funds' });
  });

  it('maps a refund event', () => {
    const [e] = t.parseWebhook(event({ id: 're_5', object: 'refund', status: 'refunded', amount: 300, reference: 'op-refund-1' }, 'refund.succeeded'), gateway);
    expect(e).toMatchObject({ operationId: 'op-refund-1', gatewayReference: 're_5', outcome: { status: 'SUCCESS', amount: 300 } });
  });

  it('throws outcome_unknown for an object status it does not know', () => {
    expect(() => t.parseWebhook(event(authorization({ status: 'exploded' })), gateway)).toThrow(GatewayError);
  });

  it('refuses a body that is not an event', () => {
    for (const raw of ['nope', '[]', '{"type":"x"}', '{"id":"evt_1","data":{}}']) {
      let kind: string | undefined;
      try {
        t.parseWebhook(Buffer.from(raw), gateway);
      } catch (err) {
        kind = (err as GatewayError).kind;
      }
      expect(kind).toBe('invalid_request');
    }
  });

  it('refuses an outcome whose currency is no ISO 4217 code, naming data.object.currency; reads one in any case upper-cased', () => {
    const skipped: SkippedWebhookItem[] = [];
    expect(t.parseWebhook(event(authorization({ currency: 'EURO' })), gateway, (item) => skipped.push(item))).toEqual([]);
    expect(skipped).toEqual([expect.objectContaining({ reason: 'unreadable', eventId: 'evt_100', field: 'data.object.currency' })]);
    const [read] = t.parseWebhook(event(authorization({ currency: 'eur' })), gateway);
    expect(read.outcome.currency).toBe('EUR');
  });

  it('acknowledges with 200 JSON', () => {
    expect(t.webhookAck()).toEqual({ status: 200, body: '{"received":true}', contentType: 'application/json' });
  });
});

describe('an event time no Date can hold', () => {
  it('gives a chargeback no occurredAt rather than a time its event cannot write', () => {
    const raw = Buffer.from(
      JSON.stringify({ id: 'evt_1', type: 'chargeback.created', created: 1e300, data: { object: authorization({ status: 'captured' }) } }),
    );
    const [event] = t.parseWebhook(raw, gateway);
    expect(event.adjustment).toBeDefined();
    expect(event.adjustment?.occurredAt).toBeUndefined();
  });
});

describe('a negative amount in a late fact', () => {
  it('gives the chargeback no amount rather than one that moves money the other way', () => {
    const raw = Buffer.from(
      JSON.stringify({ id: 'evt_2', type: 'chargeback.created', created: T, data: { object: authorization({ status: 'captured', amount: -2550 }) } }),
    );
    const [event] = t.parseWebhook(raw, gateway);
    expect(event.adjustment).toBeDefined();
    expect(event.adjustment?.amount).toBeUndefined();
  });
});

describe('a card number sent as an amount', () => {
  it('is no amount: neither the outcome nor the late fact carries it (it would be queued, stored and sent)', () => {
    for (const type of ['operation.captured', 'chargeback.created']) {
      const raw = Buffer.from(
        JSON.stringify({ id: 'evt_3', type, created: T, data: { object: authorization({ status: 'captured', amount: 378282246310005 }) } }),
      );
      const [event] = t.parseWebhook(raw, gateway);
      expect(event.outcome.amount).toBeUndefined();
      expect(event.adjustment?.amount).toBeUndefined();
    }
  });
});
