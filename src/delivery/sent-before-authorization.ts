import { Counter } from 'prom-client';
import { counter } from '../metrics/metrics-registry';
import type { Interaction, Ledger, OperationRecord } from '../ledger/ledger';
import type { Logger } from '../logging/logger';
import type { ContextRefusal } from './operation-context';

/**
 * A capture, refund or cancel naming its authorization by our operation id can reach a worker before that authorization is on
 * record (the OMS sends both at once, on two channels): it is then sent by reference as given, our id, which names no
 * PSP object. An attempt of it whose worker died mid-call has no recorded end and "may have reached the PSP", so a
 * refusal after it would be withheld and the command left UNRESOLVED for good (nothing at the PSP to ask about). Each
 * such attempt is marked (`key_unrecorded`); once the authorization is on record FAILED
 * (`ContextRefusal.attemptsNamedNothing`), a refusal after marked attempts only is told: nothing they sent named
 * anything at the PSP.
 */

/**
 * Whether `history` shows attempts, every one sent while the command's key named nothing on record (`key_unrecorded`,
 * written with the attempt). An attempt of an earlier release carries no such mark: it is not read as one. Pure.
 */
export function everyAttemptUnrecorded(history: readonly Interaction[]): boolean {
  const attempts = history.filter((h) => h.event === 'attempt');
  return attempts.length > 0 && attempts.every((h) => h.key_unrecorded === true);
}

/**
 * Whether `refusal` of `op` is told FAIL even after attempts that may have reached the PSP: it names a FAILED
 * authorization by our id (`attemptsNamedNothing`) and every attempt went while that id named nothing on record. One
 * history read, only for such a refusal after an attempt.
 */
export async function refusalAfterUnnamedAttempts(
  op: Pick<OperationRecord, 'id' | 'attempts'>,
  refusal: ContextRefusal,
  ledger: Pick<Ledger, 'interactions'>,
): Promise<boolean> {
  if (refusal.attemptsNamedNothing !== true || op.attempts === 0) return false;
  return everyAttemptUnrecorded(await ledger.interactions(op.id));
}

/**
 * `pb_dependents_sent_unnamed_total{gateway,command}`: captures, refunds and cancels told FAIL after attempts sent before the
 * authorization they name by our id was on record, once it failed.
 */
function dependentsSentUnnamed(): Counter<'gateway' | 'command'> {
  return counter(
    'pb_dependents_sent_unnamed_total',
    'Captures, refunds and cancels refused AUTHORIZATION_FAILED (a cancel: or AUTHORIZATION_RELEASED) after attempts sent before the authorization they name by our operation id was on record (by reference as given: nothing named at the PSP), by gateway and command',
    ['gateway', 'command'],
  );
}

/**
 * Counts and logs (warn, where an operator looks for a refusal) a refusal applied after such attempts, by `by` (the
 * delivery job or the poller), once it is on record.
 */
export function reportRefusalAfterUnnamedAttempts(logger: Logger, op: OperationRecord, gateway: string, reason: string, by: 'delivery' | 'poller'): void {
  dependentsSentUnnamed().inc({ gateway, command: op.command });
  logger.warn(
    'refusal told after attempts: they named its authorization by our operation id before it was on record (sent by reference as given, naming nothing at the PSP), and that authorization failed',
    { operation_id: op.id, command: op.command, gateway, reason, authorization_id: op.payment.gateway_key, attempts: op.attempts, by },
  );
}
