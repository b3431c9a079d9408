import { Ledger } from '../../src/ledger/ledger';
import { isTerminal } from '../../src/ledger/operation-state';
import { LocalStack } from '../twins/local-stack/local-stack';
import { FlowCheck, checkFlow } from '../workload/flow-checks';
import { ObservedNotification, StepRecord } from '../workload/workload-driver';
import { waitForQueuesToSettle } from './queue-inspector';
import { createRedis } from '../../src/redis/redis-connection';

/** Recovery KPI: from a dependency coming back to the first successful delivery after it. Target ≤ 1 s. */
export const RECOVERY_KPI_MS = 3000;
export const RECOVERY_TARGET_MS = 1000;

/** Terminal notification fields the checks need. */
function terminalOf(n: ObservedNotification): { opId: string; eventId: string; status: string } | null {
  const payment = n.params.payment as Record<string, unknown> | undefined;
  const eventId = typeof payment?.event_id === 'string' ? payment.event_id : '';
  if (!eventId.endsWith('.SUCCEEDED') && !eventId.endsWith('.FAILED')) return null;
  return { opId: String(payment?.operation_reference), eventId, status: String(payment?.status) };
}

/**
 * Milliseconds from `since` (epoch ms, the dependency back) to the first SUCCESS notification the bus
 * received after it; null if none arrived.
 */
export function firstSuccessAfter(notifications: readonly ObservedNotification[], since: number): number | null {
  let best: number | null = null;
  for (const n of notifications) {
    if (n.receivedAt <= since) continue;
    const t = terminalOf(n);
    if (t?.status === 'SUCCESS' && (best === null || n.receivedAt - since < best)) best = n.receivedAt - since;
  }
  return best;
}

/** Share of commands that ended as planned (SUCCESS or planned FAIL), in percent, two decimals. */
export function successRate(records: readonly StepRecord[]): number {
  if (records.length === 0) return 0;
  const asPlanned = records.filter((r) => r.status === r.expect).length;
  return Math.round((10000 * asPlanned) / records.length) / 100;
}

/**
 * The drills' invariants, on top of `checkFlow`: every accepted command is terminal in the ledger with
 * the outcome the bus heard, every accepted command's terminal notification reached the bus and repeats
 * carry the same event_id, the commands queue drained and the dead-letter queue holds exactly
 * `expectDeadLetters` (default 0: valid traffic is never dead-lettered), and the recovery time is under
 * the KPI when one was measured.
 */
export async function checkDrillInvariants(input: {
  stack: LocalStack;
  records: readonly StepRecord[];
  expectDeadLetters?: number;
  /** Recovery times measured during the drill (ms; null = no success after the dependency came back). */
  recoveries?: readonly (number | null)[];
}): Promise<FlowCheck[]> {
  const { stack, records } = input;
  const notifications = stack.busTwin.notifications;
  const counters = await stack.simulator.counters();
  const checks = checkFlow({ records, notifications, maxEffectsPerKey: counters.maxEffectsPerKey });

  const accepted = records.filter((r) => r.acceptedAt !== undefined);
  const events = new Map<string, { eventIds: Set<string>; status: string }>();
  for (const n of notifications) {
    const t = terminalOf(n);
    if (!t) continue;
    const seen = events.get(t.opId) ?? { eventIds: new Set<string>(), status: t.status };
    seen.eventIds.add(t.eventId);
    events.set(t.opId, seen);
  }
  const missing = accepted.filter((r) => !events.has(r.operationId));
  const twoEvents = accepted.filter((r) => (events.get(r.operationId)?.eventIds.size ?? 0) > 1);
  checks.push({
    name: 'one terminal event per accepted command at the bus',
    ok: missing.length === 0 && twoEvents.length === 0,
    detail:
      missing.length + twoEvents.length === 0
        ? `${accepted.length} commands, repeats share their event_id`
        : `${missing.length} without, ${twoEvents.length} with two event ids, e.g. ${(missing[0] ?? twoEvents[0]).operationId}`,
  });

  const redis = createRedis(stack.config.redis, 'commands');
  try {
    const ledger = new Ledger(redis, stack.config.redis.keyPrefix);
    const notTerminal: string[] = [];
    const disagree: string[] = [];
    for (let i = 0; i < accepted.length; i += 200) {
      const batch = accepted.slice(i, i + 200);
      const found = await Promise.all(batch.map((r) => ledger.get(r.operationId)));
      found.forEach((op, k) => {
        const id = batch[k].operationId;
        if (!op || !isTerminal(op.state)) notTerminal.push(`${id} ${op?.state ?? 'missing'}`);
        else if ((op.state === 'SUCCEEDED' ? 'SUCCESS' : 'FAIL') !== events.get(id)?.status) disagree.push(id);
      });
    }
    checks.push({
      name: 'every accepted command terminal in the ledger',
      ok: notTerminal.length === 0 && disagree.length === 0,
      detail:
        notTerminal.length + disagree.length === 0
          ? `${accepted.length} SUCCEEDED/FAILED, as notified`
          : `${notTerminal.length} not terminal (e.g. ${notTerminal[0] ?? '-'}), ${disagree.length} differ from the notification`,
    });
  } finally {
    redis.disconnect();
  }

  const expectDead = input.expectDeadLetters ?? 0;
  const depths = await waitForQueuesToSettle(stack.config, { expectDeadLetters: expectDead, timeoutMs: 10_000 });
  checks.push({ name: 'commands queue drained', ok: depths.commands === 0, detail: `${depths.commands} left` });
  checks.push({
    name: 'dead letters: invalid input only',
    ok: depths.deadLetter === expectDead,
    detail: `${depths.deadLetter} in the dead-letter queue (expected ${expectDead})`,
  });

  if (input.recoveries && input.recoveries.length > 0) {
    const worst = input.recoveries.some((r) => r === null) ? null : Math.max(...(input.recoveries as number[]));
    checks.push({
      name: `recovery to first success < ${RECOVERY_KPI_MS} ms`,
      ok: worst !== null && worst < RECOVERY_KPI_MS,
      detail:
        worst === null
          ? 'no success after the dependency came back'
          : `worst ${worst.toFixed(1)} ms of ${input.recoveries.length} (target ≤ ${RECOVERY_TARGET_MS} ms)`,
    });
  }
  return checks;
}
