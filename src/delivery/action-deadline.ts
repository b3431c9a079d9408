import { Config } from '../config/config';
import { ActionKind, CustomerAction } from '../gateways/customer-action';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';

/**
 * The fixed wait an action gets when the PSP names no deadline for it (the `wait` label of
 * `pb_action_deadlines_total`, the key that sets it in {@link ACTION_WAIT_KEYS}):
 * - `action`: the customer acts at once (3-D Secure, a redirect, an app hand-off): `authentication.action_timeout_ms`;
 * - `qr_code`: a real-time payment's QR code (PayNow, PromptPay, WeChat Pay): `authentication.qr_code_timeout_ms`;
 * - `voucher`: a voucher paid later, in cash or at a bank: `authentication.voucher_timeout_ms`;
 * - `bank_transfer`: the customer's own transfer, or microdeposits to verify: `authentication.bank_transfer_timeout_ms`.
 */
export type ActionWait = 'action' | 'qr_code' | 'voucher' | 'bank_transfer';

/** The configuration key of each fixed wait (named in log lines and docs). */
export const ACTION_WAIT_KEYS: Readonly<Record<ActionWait, string>> = {
  action: 'authentication.action_timeout_ms',
  qr_code: 'authentication.qr_code_timeout_ms',
  voucher: 'authentication.voucher_timeout_ms',
  bank_transfer: 'authentication.bank_transfer_timeout_ms',
};

/**
 * The PSP action types whose wait their kind does not say. Stripe's `next_action.type`: a bank transfer's
 * instructions stay `requires_action` until the transfer arrives, and microdeposits take business days to land
 * before the customer can verify them (kind `voucher` and `other`). Adyen's `action.type`: `bankTransfer` (and
 * older answers' `bank`) stays Open until the funds arrive; a `qrCode` is handed to the SDK (kind `sdk`) but
 * is paid like Stripe's QR codes. Stripe's `<method>_display_qr_code` vouchers are QR codes too ({@link actionWait}).
 */
const WAIT_BY_PSP_TYPE: Readonly<Record<string, ActionWait>> = {
  display_bank_transfer_instructions: 'bank_transfer',
  verify_with_microdeposits: 'bank_transfer',
  bankTransfer: 'bank_transfer',
  bank: 'bank_transfer',
  qrCode: 'qr_code',
};

/** Every other action by its kind: only a voucher is paid later; an app's confirmation (`await`) takes minutes. */
const WAIT_BY_KIND: Readonly<Record<ActionKind, ActionWait>> = {
  redirect: 'action',
  three_ds: 'action',
  sdk: 'action',
  voucher: 'voucher',
  await: 'action',
  other: 'action',
};

/** The fixed wait of `action` (the one place that decides it): by the PSP's action type, else by its kind. */
export function actionWait(action: CustomerAction | undefined): ActionWait {
  const type = action?.psp_action?.type;
  if (typeof type === 'string') {
    if (Object.hasOwn(WAIT_BY_PSP_TYPE, type)) return WAIT_BY_PSP_TYPE[type];
    // A QR code Stripe shows as a voucher; not Cash App's `…_handle_redirect_or_display_qr_code` (an sdk hand-off).
    if (action?.kind === 'voucher' && type.endsWith('_display_qr_code')) return 'qr_code';
  }
  return action ? WAIT_BY_KIND[action.kind] : 'action';
}

/** How long `wait` lasts under `auth`, ms. */
export function actionWaitMs(wait: ActionWait, auth: Config['authentication']): number {
  switch (wait) {
    case 'action':
      return auth.actionTimeoutMs;
    case 'qr_code':
      return auth.qrCodeTimeoutMs;
    case 'voucher':
      return auth.voucherTimeoutMs;
    case 'bank_transfer':
      return auth.bankTransferTimeoutMs;
  }
}

/**
 * Where the deadline of a customer action came from (the `from` label of `pb_action_deadlines_total`):
 * - `psp`: the deadline the PSP gave (a voucher's or a QR code's expiry) plus `authentication.action_deadline_grace_ms`;
 * - `psp_capped`: that lay past `authentication.max_action_wait_ms` from now, and was cut to it;
 * - `config`: the PSP gave none: the fixed wait of the action ({@link actionWait}) from now;
 * - `config_fallback`: the PSP gave one the bridge cannot take (already past, or before the operation was
 *   created: a clock or a reading gone wrong), so the fixed wait applies as if it had given none;
 * - `since_creation`: back from UNRESOLVED with no deadline of the PSP's to take: the fixed wait counted from the
 *   operation's creation, not restarted ({@link deadlineAfterUnresolved}).
 */
export type ActionDeadlineSource = 'psp' | 'psp_capped' | 'config' | 'config_fallback' | 'since_creation';

/** When the bridge stops waiting for a customer's action, and why then. */
export interface ActionDeadline {
  /**
   * When the poller asks the PSP once more and, still waiting, fails the operation and voids what the PSP
   * holds (epoch ms): the operation's `nextCheckAt`, its score in the ACTION_REQUIRED index.
   */
  at: number;
  from: ActionDeadlineSource;
  /** `config`, `config_fallback`, `since_creation`: the fixed wait that applies. */
  wait?: ActionWait;
  /** The PSP's deadline, when the bridge took it (`psp`, `psp_capped`): the record's `actionExpiresAt`. */
  pspExpiresAt?: number;
  /** `config_fallback`: why the PSP's deadline was set aside. */
  refused?: 'past' | 'before_creation';
  /** `config_fallback`: the deadline the PSP gave (epoch ms), for the warn line. */
  pspGave?: number;
}

/**
 * The deadline of `action` entering ACTION_REQUIRED at `now`: the PSP's own (`GatewayOutcome.actionExpiresAt`)
 * plus the grace, at most `max_action_wait_ms` from `now`, when it gave one the bridge can take; otherwise the
 * action's fixed wait from `now` ({@link actionWait}: minutes for 3-D Secure, days for a bank transfer). A
 * payment the customer may make for days must not be cancelled at the PSP after the minutes a 3-D Secure
 * challenge gets. Pure.
 */
export function actionDeadline(
  pspExpiresAt: number | undefined,
  op: { createdAt: number },
  now: number,
  auth: Config['authentication'],
  action?: CustomerAction,
): ActionDeadline {
  const wait = actionWait(action);
  const fixed = now + actionWaitMs(wait, auth);
  if (pspExpiresAt === undefined) return { at: fixed, from: 'config', wait };
  if (pspExpiresAt < op.createdAt) return { at: fixed, from: 'config_fallback', wait, refused: 'before_creation', pspGave: pspExpiresAt };
  if (pspExpiresAt <= now) return { at: fixed, from: 'config_fallback', wait, refused: 'past', pspGave: pspExpiresAt };
  const at = pspExpiresAt + auth.actionDeadlineGraceMs;
  const cap = now + auth.maxActionWaitMs;
  if (at > cap) return { at: cap, from: 'psp_capped', pspExpiresAt };
  return { at, from: 'psp', pspExpiresAt };
}

/**
 * The fixed wait of `action` counted from the operation's creation, the earliest its wait can have begun:
 * for an operation already waiting without a deadline of the PSP's, which may have entered with a shorter
 * wait than its action now gets (a bank transfer given the 3-D Secure minutes before the waits by kind).
 * Never later than the deadline it would get entering now, so asking again never extends a wait twice.
 */
export function waitFromCreation(op: { createdAt: number }, auth: Config['authentication'], action?: CustomerAction): ActionDeadline {
  const wait = actionWait(action);
  return { at: op.createdAt + actionWaitMs(wait, auth), from: 'config', wait };
}

/**
 * The deadline of `action` entering ACTION_REQUIRED at `now` from UNRESOLVED (the PSP, asked by the poller or in
 * a webhook, says it still waits for the customer): the PSP's own deadline when it names one the bridge takes
 * ({@link actionDeadline}), else the fixed wait counted from the operation's creation ({@link waitFromCreation}),
 * which may be over already. A fresh wait from `now` would give a customer whose action already expired (the
 * expiry got no answer, so UNRESOLVED) another wait at every UNRESOLVED check answered "still waiting", and the
 * operation would go back and forth for good; counted from its creation, the expiry asks once more at once and,
 * answered still waiting, fails it with its void. Pure.
 */
export function deadlineAfterUnresolved(
  pspExpiresAt: number | undefined,
  op: { createdAt: number },
  now: number,
  auth: Config['authentication'],
  action?: CustomerAction,
): ActionDeadline {
  const fresh = actionDeadline(pspExpiresAt, op, now, auth, action);
  if (fresh.pspExpiresAt !== undefined) return fresh;
  return { ...waitFromCreation(op, auth, action), from: 'since_creation' };
}

const deadlines = counter(
  'pb_action_deadlines_total',
  'Customer actions (ACTION_REQUIRED) given their deadline, by gateway, where it came from (psp | psp_capped | config | config_fallback | since_creation) and the fixed wait that applied (action | qr_code | voucher | bank_transfer; none for a PSP deadline)',
  ['gateway', 'from', 'wait'],
);

/**
 * Counts a deadline the ledger recorded (`pb_action_deadlines_total{gateway,from,wait}`) and logs it where an
 * operator looks: an info line for the PSP's deadline or a fixed wait longer than the 3-D Secure one (the
 * operation will wait hours or days, not minutes), a warn line for one cut to the maximum or set aside;
 * `authentication.action_timeout_ms` only at debug (every 3-D Secure challenge).
 */
export function noteActionDeadline(logger: Logger, deadline: ActionDeadline, op: { id: string; gateway: string; orderId?: string; actionType?: string }): void {
  deadlines.inc({ gateway: op.gateway, from: deadline.from, wait: deadline.wait ?? 'none' });
  const fields = {
    operation_id: op.id,
    order_id: op.orderId,
    gateway: op.gateway,
    action_type: op.actionType,
    deadline_from: deadline.from,
    deadline_at: new Date(deadline.at).toISOString(),
    ...(deadline.wait !== undefined ? { wait: deadline.wait } : {}),
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
      logger.warn(`customer action: the PSP's deadline cannot be taken; ${ACTION_WAIT_KEYS[deadline.wait ?? 'action']} applies`, {
        ...fields,
        refused: deadline.refused,
        psp_gave: deadline.pspGave !== undefined ? new Date(deadline.pspGave).toISOString() : undefined,
      });
      return;
    case 'since_creation':
      logger.info(
        `customer action waiting again after UNRESOLVED: ${ACTION_WAIT_KEYS[deadline.wait ?? 'action']} counted from the operation's creation, not restarted (due at once when over)`,
        fields,
      );
      return;
    case 'config':
      if (deadline.wait === undefined || deadline.wait === 'action') {
        logger.debug('customer action waits authentication.action_timeout_ms (the PSP named no deadline)', fields);
      } else {
        logger.info(`customer action waits ${ACTION_WAIT_KEYS[deadline.wait]} (the PSP named no deadline; this action takes longer)`, fields);
      }
      return;
  }
}
