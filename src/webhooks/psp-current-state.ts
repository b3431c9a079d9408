import { resolveOperationContext } from '../delivery/operation-context';
import { voidsOwnTransactionAt } from '../gateways/gateway-registry';
import { inquireStatus } from '../delivery/status-inquiry';
import { GatewayError } from '../errors/gateway-error';
import { GatewayOutcome, inquiryHorizonOf, inquiryLagOf, inquirySupport } from '../gateways/gateway-adapter';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { gatewayOf } from '../ledger/routing-record';
import { GatewayRouter } from '../routing/gateway-router';

/**
 * What the caller does with a webhook that contradicts a terminal state the OMS was told (a failure of a
 * SUCCEEDED operation, a success of a FAILED one), once it has asked the PSP.
 */
export type ContradictionVerdict =
  /** Not such a contradiction: the caller applies the outcome as any other. */
  | { kind: 'not_applicable' }
  /** Handled (reported, or found expected or stale): nothing more to do. */
  | { kind: 'handled' }
  /** Too early to ask the PSP, or to believe its answer: run the job again at `at` (epoch ms). */
  | { kind: 'wait'; at: number };

/** What the PSP says of an operation now, as its status inquiry reads it (`readPspState`). */
export type PspState =
  /**
   * The PSP answered: `outcome` is its current state of the operation (null: it has no trace of it).
   * `lagMs`: how long after a change its inquiry may still read the state before it (a search index), so an
   * answer read sooner than that after the change may not show it yet (0: it reads the object itself).
   */
  | { kind: 'answered'; outcome: GatewayOutcome | null; lagMs: number }
  /**
   * The PSP cannot tell: the command is webhook-only, or its inquiry only replays the request under its key
   * (Adyen: it answers what the request did, never what became of it, and could perform it again), or its
   * search cannot reach the operation's last attempt (older than `inquiryHorizonMs`: Cybersource's 7 days).
   */
  | { kind: 'cannot_ask' }
  /** Not asked, or no answer: the gateway is not configured, the operation cannot be asked about yet, or the PSP did not answer (`unreachable`). */
  | { kind: 'unanswered'; why: string; unreachable?: GatewayError };

/**
 * When the PSP's answer may be believed if it still shows the operation's state from before the change a webhook
 * reports (epoch ms), or null when it may be now. A status inquiry that reads a search index (`lagMs`: Stripe's
 * PaymentIntent search, Cybersource's transaction search) may not show a change yet, so such an answer says nothing
 * until that lag has passed since the webhook arrived (`receivedAt`; the change itself came before it). An answer
 * showing the change the webhook reports needs no wait: only an older state can be a lagging read.
 */
export function believableAt(psp: { lagMs: number }, receivedAt: number, now: number): number | null {
  const at = receivedAt + psp.lagMs;
  return now < at ? at : null;
}

/**
 * Asks the PSP what became of `op`, through its gateway's status inquiry, for a webhook that contradicts the
 * terminal state the OMS was told: a webhook is the PSP's word at the time the event was made, and PSPs do not
 * deliver events in order, so what the PSP holds now decides. Never throws a GatewayError (see `unanswered`).
 */
export async function readPspState(op: OperationRecord, deps: { ledger: Ledger; router: GatewayRouter; now?: () => number }): Promise<PspState> {
  const route = deps.router.route(op);
  if ('refused' in route) return { kind: 'unanswered', why: `gateway ${gatewayOf(op)} cannot be asked (${route.refused})` };
  if (inquirySupport(route.transformer, op.command) === 'webhook-only' || route.transformer.inquiryReplaysRequest === true) return { kind: 'cannot_ask' };
  // A search that cannot reach the transaction answers "no trace" for ever: asking again until the job's tries run
  // out would only delay the signed webhook's word (a success the OMS must not miss) to reconciliation.
  const horizonMs = inquiryHorizonOf(route.transformer, op.command);
  if (horizonMs > 0 && (deps.now ? deps.now() : Date.now()) - (await lastAttemptAt(op, deps.ledger)) >= horizonMs) return { kind: 'cannot_ask' };
  const resolved = await resolveOperationContext(op, deps.ledger, {
    voidsOwnTransaction: voidsOwnTransactionAt(route.gateway),
  });
  if (!('context' in resolved))
    return { kind: 'unanswered', why: `operation ${op.id} cannot be asked about: ${'wait' in resolved ? resolved.wait : resolved.fail}` };
  try {
    const { outcome } = await inquireStatus(route, resolved.context);
    return { kind: 'answered', outcome, lagMs: inquiryLagOf(route.transformer, op.command) };
  } catch (err) {
    if (!(err instanceof GatewayError)) throw err;
    return { kind: 'unanswered', why: `status inquiry failed (${err.kind})`, unreachable: err };
  }
}

/** When `op` was last sent (its latest `attempt` history entry; its creation when none is recorded), epoch ms. */
async function lastAttemptAt(op: OperationRecord, ledger: Pick<Ledger, 'interactions'>): Promise<number> {
  let at = op.createdAt;
  for (const entry of await ledger.interactions(op.id)) if (entry.event === 'attempt' && entry.at > at) at = entry.at;
  return at;
}
