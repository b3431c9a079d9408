import type { RoutingConfig } from '../config/routing-config';
import { RoutingTable } from '../routing/routing-rules';
import { OrchestrationStage, StageInput, StageResult } from './orchestration-stage';

/** Why an operation has no gateway to go to: every candidate was removed (agreements). */
export const NO_ROUTE = 'NO_ROUTE';

/**
 * The route stage: routing rules and the merchant agreement table (`RoutingTable`). Pure, so it decides on
 * the fast path. An operation pinned to its authorization's gateway (a capture, cancel or refund) is not
 * routed: it follows the authorization. Active only when rules or agreements are configured.
 */
export class RouteStage implements OrchestrationStage {
  readonly name = 'route' as const;
  private readonly table: RoutingTable;

  constructor(config: RoutingConfig) {
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
    const reasons = [result.rule !== undefined ? `rule:${result.rule}` : 'default:payment.gateway', ...result.dropped];
    if (result.candidates.length === 0) {
      return {
        verdict: 'refuse',
        reason: NO_ROUTE,
        field: 'payment.gateway_account',
        decision: { stage: 'route', outcome: 'refused', reasons: [NO_ROUTE, ...reasons], rules: result.evaluated, candidates: [] },
      };
    }
    return {
      verdict: 'continue',
      decision: { stage: 'route', outcome: result.rule !== undefined ? 'routed' : 'default', reasons, rules: result.evaluated, candidates: result.candidates },
      plan: { ...plan, candidates: result.candidates, index: 0, ...(result.rule !== undefined ? { rule: result.rule } : {}) },
    };
  }

  decide(input: StageInput): Promise<StageResult> {
    return Promise.resolve(this.decideNow(input));
  }
}

/** Commands that act on an earlier authorization: they are never routed by rules. */
const DEPENDS_ON_AUTHORIZATION: ReadonlySet<string> = new Set(['capture', 'cancel', 'refund', 'validate', 'revalidate']);
