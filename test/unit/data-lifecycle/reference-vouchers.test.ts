import { ReferenceVouchers } from '../../../src/data-lifecycle/reference-vouchers';

const REFERENCE = '4929381726354651';

describe('ReferenceVouchers', () => {
  const current = new ReferenceVouchers({ secret: 'bus-secret-a-0123456789', secretPrevious: '' });

  it('vouches for the reference it was made for, on its own operation only', () => {
    const voucher = current.voucher('op-1', REFERENCE);
    expect(voucher).toMatch(/^[0-9a-f]{64}$/);
    expect(voucher).not.toContain(REFERENCE);
    expect(current.vouches('op-1', REFERENCE, voucher)).toBe(true);
    expect(current.vouches('op-2', REFERENCE, voucher)).toBe(false);
    expect(current.vouches('op-1', '4532019384756127', voucher)).toBe(false);
  });

  it('checks under the previous secret during a rotation, and under no other', () => {
    const voucher = current.voucher('op-1', REFERENCE);
    expect(new ReferenceVouchers({ secret: 'bus-secret-b-0123456789', secretPrevious: 'bus-secret-a-0123456789' }).vouches('op-1', REFERENCE, voucher)).toBe(
      true,
    );
    expect(new ReferenceVouchers({ secret: 'bus-secret-b-0123456789', secretPrevious: '' }).vouches('op-1', REFERENCE, voucher)).toBe(false);
  });

  it('takes anything that is no voucher (a file may hold any value there) for none', () => {
    for (const v of [undefined, null, 42, '', 'zz', {}, current.voucher('op-1', REFERENCE).toUpperCase()])
      expect(current.vouches('op-1', REFERENCE, v)).toBe(false);
  });
});
