import { Config } from '../config/config';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';

/**
 * Where the deadline of a customer action came from (the `from` label of `pb_action_deadlines_total`):
 * - `psp`: the deadline the PSP gave (a voucher's or a QR code's expiry) plus `authentication.action_deadline_grace_ms`;
 * - `psp_capped`: that lay past `authentication.max_action_wait_ms` from now, and was cut to it;
 * - `config`: the PSP gave none (3-D Secure, a redirect): `authentication.action_timeout_ms` from now;
 * - `config_fallback`: the PSP gave one the bridge cannot take (already past, or before the operation was
 *   created: a clock or a reading gone wrong), so the fixed timeout applies as if it had given none.
 */
export type ActionDeadlineSource = 'psp' | 'psp_capped' | 'config' | 'config_fallback';

/** When the bridge stops waiting for a customer's action, and why then. */
export interface ActionDeadline {
  /**
   * When the poller asks the PSP once more and, still waiting, fails the operation and voids what the PSP
   * holds (epoch ms): the operation's `nextCheckAt`, its score in the ACTION_REQUIRED index.
   */
  at: number;
  from: ActionDeadlineSource;
  /** The PSP's deadline, when the bridge took it (`psp`, `psp_capped`): the record's `actionExpiresAt`. */
  pspExpiresAt?: number;
  /** `config_fallback`: why the PSP's deadline was set aside. */
  refused?: 'past' | 'before_creation';
  /** `config_fallback`: the deadline the PSP gave (epoch ms), for the warn line. */
  pspGave?: number;
}

/**
 * The deadline of an action entering ACTION_REQUIRED at `now`: the PSP's own (`GatewayOutcome.actionExpiresAt`)
 * plus the grace, at most `max_action_wait_ms` from `now`, when it gave one the bridge can take; otherwise
 * `action_timeout_ms` from `now`. A voucher the customer may pay for days must not be cancelled at the PSP
 * after the fixed minutes a 3-D Secure challenge gets. Pure.
 */
export function actionDeadline(pspExpiresAt: number | undefined, op: { createdAt: number }, now: number, auth: Config['authentication']): ActionDeadline {
  const fixed = now + auth.actionTimeoutMs;
  if (pspExpiresAt === undefined) return { at: fixed, from: 'config' };
  if (pspExpiresAt < op.createdAt) return { at: fixed, from: 'config_fallback', refused: 'before_creation', pspGave: pspExpiresAt };
  if (pspExpiresAt <= now) return { at: fixed, from: 'config_fallback', refused: 'past', pspGave: pspExpiresAt };
  const at = pspExpiresAt + auth.actionDeadlineGraceMs;
  const cap = now + auth.maxActionWaitMs;
  if (at > cap) return { at: cap, from: 'psp_capped', pspExpiresAt };
  return { at, from: 'psp', pspExpiresAt };
}

const deadlines = counter(
  'pb_action_deadlines_total',
  'Customer actions (ACTION_REQUIRED) given their deadline, by gateway and where it came from (psp | psp_capped | config | config_fallback)',
  ['gateway', 'from'],
);

/**
 * Counts a deadline the ledger recorded (`pb_action_deadlines_total{gateway,from}`) and logs it where an
 * operator looks: an info line for the PSP's deadline (the operation will wait days, not minutes), a warn
 * line for one cut to the maximum or set aside; the fixed timeout only at debug (every 3-D Secure challenge).
 */
export function noteActionDeadline(logger: Logger, deadline: ActionDeadline, op: { id: string; gateway: string; orderId?: string }): void {
  deadlines.inc({ gateway: op.gateway, from: deadline.from });
  const fields = {
    operation_id: op.id,
    order_id: op.orderId,
    gateway: op.gateway,
    deadline_from: deadline.from,
    deadline_at: new Date(deadline.at).toISOString(),
    ...(deadline.pspExpiresAt !== undefined ? { psp_expires_at: new Date(deadline.pspExpiresAt).toISOString() } : {}),
  };
  switch (deadline.from) {
    case 'psp':
      logger.info("customer action waits until the PSP's deadline (plus the grace)", fields);
      return;
    case 'psp_capped':
      logger.warn("customer action: the PSP's deadline lies past authentication.max_action_wait_ms; waiting that long only", fields);
      return;
    case 'config_fallback':
      logger.warn("customer action: the PSP's deadline cannot be taken; authentication.action_timeout_ms applies", {
        ...fields,
        refused: deadline.refused,
        psp_gave: deadline.pspGave !== undefined ? new Date(deadline.pspGave).toISOString() : undefined,
      });
      return;
    case 'config':
      logger.debug('customer action waits authentication.action_timeout_ms (the PSP named no deadline)', fields);
      return;
  }
}
