import { GatewayType } from '../../src/config/config';
import { CommandType } from '../../src/contracts/payment-command';
import { ledgerStateOf } from '../../src/delivery/outcome-recorder';
import { BRIDGE_DECLINES } from '../../src/errors/bridge-declines';
import { CATEGORY_DEFAULTS, DECLINE_CATEGORIES, DeclineTable, SUGGESTED_ACTIONS, describeDecline } from '../../src/errors/decline';
import { eventStatusOf, notificationFor } from '../../src/events/payment-event';
import { ADYEN_RAW_RESPONSES } from '../../src/gateways/adyen/adyen-declines';
import { AdjustmentKind } from '../../src/adjustments/adjustment';
import { adyenLateFact } from '../../src/gateways/adyen/adyen-adjustments';
import { STRIPE_DISPUTE_EVENT_TYPES, STRIPE_DISPUTE_STATUSES, stripeDisputeFact } from '../../src/gateways/stripe/stripe-adjustments';
import { ADYEN_EVENT_CODES, ADYEN_MODIFICATION_STATUSES, ADYEN_RESULT_CODES, eventOutcome, modificationStatus, resultCodeStatus } from '../../src/gateways/adyen/adyen-status-map';
import {
  CYBERSOURCE_RCODES,
  CYBERSOURCE_STATUSES,
  CYBERSOURCE_TOKEN_STATES,
  cybersourceRCodeMeaning,
  cybersourceStatusMeaning,
  cybersourceTokenStateMeaning,
} from '../../src/gateways/cybersource/cybersource-status-map';
import { CYBERSOURCE_WEBHOOK_EVENT_TYPES, cybersourceLateFact, webhookEventOutcome } from '../../src/gateways/cybersource/cybersource-webhook';
import { OutcomeStatus } from '../../src/gateways/gateway-adapter';
import { declineTableFor } from '../../src/gateways/gateway-declines';
import { SIMULATOR_STATUSES, simulatorStatusMeaning } from '../../src/gateways/simulator/simulator-status-map';
import { PAYMENT_INTENT_STATUSES, PaymentIntentCommand, REFUND_STATUSES, paymentIntentOutcome, refundOutcome } from '../../src/gateways/stripe/stripe-status-map';
import { parseStripeWebhook, STRIPE_WEBHOOK_EVENT_TYPES } from '../../src/gateways/stripe/stripe-webhook';

/**
 * The gateway pages of `docs/gateways/`, rendered from the code: each PSP's decline table and its fact
 * table (PSP fact → ledger state → OMS event), built by calling the status maps themselves. Pure: the
 * script `scripts/gateway-docs.ts` writes them, the test checks the committed files equal them.
 *
 * To add facts (a new status, an adjustment event…): extend the gateway's `facts` function below (or
 * the status map it calls) and run `npm run docs:gateways`. Rows are generic: a fact, where it comes
 * from, the command(s) it answers and what our status map makes of it.
 */

/** What a status map makes of a fact: an outcome, or a documented non-outcome. */
export type FactMeaning = OutcomeStatus | 'ignore' | 'retry';

export interface FactRow {
  /** The PSP fact, e.g. "PaymentIntent `requires_capture`". */
  fact: string;
  /** response, status inquiry, webhook. */
  source: string;
  /** The commands it answers; empty: whichever operation it names. */
  commands: readonly CommandType[];
  meaning: FactMeaning;
  /** A late fact about money: the adjustment kind it is recorded as (see docs/EVENTS.md). */
  adjustment?: AdjustmentKind;
}

const PI_COMMANDS: readonly PaymentIntentCommand[] = ['authorize', 'sale', 'revalidate', 'validate', 'capture', 'cancel'];
const RESPONSE = 'response, status inquiry';

function stripeFacts(): FactRow[] {
  const rows: FactRow[] = [];
  for (const status of PAYMENT_INTENT_STATUSES) {
    for (const command of PI_COMMANDS) rows.push({ fact: `PaymentIntent \`${status}\``, source: RESPONSE, commands: [command], meaning: paymentIntentOutcome(status, command) });
  }
  for (const status of REFUND_STATUSES) {
    rows.push({ fact: `Refund \`${status}\``, source: `${RESPONSE}, webhook refund.*`, commands: ['refund'], meaning: refundOutcome(status), ...(status === 'failed' ? { adjustment: 'refund_failed' as const } : {}) });
  }
  // Every payment_intent.* type we act on is read by the PaymentIntent it carries, whatever the type.
  const piTypes = STRIPE_WEBHOOK_EVENT_TYPES.filter((t) => t.startsWith('payment_intent.')).map((t) => `\`${t}\``).join(', ');
  for (const status of PAYMENT_INTENT_STATUSES) {
    rows.push({ fact: `PaymentIntent \`${status}\`, capture_method manual`, source: `webhook ${piTypes}`, commands: ['authorize'], meaning: paymentIntentOutcome(status, 'authorize') });
    rows.push({ fact: `PaymentIntent \`${status}\`, capture_method automatic`, source: 'webhook payment_intent.* (as above)', commands: ['sale'], meaning: paymentIntentOutcome(status, 'sale') });
  }
  // charge.refunded carries no status of its own: read it through the webhook parser itself.
  const body = Buffer.from(JSON.stringify({ id: 'evt_docs', type: 'charge.refunded', data: { object: { id: 'ch_docs', payment_intent: 'pi_docs', amount_refunded: 100 } } }));
  const [chargeRefunded] = parseStripeWebhook(body, 'stripe');
  rows.push({ fact: '`charge.refunded`', source: 'webhook', commands: ['refund'], meaning: chargeRefunded?.outcome.status ?? 'ignore' });
  for (const type of STRIPE_DISPUTE_EVENT_TYPES) {
    const kinds = [...new Set(STRIPE_DISPUTE_STATUSES.map((status) => stripeDisputeFact(type, status).kind))];
    for (const kind of kinds) {
      const statuses = STRIPE_DISPUTE_STATUSES.filter((status) => stripeDisputeFact(type, status).kind === kind);
      const fact = kinds.length === 1 ? `\`${type}\`` : `\`${type}\`, Dispute ${statuses.map((st) => `\`${st}\``).join(', ')}`;
      rows.push({ fact, source: 'webhook', commands: [], meaning: 'ignore', adjustment: kind });
    }
  }
  rows.push({ fact: 'any other event type', source: 'webhook', commands: [], meaning: 'ignore' });
  return rows;
}

function adyenFacts(): FactRow[] {
  const rows: FactRow[] = [];
  for (const code of ADYEN_RESULT_CODES) rows.push({ fact: `resultCode \`${code}\``, source: `${RESPONSE} (/payments)`, commands: ['authorize', 'sale', 'revalidate'], meaning: resultCodeStatus(code) });
  for (const status of ADYEN_MODIFICATION_STATUSES) {
    rows.push({ fact: `modification status \`${status}\``, source: 'response (modifications; no status inquiry: they settle by webhook)', commands: ['capture', 'cancel', 'refund', 'validate'], meaning: modificationStatus(status) });
  }
  for (const code of ADYEN_EVENT_CODES) {
    const onTrue = eventOutcome(code, true);
    const onFalse = eventOutcome(code, false);
    const late = adyenLateFact(code, true);
    const adjustment = late ? { adjustment: late.kind } : {};
    if (onTrue === onFalse && !late) {
      rows.push({ fact: `eventCode \`${code}\``, source: 'webhook', commands: [], meaning: onTrue });
    } else {
      rows.push({ fact: `eventCode \`${code}\`, success true`, source: 'webhook', commands: [], meaning: onTrue, ...adjustment });
      rows.push({ fact: `eventCode \`${code}\`, success false`, source: 'webhook', commands: [], meaning: onFalse });
    }
  }
  return rows;
}

function cybersourceFacts(): FactRow[] {
  const rows: FactRow[] = [];
  const meaning = (m: OutcomeStatus | 'ERROR'): FactMeaning => (m === 'ERROR' ? 'retry' : m);
  for (const status of CYBERSOURCE_STATUSES) rows.push({ fact: `status \`${status}\``, source: RESPONSE, commands: [], meaning: meaning(cybersourceStatusMeaning(status)) });
  for (const state of CYBERSOURCE_TOKEN_STATES) rows.push({ fact: `payment instrument state \`${state}\``, source: 'response', commands: ['tokenize'], meaning: cybersourceTokenStateMeaning(state) });
  for (const rCode of CYBERSOURCE_RCODES) rows.push({ fact: `rCode \`${rCode}\` (no status)`, source: 'status inquiry (transaction search)', commands: [], meaning: meaning(cybersourceRCodeMeaning(rCode)) });
  for (const type of CYBERSOURCE_WEBHOOK_EVENT_TYPES) {
    const late = cybersourceLateFact(type);
    rows.push({ fact: `\`${type}\``, source: 'webhook', commands: [], meaning: webhookEventOutcome(type), ...(late ? { adjustment: late.kind } : {}) });
  }
  return rows;
}

function simulatorFacts(): FactRow[] {
  const rows: FactRow[] = [];
  for (const status of SIMULATOR_STATUSES) {
    rows.push({ fact: `status \`${status}\``, source: `${RESPONSE}, webhook`, commands: [], meaning: simulatorStatusMeaning(status) });
  }
  // simulator-responses.ts: a validate of a cancelled authorization holds no funds.
  rows.push({ fact: 'status `cancelled` answering a validate', source: RESPONSE, commands: ['validate'], meaning: 'FAIL' });
  const refusals = Object.keys(declineTableFor('simulator').rules).filter((c) => c.startsWith('amount_') || c.startsWith('authorization_') || c === 'invalid_payment_method');
  for (const code of refusals) rows.push({ fact: `422 \`${code}\``, source: RESPONSE, commands: [], meaning: 'FAIL' });
  return rows;
}

/** The fact rows of a gateway type. Exhaustive over `GatewayType` by construction of the record. */
export const GATEWAY_FACTS: Readonly<Record<GatewayType, () => FactRow[]>> = {
  stripe: stripeFacts,
  adyen: adyenFacts,
  cybersource: cybersourceFacts,
  simulator: simulatorFacts,
};

/** Further decline tables a gateway page shows after its main one (heading, table). */
export const EXTRA_DECLINE_TABLES: Readonly<Partial<Record<GatewayType, readonly { heading: string; intro: string; table: DeclineTable }[]>>> = {
  adyen: [
    {
      heading: '## Raw acquirer responses',
      intro:
        'When Adyen sends `additionalData.refusalReasonRaw` and the refusal reason is a generic one (category `do_not_honor`), its leading code refines the category; `gateway_code` is then `<refusalReasonCode>:<raw code>` (e.g. `2:51`). Sources:',
      table: ADYEN_RAW_RESPONSES,
    },
  ],
};

const TITLES: Readonly<Record<GatewayType, string>> = { stripe: 'Stripe', adyen: 'Adyen', cybersource: 'Cybersource', simulator: 'PSP simulator' };

function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

/** The ledger state and OMS event of a fact row, as `[ledger, event status, method]` cells. */
export function factOutcome(row: FactRow): [string, string, string] {
  const adjusted = row.adjustment ? `adjustment \`${row.adjustment}\`, \`adjusted\`` : '';
  if (row.meaning === 'ignore' && row.adjustment) return ['unchanged', 'none', adjusted];
  if (row.meaning === 'ignore') return ['unchanged', 'none', '—'];
  if (row.meaning === 'retry') return ['unchanged (retried: server error)', 'none', '—'];
  const state = ledgerStateOf(row.meaning);
  const method = row.commands.length === 0 ? "the operation's command" : row.commands.map((c) => `\`${notificationFor(c)}\``).join(', ');
  // A late failure: the outcome of the operation while it is open, an adjustment once it SUCCEEDED.
  if (row.adjustment) return [state, eventStatusOf(state) ?? 'none', `${method} while it is open; once SUCCEEDED: ${adjusted}`];
  return [state, eventStatusOf(state) ?? 'none', method];
}

/** Markdown of a decline table: code → category → customer message → suggested action. */
export function renderDeclineTable(table: DeclineTable): string {
  const lines = ['| code | category | customer message | suggested action |', '| --- | --- | --- | --- |'];
  for (const code of Object.keys(table.rules)) {
    const d = describeDecline(table, code);
    lines.push(`| \`${cell(code)}\` | \`${d.category}\` | ${cell(d.customer_message)} | \`${d.suggested_action}\` |`);
  }
  const fallback = describeDecline(table, '\u0000not-a-code');
  lines.push(`| *any other code* | \`${fallback.category}\` | ${cell(fallback.customer_message)} | \`${fallback.suggested_action}\` |`);
  return lines.join('\n');
}

/** Markdown of a fact table: PSP fact → ledger state → OMS event status and method. */
export function renderFactTable(rows: readonly FactRow[]): string {
  const lines = ['| PSP fact | from | commands | ledger state | OMS event status | notification (`service_bus.methods.notifications`) |', '| --- | --- | --- | --- | --- | --- |'];
  for (const row of rows) {
    const [state, status, method] = factOutcome(row);
    const commands = row.commands.length === 0 ? 'any' : row.commands.join(', ');
    lines.push(`| ${cell(row.fact)} | ${row.source} | ${commands} | ${state} | ${status} | ${method} |`);
  }
  return lines.join('\n');
}

const GENERATED = '<!-- Generated by `npm run docs:gateways` from the code (scripts/gateway-docs/): edit the code, not this file. -->';

/** The page of one gateway: its fact table and its decline table. */
export function renderGatewayPage(type: GatewayType): string {
  const table = declineTableFor(type);
  return [
    GENERATED,
    `# ${TITLES[type]}`,
    '',
    '## PSP facts and the OMS events they become',
    '',
    'Each answer, status inquiry and webhook is read by the status map of `src/gateways/' + type + '/`; the',
    'outcome moves the ledger forward only (a terminal state never changes) and the OMS hears the event of',
    'the state it reaches. `unchanged`: no move, no event (the fact is not the outcome of a command we send).',
    'Facts that contradict a terminal state are not applied to it: late facts about money (chargebacks and',
    'other dispute steps, captures or refunds failing after success) become an adjustment of the operation',
    'and an `adjusted` notification (see [EVENTS.md](../EVENTS.md)).',
    '',
    renderFactTable(GATEWAY_FACTS[type]()),
    '',
    '## Declines',
    '',
    `A FAIL event carries \`payment.decline\` (see [README](README.md)). The code is the PSP's, verbatim; sources:`,
    '',
    ...table.sources.map((s) => `- ${s}`),
    '',
    renderDeclineTable(table),
    '',
    ...(EXTRA_DECLINE_TABLES[type] ?? []).flatMap((extra) => [extra.heading, '', extra.intro, '', ...extra.table.sources.map((src) => `- ${src}`), '', renderDeclineTable(extra.table), '']),
  ].join('\n');
}

/** The index page: the categories, the actions, the event fields and our own refusals. */
export function renderIndexPage(): string {
  const categories = ['| category | customer message | default action | meaning |', '| --- | --- | --- | --- |'];
  for (const c of DECLINE_CATEGORIES) {
    const d = CATEGORY_DEFAULTS[c];
    categories.push(`| \`${c}\` | ${cell(d.message)} | \`${d.action}\` | ${cell(d.meaning)} |`);
  }
  return [
    GENERATED,
    '# Gateways: facts, events and declines',
    '',
    'One page per gateway: [Stripe](stripe.md), [Adyen](adyen.md), [Cybersource](cybersource.md), [PSP simulator](simulator.md).',
    '',
    '## The decline on a FAIL event',
    '',
    'Every FAIL notification carries, next to `reason` (the raw code, unchanged), `params.payment.decline`:',
    '',
    '```json',
    '{ "category": "insufficient_funds", "gateway_code": "insufficient_funds",',
    '  "customer_message": "Your payment was declined because the account has insufficient funds. Please use another payment method.",',
    '  "suggested_action": "use_another_method" }',
    '```',
    '',
    '- `category`: one of the closed set below, mapped from the PSP\'s own code by its table (`src/gateways/<name>/<name>-declines.ts`).',
    '- `gateway_code`: the PSP\'s code verbatim (at most 64 characters; never card data), or ours for a refusal of the bridge.',
    '- `customer_message`: safe to show the customer: no internal detail, no card data, never which fraud check fired.',
    `- \`suggested_action\`: one of ${SUGGESTED_ACTIONS.map((a) => `\`${a}\``).join(', ')}.`,
    '',
    'A code no table knows gets `unknown` (action `contact_support`), a warn log line with the raw code and',
    '`pb_decline_unmapped_total{gateway_type}`: add the row. `pb_declines_total{gateway_type,category}` counts all.',
    '',
    '## Categories',
    '',
    categories.join('\n'),
    '',
    '## Refusals of payment-bridge',
    '',
    'Failures decided by the bridge itself (no route, unsupported command, conflicts), and terminal gateway',
    'errors without a PSP code (by kind):',
    '',
    renderDeclineTable(BRIDGE_DECLINES),
    '',
  ].join('\n');
}

/** Every page, by path under the repository root. */
export function renderGatewayDocs(): Map<string, string> {
  const pages = new Map<string, string>([['docs/gateways/README.md', renderIndexPage()]]);
  for (const type of Object.keys(GATEWAY_FACTS) as GatewayType[]) pages.set(`docs/gateways/${type}.md`, renderGatewayPage(type));
  return pages;
}
