import { GatewayError } from '../../../src/errors/gateway-error';
import { GatewayRequest, GatewayResponse, OperationContext } from '../../../src/gateways/gateway-adapter';
import { GatewayRoute } from '../../../src/gateways/gateway-route';
import { stripeTransformer } from '../../../src/gateways/stripe';
import { STATUS_INQUIRY_MAX_PAGES, STATUS_PAGES_CAPPED, inquireStatus } from '../../../src/delivery/status-inquiry';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';
import { rejectionOf } from '../../support/thrown';
import { PI_ID, REFUND_ID, jsonResponse, refund, stripeContext, stripeGateway } from '../gateways/stripe/stripe-fixtures';

/**
 * A refund's status inquiry reads the PaymentIntent's refunds, which Stripe lists 100 a page, newest first, with
 * `has_more` and `starting_after` ("List all refunds"). A PaymentIntent with more refunds than one page may hold
 * ours on a later page: a miss on the first page is no proof that it never landed (that would send it again).
 */

const ctx: OperationContext = stripeContext('refund', { amount: 500 });

/** A page of `count` refunds of other operations, ids `re_<prefix>_<n>`, then `extra`. */
function page(prefix: string, count: number, hasMore: boolean, extra: unknown[] = []): GatewayResponse {
  const others = Array.from({ length: count }, (_, n) => refund(ctx, { id: `re_${prefix}_${n}`, metadata: { operation_id: `op-other-${prefix}-${n}` } }));
  return jsonResponse(200, { object: 'list', url: '/v1/refunds', has_more: hasMore, data: [...others, ...extra] });
}

/** A Stripe route whose client answers each request with the next of `answers` and keeps what it was asked. */
function routeAnswering(answers: GatewayResponse[]): { route: GatewayRoute; asked: GatewayRequest[] } {
  const asked: GatewayRequest[] = [];
  const client = {
    send: async (request: GatewayRequest): Promise<GatewayResponse> => {
      asked.push(request);
      const next = answers.shift();
      if (next === undefined) throw new Error(`no answer left for ${request.path}`);
      return next;
    },
  };
  return { route: { gateway: stripeGateway, transformer: stripeTransformer, client }, asked };
}

describe('status inquiry: a paged list read on while it does not show the operation', () => {
  it('finds a refund on the second page of the PaymentIntent refunds, asked for after the last of the first', async () => {
    const { route, asked } = routeAnswering([page('a', 100, true), page('b', 3, false, [refund(ctx)])]);
    const { outcome } = await inquireStatus(route, ctx);
    expect(outcome).toMatchObject({ status: 'SUCCESS', gatewayReference: REFUND_ID });
    expect(asked.map((r) => r.path)).toEqual([
      `/v1/refunds?payment_intent=${PI_ID}&limit=100`,
      `/v1/refunds?payment_intent=${PI_ID}&limit=100&starting_after=re_a_99`,
    ]);
  });

  it('answers no trace only once the list ends (has_more false), and reads no page after a match', async () => {
    const missing = routeAnswering([page('a', 100, true), page('b', 100, true), page('c', 7, false)]);
    expect((await inquireStatus(missing.route, ctx)).outcome).toBeNull();
    expect(missing.asked).toHaveLength(3);
    const first = routeAnswering([page('a', 10, true, [refund(ctx)])]);
    expect((await inquireStatus(first.route, ctx)).outcome).toMatchObject({ status: 'SUCCESS' });
    expect(first.asked).toHaveLength(1);
  });

  it('never reads a page without has_more as the end of the list', async () => {
    const { route } = routeAnswering([jsonResponse(200, { object: 'list', data: [refund(ctx, { id: 're_x', metadata: {} })] })]);
    expect(await rejectionOf(inquireStatus(route, ctx), GatewayError)).toMatchObject({ kind: 'outcome_unknown' });
    const noLast = routeAnswering([jsonResponse(200, { object: 'list', has_more: true, data: [] })]);
    expect(await rejectionOf(inquireStatus(noLast.route, ctx), GatewayError)).toMatchObject({ kind: 'outcome_unknown' });
  });

  it(`stops at ${STATUS_INQUIRY_MAX_PAGES} pages with the outcome unknown (never no trace), counted and logged`, async () => {
    const pages = Array.from({ length: STATUS_INQUIRY_MAX_PAGES + 5 }, (_, n) => page(`p${String.fromCharCode(97 + n)}`, 100, true));
    const { route, asked } = routeAnswering(pages);
    const { logger, lines } = captureLogger();
    const before = await metricValue('pb_status_inquiry_pages_capped_total', { gateway: stripeGateway.name, command: 'refund' });
    const err = await rejectionOf(inquireStatus(route, ctx, logger), GatewayError);
    expect(err).toMatchObject({ kind: 'outcome_unknown', details: expect.objectContaining({ gatewayCode: STATUS_PAGES_CAPPED }) });
    // Every page was answered: the error says so, and the breaker reads that, not the code.
    expect(err.details.pspAnswered).toBe(true);
    expect(asked).toHaveLength(STATUS_INQUIRY_MAX_PAGES);
    expect(await metricValue('pb_status_inquiry_pages_capped_total', { gateway: stripeGateway.name, command: 'refund' })).toBe(before + 1);
    const line = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.message).includes('page cap'));
    expect(line).toMatchObject({ level: 'warn', operation_id: ctx.operationId, command: 'refund', pages: STATUS_INQUIRY_MAX_PAGES });
  });

  it('reads one answer for a command Stripe does not page (a PaymentIntent by id)', async () => {
    const capture = stripeContext('capture');
    const { route, asked } = routeAnswering([jsonResponse(200, { id: PI_ID, object: 'payment_intent', status: 'requires_capture', has_more: true })]);
    expect((await inquireStatus(route, capture)).outcome).toBeNull();
    expect(asked).toHaveLength(1);
  });
});
