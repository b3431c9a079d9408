import { validateCommandReport } from '../../../src/contracts/command-validator';
import { holdsCardNumber } from '../../../src/contracts/card-data-policy';
import { CommandValidationError } from '../../../src/errors/command-validation-error';
import { readAdmittingOperationKey } from '../../../src/intake/gift-card-refund-key';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';

type Json = Record<string, unknown>;

// 17 and 21 digits, no run of 12 to 19 passing the Luhn check (checked below): what an OMS's numeric reference may be.
const OUR_IDS = ['20261205000000017', '202612050000012345678'];

function refund(key: string): Json {
  return {
    version: 1,
    command: 'refund',
    channel: 'web',
    received_at: '2026-06-01T10:00:00.000Z',
    payment: {
      gateway: 'simulator',
      gateway_account: 'acme-eu',
      gateway_key: key,
      amount: 100,
      currency: 'EUR',
      method_details: { method: 'giftcard', submethod: 'givex' },
    },
  };
}

/** The intake's read with a ledger that holds `ids`, noting each key it was asked about. */
async function admitted(key: string, ids: readonly string[]) {
  const asked: string[] = [];
  const logs = captureLogger();
  const read = readAdmittingOperationKey(
    (isOperation) => validateCommandReport(refund(key), undefined, isOperation),
    (k) => {
      asked.push(k);
      return Promise.resolve(ids.includes(k));
    },
    logs.logger,
  );
  return { read, asked, lines: logs.lines };
}

describe('a gift card refund keyed by an all-digit run of 17 digits or more', () => {
  it('the ids used here hold no Luhn-valid card number (the card scan lets them through)', () => {
    for (const id of OUR_IDS) expect(holdsCardNumber(id)).toBe(false);
  });

  it.each(OUR_IDS)('is accepted when the ledger holds %s as one of our operations, and counted', async (id) => {
    const before = (await metricValue('pb_gift_card_refund_key_lookups_total', { result: 'operation' })) ?? 0;
    const { read, asked, lines } = await admitted(id, OUR_IDS);
    expect((await read).command.payment.gateway_key).toBe(id);
    expect(asked).toEqual([id]);
    expect(await metricValue('pb_gift_card_refund_key_lookups_total', { result: 'operation' })).toBe(before + 1);
    expect(lines.some((l) => l.includes('gift card refund keyed by an all-digit operation id of ours'))).toBe(true);
  });

  it.each(['603628672882001915092', '20261205000000018'])(
    'is refused CARD_DATA_REJECTED when %s names none of our operations, never quoting it',
    async (key) => {
      const before = (await metricValue('pb_gift_card_refund_key_lookups_total', { result: 'none' })) ?? 0;
      const { read, asked, lines } = await admitted(key, OUR_IDS);
      const err = (await read.then(
        () => null,
        (e: unknown) => e,
      )) as CommandValidationError;
      expect(err).toBeInstanceOf(CommandValidationError);
      expect([err.code, err.field]).toEqual(['CARD_DATA_REJECTED', 'payment.gateway_key']);
      expect(err.message).not.toContain(key);
      expect(asked).toEqual([key]);
      expect(await metricValue('pb_gift_card_refund_key_lookups_total', { result: 'none' })).toBe(before + 1);
      expect(lines.join('\n')).not.toContain(key);
    },
  );

  it.each(['4111111111111111', '4000056655665556', '6011000990139424'])(
    'a Luhn-valid card number (%s) is refused as card data without a ledger look-up, even if an operation had that id',
    async (pan) => {
      const { read, asked } = await admitted(pan, [pan]);
      await expect(read).rejects.toMatchObject({ code: 'CARD_DATA_REJECTED', field: 'payment.gateway_key' });
      expect(asked).toEqual([]);
    },
  );

  it('without the look-up (validation alone) it is still refused: only the ledger can say it is ours', () => {
    expect(() => validateCommandReport(refund(OUR_IDS[0]))).toThrow(expect.objectContaining({ code: 'CARD_DATA_REJECTED', field: 'payment.gateway_key' }));
  });

  it('a refund to the card (shopper reference and token) keyed by a long digit run is never looked up: it is a card', async () => {
    const { read, asked } = await admitted(`shopper-0042:${OUR_IDS[0]}`, OUR_IDS);
    await expect(read).rejects.toMatchObject({ code: 'CARD_DATA_REJECTED', field: 'payment.gateway_key' });
    expect(asked).toEqual([]);
  });
});
