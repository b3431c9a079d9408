import { ActionResult } from '../contracts/three-ds';
import { GatewayError } from '../errors/gateway-error';
import { Ledger } from '../ledger/ledger';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { GatewayRouter } from '../routing/gateway-router';
import { OutcomeRecorder } from './outcome-recorder';
import { resolveOperationContext } from './operation-context';
import { inquireStatus } from './status-inquiry';

/**
 * What a completion did:
 * - `applied`: the PSP answered; its outcome is recorded (SUCCEEDED, FAILED, or still ACTION_REQUIRED);
 * - `inquired`: a completion was sent before (a redelivery, or the OMS sent it twice): the PSP was asked
 *   instead of sent the request again, and what it knows is applied;
 * - `not_waiting`: the operation is not in ACTION_REQUIRED (decided already, or never waited): a duplicate;
 * - `unsupported`: its gateway completes actions by webhook only: the command is refused naming the field;
 * - `error`: the PSP could not be reached or answered unreadably: the operation keeps waiting, and the
 *   action expiry asks the PSP before it expires it.
 */
export type ActionCompletionResult = 'applied' | 'inquired' | 'not_waiting' | 'unsupported' | 'error';

const completions = counter(
  'pb_customer_action_completions_total',
  'Customer actions completed by the OMS (payment.action_result), by gateway and result (applied, inquired, not_waiting, unsupported, error)',
  ['gateway', 'result'],
);

/**
 * The completion of a customer action the PSP does not settle by webhook (Cybersource Payer
 * Authentication): the OMS sends the same authorize/sale again with `payment.action_result`, and the
 * gateway's `buildActionCompletionRequest` (validate and authorize) goes out once per operation. The claim
 * (`Ledger.claimActionCompletion`) is durable before the request leaves, so a crash between the two never
 * sends it twice: a second arrival asks the PSP (status inquiry) instead. The answer is applied as any
 * outcome (`OutcomeRecorder.apply`): the event reports what the PSP confirmed.
 */
export class ActionCompletion {
  constructor(
    private readonly deps: {
      ledger: Ledger;
      router: GatewayRouter;
      recorder: OutcomeRecorder;
      logger: Logger;
    },
  ) {}

  async complete(operationId: string, result: ActionResult): Promise<ActionCompletionResult> {
    const { ledger, router, recorder, logger } = this.deps;
    const op = await ledger.get(operationId);
    if (!op || op.state !== 'ACTION_REQUIRED') return this.count(op?.payment.gateway ?? 'unknown', 'not_waiting');
    const route = router.route(op);
    if ('refused' in route || !route.transformer.buildActionCompletionRequest) return this.count(op.payment.gateway, 'unsupported');
    const gateway = route.gateway.name;
    const resolved = await resolveOperationContext(op, ledger);
    if (!('context' in resolved)) return this.count(gateway, 'unsupported');
    const ctx = resolved.context;
    // Built before the claim: a command the gateway cannot complete is refused (CommandValidationError) with nothing claimed.
    const request = route.transformer.buildActionCompletionRequest(ctx, result, route.gateway);
    try {
      if (!(await ledger.claimActionCompletion(op.id))) {
        const { outcome, elapsedMs } = await inquireStatus(route, ctx, logger);
        if (outcome) await recorder.apply(op, outcome, 'inquiry', { elapsed_ms: elapsedMs, cause: 'action_completion_repeated' });
        return this.count(gateway, 'inquired');
      }
      await ledger.appendInteraction(op.id, { event: 'action_completion_sent', gateway });
      const response = await route.client.send(request);
      const outcome = route.transformer.parseResponse(ctx, response, route.gateway);
      const after = await recorder.apply(op, outcome, 'response', { elapsed_ms: response.elapsedMs, cause: 'action_completion' });
      logger.info('customer action completed', {
        operation_id: op.id,
        gateway,
        command: op.command,
        state: after.state,
        gateway_status: outcome.gatewayStatus,
        ...(outcome.reason ? { reason: outcome.reason } : {}),
      });
      return this.count(gateway, 'applied');
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      await ledger.appendInteraction(op.id, { event: 'action_completion_error', kind: err.kind, http_status: err.details.httpStatus });
      logger.warn('customer action completion failed at the gateway; the operation keeps waiting (the action expiry asks the PSP)', {
        operation_id: op.id,
        gateway,
        kind: err.kind,
        http_status: err.details.httpStatus,
      });
      return this.count(gateway, 'error');
    }
  }

  private count(gateway: string, result: ActionCompletionResult): ActionCompletionResult {
    completions.inc({ gateway, result });
    return result;
  }
}
