import { ExtraHold, GatewayOutcome } from '../gateways/gateway-adapter';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { isTerminal } from '../ledger/operation-state';
import { gatewayOf } from '../ledger/routing-record';
import { Logger } from '../logging/logger';
import { HeldFundsDecision } from './held-funds-release';

/** Voids one extra authorization of an authorize (orphan reversal's `requestExtraHold`, reason `extra_authorization`). */
export type ReleaseExtraHold = (op: OperationRecord, hold: ExtraHold) => Promise<HeldFundsDecision>;

/**
 * The extra authorizations an authorize's SUCCESS names (`GatewayOutcome.extraHolds`: a double authorization its status
 * inquiry found), handed to `release` one by one, before the success is recorded: the success makes the operation
 * terminal (never asked about again), so a crash between the two would lose them; requested first, a crash leaves the
 * operation unsettled, the inquiry that settles it finds them again and requests them again (deterministic void ids:
 * never two). Only while the operation is not settled yet (read again here: a move meanwhile, a webhook's, records
 * another outcome, and a hold it names is never voided), and never the authorization the operation holds or this outcome
 * names. Without `release` the holds are left, said by a warn line.
 * @returns the PSP ids of the holds handed over.
 * @throws on a Redis error: the caller records nothing, and its outcome is found again.
 */
export async function releaseExtraHolds(
  deps: { ledger: Pick<Ledger, 'get'>; logger: Logger; release?: ReleaseExtraHold },
  op: OperationRecord,
  outcome: GatewayOutcome,
  source: string,
): Promise<string[]> {
  const holds = outcome.extraHolds ?? [];
  if (op.command !== 'authorize' || outcome.status !== 'SUCCESS' || holds.length === 0) return [];
  const current = await deps.ledger.get(op.id);
  if (!current || isTerminal(current.state)) return [];
  const extra = holdsBeside(holds, [outcome.gatewayReference, current.gatewayReference, current.newGatewayKey]);
  if (!deps.release) {
    deps.logger.warn('extra authorizations of the operation hold funds and nothing here releases them: reverse them at the PSP', {
      operation_id: op.id,
      gateway: gatewayOf(op),
      source,
      psp_references: extra.map((h) => h.pspReference),
    });
    return [];
  }
  for (const hold of extra) await deps.release(current, hold);
  return extra.map((h) => h.pspReference);
}

/**
 * The holds of `holds` that are none of `kept` (the authorization the operation holds, the one an outcome names), each
 * PSP id once (a search may list one hold under two of its entries): what may be voided as extra. Pure.
 */
export function holdsBeside(holds: readonly ExtraHold[], kept: readonly (string | undefined)[]): ExtraHold[] {
  const seen = new Set(kept.filter((r): r is string => r !== undefined));
  const beside: ExtraHold[] = [];
  for (const hold of holds) {
    if (seen.has(hold.pspReference)) continue;
    seen.add(hold.pspReference);
    beside.push(hold);
  }
  return beside;
}
