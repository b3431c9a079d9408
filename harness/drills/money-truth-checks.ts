import { AuthorizationRecord, ResultBody, SimulatorSnapshot } from '../twins/psp-simulator/simulator-state';
import { FlowCheck } from '../workload/flow-checks';
import { ObservedNotification, StepRecord } from '../workload/workload-driver';
import { PlannedPayment, operationIdOf } from './money-truth-plan';

/** What the OMS was told last about an operation: its terminal (SUCCEEDED or FAILED) event's fields. */
export interface ToldOutcome {
  status: 'SUCCESS' | 'FAIL';
  eventIds: Set<string>;
  amount: number | undefined;
  currency: string | undefined;
  reason: string | null;
}

/** Everything the money-truth checks read: the plan, what was sent, what the bus heard and the PSP's books. */
export interface MoneyTruthInput {
  payments: readonly PlannedPayment[];
  /** One per planned command sent (`scenario`: the payment's index, `step`: the command's). */
  records: readonly StepRecord[];
  notifications: readonly ObservedNotification[];
  snapshot: SimulatorSnapshot;
}

/** The money-truth invariants, each held or broken (with examples), and figures for the report. */
export interface MoneyTruthResult {
  checks: FlowCheck[];
  figures: string[];
}

/** Invariant names, in report order. */
export const MONEY_INVARIANTS = {
  authorization: 'authorization reported SUCCESS iff the PSP approved it, with the PSP amount',
  captures: 'captures: SUCCEEDED events = what the PSP captured (sum and each)',
  refunds: 'refunds: SUCCEEDED events = what the PSP refunded (sum and each)',
  cancels: 'cancel reported SUCCESS iff the PSP voided/released it',
  pspBounds: 'PSP: captured <= authorized, refunded <= captured',
  eventBounds: 'events: captured <= authorized, refunded <= captured',
  reasons: 'every FAILED event carries a reason',
  noFalseSuccess: 'no event claims a success the PSP does not hold',
  noSilentMoney: 'every PSP money movement is one the OMS was told succeeded',
} as const;

/** The terminal events at the bus, by operation id (several deliveries of one event are one). */
export function toldOutcomes(notifications: readonly ObservedNotification[]): Map<string, ToldOutcome> {
  const told = new Map<string, ToldOutcome>();
  for (const n of notifications) {
    const p = n.params.payment as Record<string, unknown> | undefined;
    const eventId = typeof p?.event_id === 'string' ? p.event_id : '';
    if (!p || !(eventId.endsWith('.SUCCEEDED') || eventId.endsWith('.FAILED'))) continue;
    const opId = String(p.operation_reference);
    const seen = told.get(opId);
    if (seen) {
      seen.eventIds.add(eventId);
      continue;
    }
    told.set(opId, {
      status: p.status === 'SUCCESS' ? 'SUCCESS' : 'FAIL',
      eventIds: new Set([eventId]),
      amount: typeof p.amount === 'number' ? p.amount : undefined,
      currency: typeof p.currency === 'string' ? p.currency : undefined,
      reason: typeof p.reason === 'string' && p.reason.length > 0 ? p.reason : null,
    });
  }
  return told;
}

/** A result body's object type and amount, when it is a money object (authorization, capture, refund, cancellation). */
function moneyObject(body: ResultBody | undefined): { object: string; amount: number } | undefined {
  if (!body || 'error' in body || !('object' in body)) return undefined;
  const object = body.object;
  if (object !== 'capture' && object !== 'refund' && object !== 'cancellation' && object !== 'authorization') return undefined;
  return { object, amount: (body as { amount: number }).amount };
}

/** Collects the breaks of one invariant; `check()` says held (how many payments) or broken (how many, the first examples). */
class Tally {
  private readonly broken: string[] = [];
  private readonly payments = new Set<number>();
  private seen = 0;

  constructor(private readonly name: string) {}

  /** One payment checked under this invariant. */
  count(): void {
    this.seen += 1;
  }

  fail(payment: number, example: string): void {
    this.payments.add(payment);
    this.broken.push(example);
  }

  check(): FlowCheck {
    const ok = this.broken.length === 0;
    return {
      name: this.name,
      ok,
      detail: ok
        ? `held for ${this.seen} payment(s)`
        : `broken in ${this.payments.size} payment(s), ${this.broken.length} case(s), e.g. ${this.broken.slice(0, 3).join(' | ')}`,
    };
  }
}

const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

/**
 * Checks what the OMS was told against what the PSP holds, payment by payment (see `MONEY_INVARIANTS`): the
 * authorization, each capture, refund and cancel and their sums, the bounds at the PSP and in the events, reasons
 * on failures, and that no money moved at the PSP under an operation the OMS was told failed (or of no operation of
 * ours). Operations not reported are left to the "every accepted command reported" check. Pure.
 */
export function checkMoneyTruth(input: MoneyTruthInput): MoneyTruthResult {
  const told = toldOutcomes(input.notifications);
  const authsByReference = new Map<string, AuthorizationRecord[]>();
  for (const a of input.snapshot.authorizations) authsByReference.set(a.reference, [...(authsByReference.get(a.reference) ?? []), a]);
  const accepted = new Set(input.records.filter((r) => r.acceptedAt !== undefined).map((r) => r.operationId));
  const ours = new Set<string>();
  const t = Object.fromEntries(Object.entries(MONEY_INVARIANTS).map(([k, name]) => [k, new Tally(name)])) as Record<keyof typeof MONEY_INVARIANTS, Tally>;
  const money = (amount: number | undefined, currency: string | undefined) => `${amount ?? '?'} ${currency ?? ''}`.trim();

  for (const p of input.payments) {
    const leadId = operationIdOf(p, 0);
    const ids = p.commands.map((_, i) => operationIdOf(p, i));
    for (const id of ids) ours.add(id);
    const lead = p.commands[0];
    const leadTold = told.get(leadId);
    const auths = authsByReference.get(leadId) ?? [];
    const psp = auths[0];
    const label = (i: number) => `${p.orderId} #${i + 1} ${p.commands[i].command}`;

    // The authorization (or sale) itself.
    t.authorization.count();
    if (auths.length > 1) t.authorization.fail(p.index, `${label(0)}: ${auths.length} authorizations at the PSP under one reference`);
    if (leadTold?.status === 'SUCCESS') {
      if (!psp?.approved) t.authorization.fail(p.index, `${label(0)}: told SUCCESS, PSP ${psp ? psp.status : 'has nothing'}`);
      else if (leadTold.amount !== psp.amount || leadTold.currency !== psp.currency)
        t.authorization.fail(p.index, `${label(0)}: told ${money(leadTold.amount, leadTold.currency)}, PSP holds ${money(psp.amount, psp.currency)}`);
    } else if (leadTold?.status === 'FAIL' && psp?.approved) {
      t.authorization.fail(
        p.index,
        `${label(0)}: told FAIL (${leadTold.reason ?? 'no reason'}), PSP approved ${money(psp.amount, psp.currency)} (${psp.status})`,
      );
    }

    // Each follow-up against the PSP's own result of that operation.
    const succeeded = (command: string) =>
      ids.filter((id, i) => i > 0 && p.commands[i].command === command && told.get(id)?.status === 'SUCCESS').map((id) => told.get(id)?.amount ?? 0);
    for (const [i, id] of ids.entries()) {
      const command = p.commands[i].command;
      const result = moneyObject(input.snapshot.operations.get(id));
      const atPsp = i === 0 ? psp?.approved === true : result !== undefined && result.object === (command === 'cancel' ? 'cancellation' : command);
      const o = told.get(id);
      const tally = i === 0 ? t.authorization : command === 'capture' ? t.captures : command === 'refund' ? t.refunds : t.cancels;
      if (o?.status === 'SUCCESS' && !atPsp) {
        const holds = result ? result.object : 'nothing';
        t.noFalseSuccess.fail(p.index, `${label(i)}: told SUCCESS ${money(o.amount, o.currency)}, the PSP holds ${holds} under it`);
        if (i > 0) tally.fail(p.index, `${label(i)}: told SUCCESS, PSP has ${holds}`);
      }
      if (atPsp && o?.status !== 'SUCCESS' && (o !== undefined || !accepted.has(id))) {
        const what = result ? `${result.object} ${result.amount}` : `authorization ${psp?.amount ?? '?'}`;
        t.noSilentMoney.fail(p.index, `${label(i)}: PSP made ${what}, OMS told ${o ? `FAIL (${o.reason ?? 'no reason'})` : 'nothing (never accepted)'}`);
        if (i > 0) tally.fail(p.index, `${label(i)}: PSP made ${what}, told ${o?.status ?? 'nothing'}`);
      }
      // A cancel's amount is what the PSP released (its cancellation's amount).
      if (i > 0 && o?.status === 'SUCCESS' && atPsp && result && o.amount !== result.amount)
        tally.fail(p.index, `${label(i)}: told ${money(o.amount, o.currency)}, PSP ${result.amount}`);
    }

    // Sums: what the events say was captured and refunded, against the authorization's figures at the PSP.
    const saleTold = lead.command === 'sale' && leadTold?.status === 'SUCCESS' ? (leadTold.amount ?? 0) : 0;
    const capturedTold = saleTold + sum(succeeded('capture'));
    const refundedTold = sum(succeeded('refund'));
    t.captures.count();
    t.refunds.count();
    t.cancels.count();
    t.pspBounds.count();
    t.eventBounds.count();
    t.noFalseSuccess.count();
    t.noSilentMoney.count();
    const pspCaptured = psp?.amount_captured ?? 0;
    const pspRefunded = psp?.amount_refunded ?? 0;
    if (capturedTold !== pspCaptured) t.captures.fail(p.index, `${p.orderId}: events captured ${capturedTold}, PSP captured ${pspCaptured}`);
    if (refundedTold !== pspRefunded) t.refunds.fail(p.index, `${p.orderId}: events refunded ${refundedTold}, PSP refunded ${pspRefunded}`);
    const cancelled = ids.some((id, i) => p.commands[i].command === 'cancel' && moneyObject(input.snapshot.operations.get(id))?.object === 'cancellation');
    if (psp?.status === 'cancelled' && psp.approved && !cancelled) t.cancels.fail(p.index, `${p.orderId}: PSP authorization cancelled by no cancel of ours`);
    if (psp && (psp.amount_captured > psp.amount || psp.amount_refunded > psp.amount_captured))
      t.pspBounds.fail(p.index, `${p.orderId}: PSP authorized ${psp.amount}, captured ${psp.amount_captured}, refunded ${psp.amount_refunded}`);
    const authorizedTold = leadTold?.status === 'SUCCESS' ? (leadTold.amount ?? 0) : 0;
    if (capturedTold > authorizedTold || refundedTold > capturedTold)
      t.eventBounds.fail(p.index, `${p.orderId}: events authorized ${authorizedTold}, captured ${capturedTold}, refunded ${refundedTold}`);
  }

  // Failures say why.
  let failures = 0;
  for (const n of input.notifications) {
    const p = n.params.payment as Record<string, unknown> | undefined;
    if (!p || typeof p.event_id !== 'string' || !p.event_id.endsWith('.FAILED')) continue;
    failures += 1;
    if (typeof p.reason !== 'string' || p.reason.trim() === '') t.reasons.fail(-1, `${p.event_id} without a reason`);
  }

  // Money the PSP moved under a reference that is none of the drill's operations (the bridge's own voids would be).
  for (const [reference, body] of input.snapshot.operations) {
    const m = moneyObject(body);
    if (!m || ours.has(reference)) continue;
    if (m.object === 'authorization' && !input.snapshot.authorizations.some((a) => a.reference === reference && a.approved)) continue;
    t.noSilentMoney.fail(-1, `${m.object} ${m.amount} under ${reference}, no operation of the drill`);
  }

  const checks = Object.values(t).map((x) => x.check());
  const reasonsCheck = checks.find((c) => c.name === MONEY_INVARIANTS.reasons);
  if (reasonsCheck?.ok) reasonsCheck.detail = `${failures} FAILED deliveries, each with a reason`;
  return { checks, figures: moneyFigures(input, told) };
}

/** Outcomes per command and the money on both sides, for the report. */
function moneyFigures(input: MoneyTruthInput, told: Map<string, ToldOutcome>): string[] {
  const byCommand = new Map<string, { sent: number; success: number; fail: number; reasons: Map<string, number> }>();
  for (const r of input.records) {
    if (r.acceptedAt === undefined) continue;
    const row = byCommand.get(r.command) ?? { sent: 0, success: 0, fail: 0, reasons: new Map<string, number>() };
    row.sent += 1;
    const o = told.get(r.operationId);
    if (o?.status === 'SUCCESS') row.success += 1;
    if (o?.status === 'FAIL') {
      row.fail += 1;
      const reason = o.reason ?? '(none)';
      row.reasons.set(reason, (row.reasons.get(reason) ?? 0) + 1);
    }
    byCommand.set(r.command, row);
  }
  const lines = [...byCommand.entries()].map(([command, row]) => {
    const reasons = [...row.reasons.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 4)
      .map(([reason, n]) => `${reason} ${n}`)
      .join(', ');
    return `${command}: ${row.sent} accepted, ${row.success} SUCCESS, ${row.fail} FAIL${reasons ? ` (${reasons})` : ''}`;
  });
  const interim = new Map<string, number>();
  for (const n of input.notifications) {
    const id = (n.params.payment as Record<string, unknown> | undefined)?.event_id;
    const state = typeof id === 'string' ? id.slice(id.lastIndexOf('.') + 1) : '';
    if (state === 'PENDING' || state === 'ACTION_REQUIRED' || state === 'UNRESOLVED') interim.set(state, (interim.get(state) ?? 0) + 1);
  }
  if (interim.size > 0) lines.push(`events before the outcome: ${[...interim.entries()].map(([state, n]) => `${state} ${n}`).join(', ')} (deliveries)`);
  const auths = input.snapshot.authorizations.filter((a) => a.approved);
  lines.push(
    `PSP: ${auths.length} approved authorizations, captured ${sum(auths.map((a) => a.amount_captured))}, refunded ${sum(auths.map((a) => a.amount_refunded))} (minor units, all currencies)`,
  );
  return lines;
}
