import { actionDeadline } from '../../../src/delivery/action-deadline';

const MIN = 60_000;
const DAY = 24 * 60 * MIN;
const auth = { actionTimeoutMs: 15 * MIN, actionDeadlineGraceMs: 3 * DAY, maxActionWaitMs: 62 * DAY };
const created = 1_700_000_000_000;
const now = created + 2_000;

describe('the deadline of a customer action', () => {
  it('waits the fixed authentication.action_timeout_ms when the PSP named no deadline (3-D Secure, a redirect)', () => {
    expect(actionDeadline(undefined, { createdAt: created }, now, auth)).toEqual({ at: now + 15 * MIN, from: 'config' });
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
    expect(actionDeadline(now, { createdAt: created }, now, auth)).toEqual({ at: now + 15 * MIN, from: 'config_fallback', refused: 'past', pspGave: now });
    expect(actionDeadline(created - 1, { createdAt: created }, now, auth)).toEqual({
      at: now + 15 * MIN,
      from: 'config_fallback',
      refused: 'before_creation',
      pspGave: created - 1,
    });
  });
});
