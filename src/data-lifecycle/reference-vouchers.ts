import { createHmac, timingSafeEqual } from 'node:crypto';
import { purposeKey } from '../config/purpose-key';
import type { IssuedTokenSecrets } from '../ledger/issued-tokens';

/** What `purposeKey` derives the voucher key for, from `service_bus.secret`: no other digest is made with it. */
const PURPOSE = 'export gateway reference voucher v1';

/**
 * The export's voucher for a line's `gateway_reference` that reads as a card number (an Adyen pspReference may): an
 * HMAC-SHA-256 over the operation id and the reference under a key derived from `service_bus.secret` for this one
 * purpose, written beside the line (`OperationSnapshot.reference_voucher`). Import keeps such a reference whole only
 * when the voucher checks under its own current or previous secret: only the bridge, exporting what its ledger held,
 * can write one, never a hand who edited the file to carry a card number there. Bound to the operation id, so a voucher
 * copied to another line vouches for nothing. The reference index of the namespace cannot serve: an import writes into
 * an empty namespace, and the line's own reference entries are the file's word.
 */
export class ReferenceVouchers {
  private readonly keys: readonly Buffer[];

  constructor(secrets: IssuedTokenSecrets) {
    this.keys = [secrets.secret, secrets.secretPrevious].filter((s) => s !== '').map((s) => purposeKey(s, PURPOSE));
  }

  /** The voucher (hex) of `reference` on operation `operationId`'s line, under the current key (`i` 0) or the previous one. */
  voucher(operationId: string, reference: string, i = 0): string {
    return createHmac('sha256', this.keys[i])
      .update(JSON.stringify([operationId, reference]), 'utf8')
      .digest('hex');
  }

  /** Whether `voucher` (from a file: anything) is `reference`'s on `operationId`'s line under the current or previous key. */
  vouches(operationId: string, reference: string, voucher: unknown): boolean {
    if (typeof voucher !== 'string' || !/^[0-9a-f]{64}$/.test(voucher)) return false;
    const given = Buffer.from(voucher, 'hex');
    return this.keys.some((_k, i) => timingSafeEqual(Buffer.from(this.voucher(operationId, reference, i), 'hex'), given));
  }
}
