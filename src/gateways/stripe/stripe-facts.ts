import { FactRow, RESPONSE_OR_INQUIRY } from '../gateway-facts';
import { STRIPE_DISPUTE_EVENT_TYPES, STRIPE_DISPUTE_STATUSES, stripeDisputeFact } from './stripe-adjustments';
import {
  ASKED_CANCELLATION_REASONS,
  PAYMENT_INTENT_STATUSES,
  PaymentIntentCommand,
  REFUND_STATUSES,
  SETUP_INTENT_STATUSES,
  paymentIntentOutcome,
  refundOutcome,
  setupIntentOutcome,
} from './stripe-status-map';
import { CAPTURE_OPERATION_ID_METADATA, OPERATION_ID_METADATA } from './stripe-requests';
import { STRIPE_IGNORED_EVENT_TYPES, STRIPE_RELEASE_REFUND_REASON, STRIPE_WEBHOOK_EVENT_TYPES } from './stripe-webhook';
import { CANCELABLE_STATUSES, stripeCancelOutcome, stripeCaptureLapseOutcome } from './stripe-responses';

const PI_COMMANDS: readonly PaymentIntentCommand[] = ['authorize', 'sale', 'revalidate', 'validate', 'capture', 'cancel'];

/** Stripe's fact table (docs/gateways/stripe.md), read from its status maps and webhook parser. */
export function stripeFacts(): FactRow[] {
  const rows: FactRow[] = [];
  for (const status of PAYMENT_INTENT_STATUSES) {
    for (const command of PI_COMMANDS) {
      // A cancel's inquiry reads a PaymentIntent still in a status a cancel ends as no trace of it (a row below).
      const source = command === 'cancel' && CANCELABLE_STATUSES.has(status) ? 'response' : RESPONSE_OR_INQUIRY;
      rows.push({ fact: `PaymentIntent \`${status}\``, source, commands: [command], meaning: paymentIntentOutcome(status, command) });
    }
  }
  for (const status of REFUND_STATUSES) {
    rows.push({
      fact: `Refund \`${status}\``,
      source: `${RESPONSE_OR_INQUIRY}, webhook refund.*`,
      commands: ['refund'],
      meaning: refundOutcome(status),
      ...(status === 'failed' ? { adjustment: 'refund_failed' as const } : {}),
    });
  }
  for (const status of SETUP_INTENT_STATUSES) {
    rows.push({ fact: `SetupIntent \`${status}\``, source: 'response, webhook setup_intent.*', commands: ['tokenize'], meaning: setupIntentOutcome(status) });
  }
  // Every payment_intent.* type we act on is read by the PaymentIntent it carries, whatever the type.
  const piTypes = STRIPE_WEBHOOK_EVENT_TYPES.filter((t) => t.startsWith('payment_intent.'))
    .map((t) => `\`${t}\``)
    .join(', ');
  for (const status of PAYMENT_INTENT_STATUSES) {
    rows.push({
      fact: `PaymentIntent \`${status}\`, capture_method manual`,
      source: `webhook ${piTypes}`,
      // The operation its metadata names: an authorize, or a revalidate (its id then the new gateway key).
      commands: ['authorize', 'revalidate'],
      meaning: paymentIntentOutcome(status, 'authorize'),
    });
    rows.push({
      fact: `PaymentIntent \`${status}\`, capture_method automatic`,
      source: 'webhook payment_intent.* (as above)',
      commands: ['sale'],
      meaning: paymentIntentOutcome(status, 'sale'),
    });
  }
  // The same events, read as the outcome of the capture or cancel they show done (`modificationReading`): they settle
  // that one open operation of the authorization named, which is then left as it is.
  rows.push({
    fact: `PaymentIntent \`succeeded\`, capture_method manual, metadata \`${CAPTURE_OPERATION_ID_METADATA}\` (our capture request sets it) naming an open capture of the authorization: its confirmed amount \`amount_received\``,
    source: 'webhook `payment_intent.succeeded`',
    commands: ['capture'],
    meaning: paymentIntentOutcome('succeeded', 'capture'),
  });
  const asked = [...ASKED_CANCELLATION_REASONS].map((r) => `\`${r}\``).join(', ');
  rows.push({
    fact: `PaymentIntent \`canceled\`, capture_method manual, \`cancellation_reason\` null (our cancel sends none) or ${asked}, with one open cancel of the authorization (not \`automatic\`: the authorization lapsed, its \`authorization_expired\` adjustment)`,
    source: 'webhook `payment_intent.canceled`',
    commands: ['cancel'],
    meaning: paymentIntentOutcome('canceled', 'cancel'),
  });
  // Stripe's own cancellation read by an open cancel, the same way by its status inquiry and by the webhook
  // (`stripeCancelOutcome`): the cancel's FAIL, never sent again (Stripe refuses any operation on a canceled one).
  const lapse = stripeCancelOutcome({ status: 'canceled', capture_method: 'manual', cancellation_reason: 'automatic' }, 'stripe');
  rows.push({
    fact: `PaymentIntent \`canceled\`, capture_method manual, \`cancellation_reason\` \`automatic\` (the authorization lapsed: its \`authorization_expired\` adjustment) while a cancel of it is open: reason \`${lapse?.reason ?? ''}\``,
    source: 'status inquiry, webhook `payment_intent.canceled`',
    commands: ['cancel'],
    meaning: lapse === null ? 'ignore' : lapse.status,
  });
  // The same lapse met by a capture: Stripe's refusal carries the PaymentIntent, its status inquiry shows it.
  const capture = stripeCaptureLapseOutcome({ id: 'pi', status: 'canceled', capture_method: 'manual', cancellation_reason: 'automatic' });
  rows.push({
    fact: `PaymentIntent \`canceled\`, capture_method manual, \`cancellation_reason\` \`automatic\` (the authorization lapsed), for a capture: HTTP 400 \`payment_intent_unexpected_state\` with it as \`error.payment_intent\`, or its inquiry: reason \`${capture?.reason ?? ''}\`, action \`reauthorize\`; the authorization's \`authorization_expired\` once`,
    source: RESPONSE_OR_INQUIRY,
    commands: ['capture'],
    meaning: capture === undefined ? 'ignore' : capture.status,
  });
  // The lapse webhook settles that capture too while it is open, as its inquiry would (`modificationReading`'s others).
  rows.push({
    fact: `PaymentIntent \`canceled\`, capture_method manual, \`cancellation_reason\` \`automatic\` while a capture of it is open (UNKNOWN, PENDING, UNRESOLVED, or SENT: the PaymentIntent never moves again): reason \`${capture?.reason ?? ''}\`, action \`reauthorize\`, never asked about or sent again; one SUCCEEDED is left as it is (\`contradicted\`)`,
    source: 'webhook `payment_intent.canceled`',
    commands: ['capture'],
    meaning: capture === undefined ? 'ignore' : capture.status,
  });
  const invoice = stripeCancelOutcome({ status: 'canceled', capture_method: 'manual', cancellation_reason: 'void_invoice' }, 'stripe');
  rows.push({
    fact: 'PaymentIntent `canceled` by Stripe itself for an invoice (`cancellation_reason` `failed_invoice`, `void_invoice`) while a cancel of it is open: that reason',
    source: 'status inquiry, webhook `payment_intent.canceled`',
    commands: ['cancel'],
    meaning: invoice === null ? 'ignore' : invoice.status,
  });
  rows.push({
    fact:
      'PaymentIntent `canceled` for a `cancellation_reason` Stripe does not document, or still in a status a cancel ends ' +
      `(${[...CANCELABLE_STATUSES].map((st) => `\`${String(st)}\``).join(', ')}), while a cancel of it is open: no trace of the cancel (sent again while UNKNOWN)`,
    source: 'status inquiry, webhook `payment_intent.canceled`',
    commands: ['cancel'],
    meaning: 'ignore',
  });
  rows.push({
    fact: `PaymentIntent \`succeeded\` whose metadata \`${CAPTURE_OPERATION_ID_METADATA}\` names another capture of ours, read for a capture: no trace of this capture (another took the money; sent again while UNKNOWN, Stripe refuses it)`,
    source: 'status inquiry',
    commands: ['capture'],
    meaning: 'ignore',
  });
  // The same events when the capture or cancel they show done was recorded FAILED (the OMS was told so): a success
  // after failure, reported once Stripe confirms it (the operation's status inquiry reads the PaymentIntent).
  const confirmed = 'recorded FAILED after it was sent, once the PaymentIntent read again shows it (the authorization is then closed by it)';
  rows.push({
    fact: `PaymentIntent \`succeeded\`, capture_method manual, metadata \`${CAPTURE_OPERATION_ID_METADATA}\` naming a capture of the authorization ${confirmed}: its amount \`amount_received\``,
    source: 'webhook `payment_intent.succeeded`',
    commands: ['capture'],
    meaning: 'ignore',
    adjustment: 'succeeded_after_failure',
  });
  rows.push({
    fact: `PaymentIntent \`canceled\`, capture_method manual, \`cancellation_reason\` as above, no open or succeeded cancel of the authorization and one ${confirmed}`,
    source: 'webhook `payment_intent.canceled`',
    commands: ['cancel'],
    meaning: 'ignore',
    adjustment: 'succeeded_after_failure',
  });
  for (const type of STRIPE_DISPUTE_EVENT_TYPES) {
    const kinds = [...new Set(STRIPE_DISPUTE_STATUSES.map((status) => stripeDisputeFact(type, status).kind))];
    for (const kind of kinds) {
      const statuses = STRIPE_DISPUTE_STATUSES.filter((status) => stripeDisputeFact(type, status).kind === kind);
      const fact = kinds.length === 1 ? `\`${type}\`` : `\`${type}\`, Dispute ${statuses.map((st) => `\`${st}\``).join(', ')}`;
      rows.push({ fact, source: 'webhook', commands: [], meaning: 'ignore', adjustment: kind });
    }
  }
  const ignored = STRIPE_IGNORED_EVENT_TYPES.map((t) => `\`${t}\``).join(', ');
  rows.push({
    fact:
      'a `payment_intent.*`, `setup_intent.*`, `refund.*`, `charge.refund.*` or `charge.dispute.*` type not listed here, or a status ' +
      'not listed here (an endpoint on a newer API version): acknowledged and skipped, counted in `pb_webhook_items_skipped_total` ' +
      `(\`unknown_event_type\`, \`unreadable\`) with a warn line; ${ignored} are acknowledged quietly`,
    source: 'webhook',
    commands: [],
    meaning: 'ignore',
  });
  rows.push({
    fact:
      'an event of the types above whose `livemode` is not the mode of `api_key` (`sk_test_`/`rk_test_` test, `sk_live_`/`rk_live_` live; ' +
      'a key of neither prefix, or no `livemode`, is not checked): acknowledged and skipped, counted in `pb_webhook_items_skipped_total` ' +
      '(`other_environment`) with a warn line',
    source: 'webhook',
    commands: [],
    meaning: 'ignore',
  });
  rows.push({
    fact:
      "an event of the types above whose `account` is not `merchant_account` (a Connect endpoint sends every connected account's events, " +
      "each naming its account; the platform's own name none, read only by a gateway without `merchant_account`): acknowledged and skipped, " +
      'counted in `pb_webhook_items_skipped_total` (`other_account`) with an info line',
    source: 'webhook',
    commands: [],
    meaning: 'ignore',
  });
  rows.push({
    fact:
      `a \`payment_intent.*\`, \`setup_intent.*\` event without our \`${OPERATION_ID_METADATA}\` or \`${CAPTURE_OPERATION_ID_METADATA}\` metadata, ` +
      'or a `charge.dispute.*` one, about no PaymentIntent, SetupIntent or Charge the ledger indexed, caused by no request of ours ' +
      '(`request.idempotency_key`): another integration of the account, acknowledged and skipped, `not_ours` (an info line)',
    source: 'webhook',
    commands: [],
    meaning: 'ignore',
  });
  rows.push({
    fact:
      `a Refund without our \`${OPERATION_ID_METADATA}\` metadata whose \`reason\` is \`${STRIPE_RELEASE_REFUND_REASON}\` (Stripe's own, of an uncaptured ` +
      "charge whose authorization expired: no money taken went back, the hold was released, which the PaymentIntent's cancellation " +
      '`automatic` reports as the `authorization_expired` adjustment): acknowledged, no `refund_outside_bridge` nor `refund_failed`',
    source: 'webhook `refund.*`, `charge.refund.updated`',
    commands: [],
    meaning: 'ignore',
  });
  rows.push({ fact: 'any other event type', source: 'webhook', commands: [], meaning: 'ignore' });
  return rows;
}
