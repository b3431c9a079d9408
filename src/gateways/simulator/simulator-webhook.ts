import { createHmac, timingSafeEqual } from 'node:crypto';
import { GatewayError } from '../../errors/gateway-error';
import { readPspCurrency } from '../../money/currencies';
import { SkippedWebhookItem, WebhookEvent } from '../gateway-adapter';
import { simulatorOutcome, toSimulatorResult } from './simulator-responses';
import { isSimulatorLateEventType, simulatorLateEvent } from './simulator-adjustments';

/**
 * Simulator webhooks: `Simulator-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`
 * keyed by the webhook secret (Stripe's scheme). Several `v1=` entries may appear (the simulator rotating
 * its secret); one match suffices.
 */

/** Default timestamp tolerance, seconds. */
export const WEBHOOK_TOLERANCE_S = 300;

export const SIGNATURE_HEADER = 'simulator-signature';

export interface SimulatorSignatureHeader {
  /** Unix seconds. */
  t: number;
  /** Hex HMAC-SHA256 values. */
  v1: string[];
}

/** Parses `t=…,v1=…[,v1=…]`; unknown schemes are ignored; `null` without a timestamp or a v1. */
export function parseSignatureHeader(value: string | undefined): SimulatorSignatureHeader | null {
  if (!value) return null;
  let t: number | undefined;
  const v1: string[] = [];
  for (const piece of value.split(',')) {
    const eq = piece.indexOf('=');
    if (eq <= 0) continue;
    const key = piece.slice(0, eq).trim();
    const val = piece.slice(eq + 1).trim();
    if (key === 't' && /^\d+$/.test(val)) t = Number(val);
    else if (key === 'v1' && /^[0-9a-fA-F]{64}$/.test(val)) v1.push(val.toLowerCase());
  }
  return t === undefined || v1.length === 0 ? null : { t, v1 };
}

/** Hex `v1` for a body at `t` (unix seconds) with `secret`: what the simulator computes. */
export function simulatorWebhookSignature(rawBody: Buffer, t: number, secret: string): string {
  return createHmac('sha256', secret)
    .update(Buffer.concat([Buffer.from(`${t}.`, 'utf8'), rawBody]))
    .digest('hex');
}

/**
 * Whether `rawBody` carries a `Simulator-Signature` made with one of `secrets` (empty ones skipped, so the
 * previous secret works during a rotation) at most `toleranceS` seconds from `now`. Constant time.
 */
export function verifySimulatorWebhook(
  rawBody: Buffer,
  headers: Record<string, string>,
  secrets: readonly string[],
  now: Date,
  toleranceS = WEBHOOK_TOLERANCE_S,
): boolean {
  const header = Object.entries(headers).find(([k]) => k.toLowerCase() === SIGNATURE_HEADER)?.[1];
  const parsed = parseSignatureHeader(header);
  if (!parsed) return false;
  if (Math.abs(now.getTime() - parsed.t * 1000) > toleranceS * 1000) return false;
  let ok = false;
  for (const secret of secrets) {
    if (!secret) continue;
    const expected = Buffer.from(simulatorWebhookSignature(rawBody, parsed.t, secret), 'hex');
    for (const candidate of parsed.v1) {
      // Both are 32 bytes (the header parser accepts only 64 hex digits); no early exit on a match.
      if (timingSafeEqual(expected, Buffer.from(candidate, 'hex'))) ok = true;
    }
  }
  return ok;
}

/**
 * One event per notification: `{id: "evt_…", type, created, data: {object}}`, where `object` is the
 * operation's result (its `reference` is our operation id). The outcome comes from the object's status
 * (exhaustive map), not from the event type, so a status we do not know is `outcome_unknown`. The late
 * facts (`chargeback.*`, `refund.failed`) carry an adjustment (see `simulatorLateEvent`). A currency that is no
 * ISO 4217 code is reported to `skipped` (`unreadable`, naming the field) and gives no event; any other
 * malformed field refuses the body.
 */
export function parseSimulatorWebhook(rawBody: Buffer, gateway: string, skipped: (item: SkippedWebhookItem) => void = () => undefined): WebhookEvent[] {
  let json: unknown;
  try {
    json = JSON.parse(rawBody.toString('utf8')) as unknown;
  } catch {
    throw new GatewayError('invalid_request', gateway, 'webhook body is not JSON');
  }
  if (typeof json !== 'object' || json === null) throw new GatewayError('invalid_request', gateway, 'webhook body is not a JSON object');
  const event = json as Record<string, unknown>;
  if (typeof event.id !== 'string' || event.id.length === 0) throw new GatewayError('invalid_request', gateway, 'webhook without id');
  const data = event.data;
  const object = typeof data === 'object' && data !== null ? (data as Record<string, unknown>).object : undefined;
  if (typeof object !== 'object' || object === null) throw new GatewayError('invalid_request', gateway, 'webhook without data.object');
  // The currency of the object's money, when it names one, must be an ISO 4217 code: else the event is
  // acknowledged and skipped as any PSP's unreadable item, and its money reaches no outcome or adjustment.
  const named = (object as Record<string, unknown>).currency;
  const currency = named === undefined || named === null ? undefined : readPspCurrency(named);
  if (currency !== undefined && 'problem' in currency) {
    const reference = (object as Record<string, unknown>).id;
    skipped({
      reason: 'unreadable',
      eventId: event.id,
      ...(typeof event.type === 'string' ? { eventType: event.type } : {}),
      ...(typeof reference === 'string' ? { reference } : {}),
      field: 'data.object.currency',
      problem: currency.problem,
    });
    return [];
  }
  if (isSimulatorLateEventType(event.type)) return [simulatorLateEvent(event.id, event.type, object as Record<string, unknown>, event.created, gateway)];
  const result = toSimulatorResult(object, gateway);
  return [
    {
      eventId: event.id,
      operationId: result.reference,
      gatewayReference: result.id,
      outcome: simulatorOutcome(result, undefined, gateway),
    },
  ];
}
