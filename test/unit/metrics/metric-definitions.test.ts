/**
 * What every metric src/ defines may say (read from the source: test/support/metric-definitions.ts): no card
 * number or secret in a help text, and no label named after an unbounded subject (an id, an order, a message, a
 * URL): such a label is a new series per payment, and a Prometheus that falls over with it.
 */
import { readdirSync, readFileSync } from 'fs';
import { join, relative } from 'path';
import { containsCardNumber, isCardFieldName } from '../../../src/logging/redact';
import { metricDefinitions } from '../../support/metric-definitions';

/** Label names that say "one value per payment, request or error". */
const UNBOUNDED_LABEL = /(^|_)(id|ids|order|operation|reference|token|message|error|url|uri|path|account|key|amount|text|detail|email)($|_)/;

/**
 * Labels whose name reads as unbounded and whose values are a fixed set; each says which. A new one goes here
 * only with the place that bounds its values.
 */
const BOUNDED_DESPITE_NAME: Record<string, string> = {
  'pb_console_dead_letter_pages_total{order}': 'the list order: time or impact (console-route.ts refuses any other)',
  'pb_export_issued_tokens_kept_total{path}': 'export, archive or import',
  'pb_export_network_ids_kept_total{path}': 'export, archive or import',
  'pb_rate_limit_take_errors_total{path}': 'held, lease, intake or single',
  'pb_webhook_outside_refund_payment_amounts_total{amount}': 'how the amount was read: stated, left, unknown or unbounded',
  'pb_signatures_verified_total{key}': 'which secret verified: current or previous, never the secret',
};

/**
 * Label names that carry a PSP's own word (its status, event type or code): a value the PSP, or whoever can sign a
 * webhook, chooses, so a new series per value unless something bounds it.
 */
const PSP_VALUE_LABEL = /^(gateway_status|psp_status|psp_code|event_type|event_code|result_code)$/;

/** Each metric label carrying a PSP's word, with the function every count of it maps the value through. */
const BOUNDED_PSP_VALUE: Record<string, string> = {
  'pb_webhook_outcomes_not_for_command_total{gateway_status}': 'gatewayStatusLabel',
  'pb_webhook_stale_actions_total{gateway_status}': 'gatewayStatusLabel',
};

/** The lines of src/ that count, set or observe a metric with a `gateway_status` label value. */
function gatewayStatusLabelUses(dir = join(__dirname, '../../../src')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return gatewayStatusLabelUses(path);
    if (!e.name.endsWith('.ts')) return [];
    return readFileSync(path, 'utf8')
      .split('\n')
      .map((line, i) => ({ line, at: `${relative(process.cwd(), path)}:${i + 1}` }))
      .filter(({ line }) => /\.(inc|set|observe)\(\{[^}]*gateway_status:/.test(line))
      .map(({ line, at }) => `${at} ${line.trim()}`);
  });
}

describe('metric definitions (src/)', () => {
  const defined = [...metricDefinitions().values()];

  it('are found (sanity: the scan works)', () => {
    expect(defined.length).toBeGreaterThan(200);
    expect(defined.filter((d) => d.help !== null).length).toBeGreaterThan(200);
  });

  it('hold no card number in a help text', () => {
    expect(defined.filter((d) => d.help !== null && containsCardNumber(d.help)).map((d) => d.at)).toEqual([]);
  });

  it('name no label as a card or secret field', () => {
    expect(defined.flatMap((d) => d.labels.filter((l) => isCardFieldName(l)).map((l) => `${d.name}{${l}} ${d.at}`))).toEqual([]);
  });

  it('name no label after an unbounded subject, but for the listed ones bounded by their values', () => {
    const named = defined.flatMap((d) => d.labels.filter((l) => UNBOUNDED_LABEL.test(l)).map((l) => `${d.name}{${l}}`));
    expect(named.filter((n) => !(n in BOUNDED_DESPITE_NAME))).toEqual([]);
    // A listed label that is gone leaves the list.
    expect(Object.keys(BOUNDED_DESPITE_NAME).filter((n) => !named.includes(n))).toEqual([]);
  });

  it("bound every label carrying a PSP's own word through its listed function", () => {
    const named = defined.flatMap((d) => d.labels.filter((l) => PSP_VALUE_LABEL.test(l)).map((l) => `${d.name}{${l}}`));
    expect(named.filter((n) => !(n in BOUNDED_PSP_VALUE))).toEqual([]);
    expect(Object.keys(BOUNDED_PSP_VALUE).filter((n) => !named.includes(n))).toEqual([]);
    const uses = gatewayStatusLabelUses();
    expect(uses.length).toBeGreaterThanOrEqual(2);
    expect(uses.filter((u) => !u.includes('gateway_status: gatewayStatusLabel('))).toEqual([]);
  });

  it('the name check catches an id label (sanity)', () => {
    expect(['operation_id', 'order', 'gateway_reference', 'error_message', 'url'].every((l) => UNBOUNDED_LABEL.test(l))).toBe(true);
    expect(['gateway', 'reason', 'outcome', 'command', 'channel'].some((l) => UNBOUNDED_LABEL.test(l))).toBe(false);
  });
});
