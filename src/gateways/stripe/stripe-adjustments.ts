import { AdjustmentKind, MoneyDirection } from '../../adjustments/adjustment';
import { GatewayError } from '../../errors/gateway-error';
import { pspValueText } from '../../errors/psp-text';
import { assertNever } from '../assert-never';

/** Every `charge.dispute.*` event type Stripe documents. */
export const STRIPE_DISPUTE_EVENT_TYPES = [
  'charge.dispute.created',
  'charge.dispute.updated',
  'charge.dispute.closed',
  'charge.dispute.funds_withdrawn',
  'charge.dispute.funds_reinstated',
] as const;
export type StripeDisputeEventType = (typeof STRIPE_DISPUTE_EVENT_TYPES)[number];

/** Every Dispute `status` Stripe documents. */
export const STRIPE_DISPUTE_STATUSES = [
  'warning_needs_response',
  'warning_under_review',
  'warning_closed',
  'needs_response',
  'under_review',
  'won',
  'lost',
  'prevented',
  'appeal_needs_response',
  'appeal_under_review',
] as const;
export type StripeDisputeStatus = (typeof STRIPE_DISPUTE_STATUSES)[number];

/** A dispute event's outcome status (`GatewayOutcome.gatewayStatus`): the Dispute's status, named as a dispute's. */
export function stripeDisputeGatewayStatus(status: StripeDisputeStatus): `dispute.${StripeDisputeStatus}` {
  return `dispute.${status}`;
}

export function isStripeDisputeEventType(value: string): value is StripeDisputeEventType {
  return (STRIPE_DISPUTE_EVENT_TYPES as readonly string[]).includes(value);
}

/** Narrows a Dispute status; an undocumented one is `outcome_unknown`, never a guess. */
export function parseDisputeStatus(value: unknown, gateway: string): StripeDisputeStatus {
  const found = STRIPE_DISPUTE_STATUSES.find((s) => s === value);
  if (found === undefined) throw new GatewayError('outcome_unknown', gateway, `unknown Dispute status ${pspValueText(value)}`);
  return found;
}

/**
 * The adjustment a dispute event is (the table is in docs/EVENTS.md). The money moves with
 * `funds_withdrawn` (the disputed amount and Stripe's fee taken) and `funds_reinstated` (given back);
 * `closed` tells the end (`won`, `lost`; `warning_closed`: an inquiry closed without a chargeback;
 * `prevented`: no chargeback happened); the others are notices.
 */
export function stripeDisputeFact(type: StripeDisputeEventType, status: StripeDisputeStatus): { kind: AdjustmentKind; direction: MoneyDirection } {
  switch (type) {
    case 'charge.dispute.created':
      return { kind: 'dispute_opened', direction: 'none' };
    case 'charge.dispute.updated':
      return { kind: 'dispute_updated', direction: 'none' };
    case 'charge.dispute.funds_withdrawn':
      return { kind: 'chargeback', direction: 'debit' };
    case 'charge.dispute.funds_reinstated':
      return { kind: 'chargeback_reversed', direction: 'credit' };
    case 'charge.dispute.closed':
      return { kind: closedKind(status), direction: 'none' };
    default:
      return assertNever(type, 'Stripe dispute event type');
  }
}

function closedKind(status: StripeDisputeStatus): AdjustmentKind {
  switch (status) {
    case 'won':
    case 'warning_closed':
    case 'prevented':
      return 'dispute_won';
    case 'lost':
      return 'dispute_lost';
    // A closed event with a status that is not an end: report it as a step, not as an end we would invent.
    case 'warning_needs_response':
    case 'warning_under_review':
    case 'needs_response':
    case 'under_review':
    case 'appeal_needs_response':
    case 'appeal_under_review':
      return 'dispute_updated';
    default:
      return assertNever(status, 'Stripe dispute status');
  }
}
