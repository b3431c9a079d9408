import { IDEMPOTENT_RESEND_WINDOW_MS, replayInquiryExpired, replayWithheldReason } from '../../../src/delivery/resend-window';
import { adyenStoredValueTransformer } from '../../../src/gateways/adyen-stored-value/adyen-stored-value-transformer';

describe('replayInquiryExpired', () => {
  const createdAt = 1_700_000_000_000;

  it('withholds a replaying inquiry only once the operation is older than the window', () => {
    const replays = { inquiryReplaysRequest: true };
    expect(replayInquiryExpired(replays, createdAt, createdAt + IDEMPOTENT_RESEND_WINDOW_MS)).toBe(false);
    expect(replayInquiryExpired(replays, createdAt, createdAt + IDEMPOTENT_RESEND_WINDOW_MS + 1)).toBe(true);
  });

  it('never withholds an inquiry that reads the PSP state (no replay), however old the operation', () => {
    expect(replayInquiryExpired({}, createdAt, createdAt + 10 * IDEMPOTENT_RESEND_WINDOW_MS)).toBe(false);
    expect(replayInquiryExpired({ inquiryReplaysRequest: false }, createdAt, createdAt + 10 * IDEMPOTENT_RESEND_WINDOW_MS)).toBe(false);
  });

  it('keeps to 7 days, under the 31 days Adyen documents for a key', () => {
    expect(IDEMPOTENT_RESEND_WINDOW_MS).toBe(7 * 24 * 3600 * 1000);
  });
});

describe('replayWithheldReason', () => {
  const op = { command: 'authorize', createdAt: 1_700_000_000_000, receivedAt: 1_700_000_000_000 - 5_000 } as const;
  const maxAgeMs = 3600_000;
  const replays = { inquiryReplaysRequest: true };

  it('withholds a replaying inquiry past delivery.max_age_ms (counted from receipt), within the key window', () => {
    expect(replayWithheldReason(replays, op, op.receivedAt + maxAgeMs, maxAgeMs)).toBeNull();
    expect(replayWithheldReason(replays, op, op.receivedAt + maxAgeMs + 1, maxAgeMs)).toBe('max_age');
  });

  it('says key_validity past the key window, whatever the max age', () => {
    expect(replayWithheldReason(replays, op, op.createdAt + IDEMPOTENT_RESEND_WINDOW_MS + 1, maxAgeMs)).toBe('key_validity');
    expect(replayWithheldReason(replays, op, op.createdAt + IDEMPOTENT_RESEND_WINDOW_MS + 1, 0)).toBe('key_validity');
  });

  it('has no max age bound when delivery.max_age_ms is 0', () => {
    expect(replayWithheldReason(replays, op, op.createdAt + IDEMPOTENT_RESEND_WINDOW_MS - 1, 0)).toBeNull();
  });

  it('never withholds the replay of a balance inquiry: it reads the balance, moves nothing, however late or often', () => {
    // The gateway declares it (Adyen Stored Value's /checkBalance): the rule reads the declaration, not a list of its own.
    const declares = { ...replays, replayPerformsNothing: ['balance_inquiry'] } as const;
    const balance = { ...op, command: 'balance_inquiry' } as const;
    expect(replayWithheldReason(declares, balance, op.receivedAt + 10 * maxAgeMs, maxAgeMs)).toBeNull();
    expect(replayWithheldReason(declares, balance, op.createdAt + 10 * IDEMPOTENT_RESEND_WINDOW_MS, maxAgeMs)).toBeNull();
    expect(replayWithheldReason(adyenStoredValueTransformer, balance, op.createdAt + 10 * IDEMPOTENT_RESEND_WINDOW_MS, maxAgeMs)).toBeNull();
    // Only the commands declared: the same gateway's reload is withheld as any replay.
    expect(replayWithheldReason(declares, op, op.receivedAt + maxAgeMs + 1, maxAgeMs)).toBe('max_age');
    expect(replayWithheldReason(adyenStoredValueTransformer, { ...op, command: 'reload' }, op.receivedAt + maxAgeMs + 1, maxAgeMs)).toBe('max_age');
  });

  it('withholds the replay of a command its gateway does not declare as performing nothing, a balance inquiry too', () => {
    const balance = { ...op, command: 'balance_inquiry' } as const;
    expect(replayWithheldReason(replays, balance, op.receivedAt + maxAgeMs + 1, maxAgeMs)).toBe('max_age');
    expect(replayWithheldReason(replays, balance, op.createdAt + IDEMPOTENT_RESEND_WINDOW_MS + 1, 0)).toBe('key_validity');
  });

  it('never withholds an inquiry that reads the PSP state (Stripe, Cybersource)', () => {
    expect(replayWithheldReason({}, op, op.receivedAt + 10 * maxAgeMs, maxAgeMs)).toBeNull();
    expect(replayWithheldReason({ inquiryReplaysRequest: false }, op, op.createdAt + 10 * IDEMPOTENT_RESEND_WINDOW_MS, maxAgeMs)).toBeNull();
  });
});
