import { IDEMPOTENT_RESEND_WINDOW_MS, replayInquiryExpired } from '../../../src/delivery/resend-window';

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
