import type { RoutingConfig } from '../config/routing-config';
import { MethodBinding } from '../routing/method-binding';
import { RoutingTable } from '../routing/routing-rules';
import { OrchestrationStage, StageInput, StageResult } from './orchestration-stage';

/** Why an operation has no gateway to go to: every candidate was removed (agreements). */
export const NO_ROUTE = 'NO_ROUTE';

/**
 * Why an operation has no gateway to go to when the candidates the agreements left cannot use its method
 * data: it is bound to the PSP account of `payment.gateway` (src/routing/method-binding.ts). The refusal
 * names the field (`payment.gateway_key`, `payment.payment_method.token`, `payment.custom_attributes.stripe_customer`).
 */
export const METHOD_BOUND_TO_GATEWAY = 'METHOD_BOUND_TO_GATEWAY';

/**
 * The route stage: routing rules and the merchant agreement table (`RoutingTable`), then the method data
 * binding: a candidate that cannot use the command's method data (a token of another PSP account) is dropped
 * (`method_bound:<gateway>`). Pure, so it decides on the fast path. An operation pinned to its
 * authorization's gateway (a capture, cancel or refund) is not routed: it follows the authorization. Active
 * only when rules or agreements are configured (otherwise the command goes to `payment.gateway`, whose data it is).
 */
export class RouteStage implements OrchestrationStage {
  readonly name = 'route' as const;
  private readonly table: RoutingTable;

  constructor(
    config: RoutingConfig,
    private readonly binding: MethodBinding,
  ) {
    this.table = new RoutingTable(config);
  }

  active(): boolean {
    return this.table.active;
  }

  decideNow({ op, plan, now }: StageInput): StageResult {
    if (plan.candidates[0] !== op.payment.gateway || DEPENDS_ON_AUTHORIZATION.has(op.command)) {
      // Captures, cancels, refunds, validates and revalidates go where their authorization is.
      return {
        verdict: 'continue',
        decision: { stage: 'route', outcome: 'default', reasons: ['follows_authorization'], candidates: plan.candidates },
        plan,
      };
    }
    const result = this.table.decide({ command: op.command, channel: op.channel, payment: op.payment }, now);
    const bound = this.binding.filter(op.payment, result.candidates);
    const reasons = [result.rule !== undefined ? `rule:${result.rule}` : 'default:payment.gateway', ...result.dropped, ...bound.dropped];
    if (bound.usable.length === 0) {
      // Agreements left some, the method data none: the field to fix (or the rules), not the merchant's agreements.
      const [reason, field] = bound.field !== undefined ? [METHOD_BOUND_TO_GATEWAY, bound.field] : [NO_ROUTE, 'payment.gateway_account'];
      return {
        verdict: 'refuse',
        reason,
        field,
        decision: { stage: 'route', outcome: 'refused', reasons: [reason, ...reasons], rules: result.evaluated, candidates: [] },
      };
    }
    return {
      verdict: 'continue',
      decision: { stage: 'route', outcome: result.rule !== undefined ? 'routed' : 'default', reasons, rules: result.evaluated, candidates: bound.usable },
      plan: { ...plan, candidates: bound.usable, index: 0, ...(result.rule !== undefined ? { rule: result.rule } : {}) },
    };
  }

  decide(input: StageInput): Promise<StageResult> {
    return Promise.resolve(this.decideNow(input));
  }
}

/** Commands that act on an earlier authorization: they are never routed by rules. */
const DEPENDS_ON_AUTHORIZATION: ReadonlySet<string> = new Set(['capture', 'cancel', 'refund', 'validate', 'revalidate']);
