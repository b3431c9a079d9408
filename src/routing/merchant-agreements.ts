import type { EffectiveAgreementStatus, MerchantAgreement } from '../config/routing-config';

/**
 * The merchant agreement table (`routing.agreements`): per merchant (`payment.gateway_account`) and
 * gateway, whether the merchant may be routed there. A merchant's own row wins over the `*` row. Pure.
 */
export class MerchantAgreements {
  private readonly rows = new Map<string, MerchantAgreement>();

  constructor(agreements: readonly MerchantAgreement[]) {
    for (const a of agreements) this.rows.set(`${a.merchant}\u001f${a.gateway}`, a);
  }

  /** Whether the table has any row (when not, agreements are not checked). */
  get empty(): boolean {
    return this.rows.size === 0;
  }

  /** The merchant's agreement with `gateway` at `now` (epoch ms): as configured, `expired` past its end, `pending` before its start, `none` without a row. */
  statusAt(merchant: string, gateway: string, now: number): EffectiveAgreementStatus {
    const row = this.rows.get(`${merchant}\u001f${gateway}`) ?? this.rows.get(`*\u001f${gateway}`);
    if (!row) return 'none';
    if (row.status !== 'active') return row.status;
    if (row.validUntil !== null && now > row.validUntil) return 'expired';
    if (row.validFrom !== null && now < row.validFrom) return 'pending';
    return 'active';
  }

  /** Whether the merchant may be routed to `gateway` at `now`: active, or no row when agreements are not required. */
  usable(merchant: string, gateway: string, now: number, requireAgreement: boolean): { ok: boolean; status: EffectiveAgreementStatus } {
    const status = this.statusAt(merchant, gateway, now);
    return { ok: status === 'active' || (status === 'none' && !requireAgreement), status };
  }
}
