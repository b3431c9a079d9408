import { ActionWait, actionDeadline, actionWait, deadlineAfterUnresolved, waitFromCreation } from '../../../src/delivery/action-deadline';
import { CustomerAction } from '../../../src/gateways/customer-action';

const MIN = 60_000;
const DAY = 24 * 60 * MIN;
const auth = {
  actionTimeoutMs: 15 * MIN,
  qrCodeTimeoutMs: DAY,
  voucherTimeoutMs: 7 * DAY,
  bankTransferTimeoutMs: 14 * DAY,
  actionDeadlineGraceMs: 3 * DAY,
  maxActionWaitMs: 62 * DAY,
};
const created = 1_700_000_000_000;
const now = created + 2_000;

describe('the deadline of a customer action', () => {
  it('waits the fixed authentication.action_timeout_ms when the PSP named no deadline (3-D Secure, a redirect)', () => {
    expect(actionDeadline(undefined, { createdAt: created }, now, auth)).toEqual({ at: now + 15 * MIN, from: 'config', wait: 'action' });
  });

  it("waits until the PSP's deadline plus the grace when it named one still ahead (a voucher payable for days)", () => {
    const boleto = now + 3 * DAY;
    expect(actionDeadline(boleto, { createdAt: created }, now, auth)).toEqual({ at: boleto + 3 * DAY, from: 'psp', pspExpiresAt: boleto });
  });

  it("takes the PSP's deadline even when it is sooner than the fixed timeout (a QR code valid minutes)", () => {
    const qr = now + 5 * MIN;
    const noGrace = { ...auth, actionDeadlineGraceMs: 0 };
    expect(actionDeadline(qr, { createdAt: created }, now, noGrace)).toEqual({ at: qr, from: 'psp', pspExpiresAt: qr });
  });

  it('cuts a deadline past authentication.max_action_wait_ms to that wait, counted from now', () => {
    const far = now + 400 * DAY;
    expect(actionDeadline(far, { createdAt: created }, now, auth)).toEqual({ at: now + 62 * DAY, from: 'psp_capped', pspExpiresAt: far });
  });

  it('falls back on the fixed timeout for a deadline already past on arrival, or before the operation was created', () => {
    expect(actionDeadline(now, { createdAt: created }, now, auth)).toEqual({
      at: now + 15 * MIN,
      from: 'config_fallback',
      wait: 'action',
      refused: 'past',
      pspGave: now,
    });
    expect(actionDeadline(created - 1, { createdAt: created }, now, auth)).toEqual({
      at: now + 15 * MIN,
      from: 'config_fallback',
      wait: 'action',
      refused: 'before_creation',
      pspGave: created - 1,
    });
  });

  it("sets a voucher's unreadable deadline aside for the voucher's own wait, not the 3-D Secure minutes", () => {
    const voucher: CustomerAction = { kind: 'voucher', psp_action: { type: 'boleto_display_details' } };
    expect(actionDeadline(now - 1, { createdAt: created }, now, auth, voucher)).toMatchObject({ at: now + 7 * DAY, from: 'config_fallback', wait: 'voucher' });
  });
});

describe('the fixed wait of an action the PSP names no deadline for', () => {
  const act = (kind: CustomerAction['kind'], type: string): CustomerAction => ({ kind, psp_action: { type } });
  const cases: Array<[string, ActionWait, number, CustomerAction | undefined]> = [
    ['Stripe 3-D Secure (use_stripe_sdk)', 'action', 15 * MIN, act('three_ds', 'use_stripe_sdk')],
    ['Stripe redirect_to_url', 'action', 15 * MIN, act('redirect', 'redirect_to_url')],
    ['Stripe Cash App (sdk)', 'action', 15 * MIN, act('sdk', 'cashapp_handle_redirect_or_display_qr_code')],
    ['Stripe card_await_notification (await)', 'action', 15 * MIN, act('await', 'card_await_notification')],
    ['Adyen await (MB WAY, BLIK, UPI collect)', 'action', 15 * MIN, act('await', 'await')],
    ['Adyen threeDS2', 'action', 15 * MIN, act('three_ds', 'threeDS2')],
    ['an unknown action (other)', 'action', 15 * MIN, act('other', 'something_new')],
    ['no action object at all', 'action', 15 * MIN, undefined],
    ['Stripe PayNow QR code', 'qr_code', DAY, act('voucher', 'paynow_display_qr_code')],
    ['Stripe PromptPay QR code', 'qr_code', DAY, act('voucher', 'promptpay_display_qr_code')],
    ['Stripe WeChat Pay QR code', 'qr_code', DAY, act('voucher', 'wechat_pay_display_qr_code')],
    ['Adyen qrCode without expiresAt', 'qr_code', DAY, act('sdk', 'qrCode')],
    ['Stripe Boleto without expires_at', 'voucher', 7 * DAY, act('voucher', 'boleto_display_details')],
    ['Adyen voucher without expiresAt', 'voucher', 7 * DAY, act('voucher', 'voucher')],
    ['a voucher whose PSP object was dropped as too big', 'voucher', 7 * DAY, { kind: 'voucher' }],
    ['Stripe display_bank_transfer_instructions', 'bank_transfer', 14 * DAY, act('voucher', 'display_bank_transfer_instructions')],
    ['Stripe verify_with_microdeposits', 'bank_transfer', 14 * DAY, act('other', 'verify_with_microdeposits')],
    ['Adyen bankTransfer', 'bank_transfer', 14 * DAY, act('voucher', 'bankTransfer')],
    ['Adyen bank (older answers)', 'bank_transfer', 14 * DAY, act('voucher', 'bank')],
  ];

  it.each(cases)('%s waits %s (%d ms)', (_name, wait, ms, action) => {
    expect(actionWait(action)).toBe(wait);
    expect(actionDeadline(undefined, { createdAt: created }, now, auth, action)).toEqual({ at: now + ms, from: 'config', wait });
  });

  it("a PSP's own deadline still wins over the action's fixed wait (a bank transfer's instructions that name one)", () => {
    const transfer = act('voucher', 'display_bank_transfer_instructions');
    expect(actionDeadline(now + DAY, { createdAt: created }, now, auth, transfer)).toEqual({ at: now + 4 * DAY, from: 'psp', pspExpiresAt: now + DAY });
  });

  it("counts the wait from the operation's creation for one already waiting, never past the deadline it would get entering now", () => {
    const transfer = act('voucher', 'display_bank_transfer_instructions');
    expect(waitFromCreation({ createdAt: created }, auth, transfer)).toEqual({ at: created + 14 * DAY, from: 'config', wait: 'bank_transfer' });
    expect(waitFromCreation({ createdAt: created }, auth, transfer).at).toBeLessThanOrEqual(
      actionDeadline(undefined, { createdAt: created }, now, auth, transfer).at,
    );
  });
});

describe('the deadline of an action the PSP still waits for after UNRESOLVED', () => {
  const later = created + 3 * 3600_000;

  it("is the fixed wait counted from the operation's creation, not restarted: over already, so due at once", () => {
    expect(deadlineAfterUnresolved(undefined, { createdAt: created }, later, auth)).toEqual({ at: created + 15 * MIN, from: 'since_creation', wait: 'action' });
  });

  it("keeps a bank transfer's days counted from creation, and takes a PSP's deadline still ahead as on entering", () => {
    const transfer: CustomerAction = { kind: 'other', psp_action: { type: 'display_bank_transfer_instructions' } };
    expect(deadlineAfterUnresolved(undefined, { createdAt: created }, later, auth, transfer)).toMatchObject({ at: created + 14 * DAY, from: 'since_creation' });
    const boleto = later + DAY;
    expect(deadlineAfterUnresolved(boleto, { createdAt: created }, later, auth)).toEqual(actionDeadline(boleto, { createdAt: created }, later, auth));
  });

  it("sets aside a PSP deadline already past (the voucher's fixed wait from creation instead), and cuts one past authentication.max_action_wait_ms from now, as on entering", () => {
    const voucher: CustomerAction = { kind: 'voucher' };
    expect(deadlineAfterUnresolved(later - DAY, { createdAt: created }, later, auth, voucher)).toEqual({
      at: created + 7 * DAY,
      from: 'since_creation',
      wait: 'voucher',
    });
    const konbini = later + 90 * DAY;
    expect(deadlineAfterUnresolved(konbini, { createdAt: created }, later, auth, voucher)).toEqual({
      at: later + 62 * DAY,
      from: 'psp_capped',
      pspExpiresAt: konbini,
    });
  });
});
