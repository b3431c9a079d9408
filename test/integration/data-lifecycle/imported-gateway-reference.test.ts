/**
 * An import file's `gateway_reference` that reads as a card number (an Adyen pspReference may: 16 characters, about one in
 * ten Luhn-valid) is kept whole only when the line carries the export's voucher for it (`reference_voucher`: an HMAC
 * under a key derived from this deployment's bus secret, current or previous): a file edited to carry a card number
 * there has it masked and counted, as a file exported before vouchers (no voucher to check) has any card-like one.
 * A reference of no card number's shape is kept whatever the line holds.
 */
import { Readable, Writable } from 'node:stream';
import { exportOperations } from '../../../src/data-lifecycle/export';
import { importOperations } from '../../../src/data-lifecycle/import';
import { Ledger } from '../../../src/ledger/ledger';
import { containsCardNumber } from '../../../src/logging/redact';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { ShardKeys, shardOfOrder } from '../../../src/redis/key-layout';
import { unlinkMatching } from '../../../src/redis/key-scan';
import { RedisClient } from '../../../src/redis/redis-connection';
import { scanRedis } from '../../../harness/workload/card-data-scan';
import { SeededLedger, seedLedger } from '../../support/ledger-scenario';
import { testNamespace } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

jest.setTimeout(30_000);

let redis: RedisClient;
const prefixes: string[] = [];
const TO = Date.now() + 86400_000;
const secrets = { secret: 'gateway-reference-bus-secret-0123456789', secretPrevious: '' };
const withSecrets = { issuedTokens: { secrets } };
/** Luhn-valid, 16 digits: what an Adyen pspReference can be. */
const PSP_REFERENCE = '4929381726354651';
/** A card number an edited file puts in its place. */
const PAN = '4532019384756127';

function freshPrefix(): string {
  const p = `${testNamespace()}:`;
  prefixes.push(p);
  return p;
}

beforeAll(() => {
  redis = testRedis();
});

afterAll(async () => {
  for (const p of prefixes) await unlinkMatching(redis, `${p}*`);
  redis.disconnect();
});

async function exportText(prefix: string): Promise<string> {
  const chunks: Buffer[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk);
      done();
    },
  });
  await exportOperations(redis, prefix, out, { from: 0, to: TO, format: 'ndjson', ...withSecrets });
  return Buffer.concat(chunks).toString('utf8');
}

/** A seeded ledger whose authorization's record holds `reference` as its PSP reference (indexed), exported with the bus secret. */
async function exported(reference: string): Promise<{ seeded: SeededLedger; text: string; line: string }> {
  const prefix = freshPrefix();
  const seeded = await seedLedger(redis, prefix);
  const keys = new ShardKeys(prefix, shardOfOrder(seeded.order));
  await redis.hset(keys.op(seeded.auth), { gateway_reference: reference });
  await redis.set(keys.reference(`simulator:${reference}`), seeded.auth, 'PX', 86400_000);
  const text = await exportText(prefix);
  const line = text.split('\n').find((l) => l.includes(`"id":"${seeded.auth}"`))!;
  return { seeded, text, line };
}

/** `line` without the export's voucher (as written by a release before it). */
function withoutVoucher(line: string): string {
  const snap = JSON.parse(line) as Record<string, unknown>;
  delete snap.reference_voucher;
  return JSON.stringify(snap);
}

describe('import of a card-like gateway_reference', () => {
  it('keeps one the line vouches for (exported by the bridge under this bus secret), unflagged, with its reference entry', async () => {
    expect(containsCardNumber(PSP_REFERENCE)).toBe(true);
    const { seeded, text } = await exported(PSP_REFERENCE);
    const target = freshPrefix();
    expect(await importOperations(redis, target, Readable.from([text]), withSecrets)).toMatchObject({ complete: true, cardDataFound: 0 });
    expect(await new Ledger(redis, target).get(seeded.auth)).toMatchObject({ gatewayReference: PSP_REFERENCE });
    expect(await new Ledger(redis, target).findByReference('simulator', PSP_REFERENCE)).toBe(seeded.auth);
    // Round trip: the second export writes the same bytes.
    expect(await exportText(target)).toBe(text);
  });

  it('masks and counts a card number an edited file put in gateway_reference (the voucher does not vouch for it)', async () => {
    const { seeded, text, line } = await exported(PSP_REFERENCE);
    const edited = text.replace(line, line.split(PSP_REFERENCE).join(PAN));
    expect(edited).not.toBe(text);
    const target = freshPrefix();
    const before = await metricValue('pb_import_card_data_total');
    expect(await importOperations(redis, target, Readable.from([edited]), withSecrets)).toMatchObject({ complete: true, cardDataFound: 1 });
    expect(await metricValue('pb_import_card_data_total')).toBe(before + 1);
    expect((await new Ledger(redis, target).get(seeded.auth))?.gatewayReference).toBe('[PAN REDACTED]');
    expect((await scanRedis(redis, target, [PAN])).findings).toEqual([]);
  });

  it('masks and counts a card-like one of a file exported before vouchers, and says so in the summary; a reference of no card shape stays', async () => {
    const old = await exported(PSP_REFERENCE);
    const target = freshPrefix();
    const summary = await importOperations(redis, target, Readable.from([old.text.replace(old.line, withoutVoucher(old.line))]), withSecrets);
    expect(summary).toMatchObject({ complete: true, cardDataFound: 1, gatewayReferencesMasked: 1 });
    expect((await new Ledger(redis, target).get(old.seeded.auth))?.gatewayReference).toBe('[PAN REDACTED]');
    // Its reference entry is not written under the mask: no operation is found by `[PAN REDACTED]` (two masked ones
    // of a gateway would share that key, the last written taking it).
    expect(await new Ledger(redis, target).findByReference('simulator', '[PAN REDACTED]')).toBeNull();
    expect((await scanRedis(redis, target, [PSP_REFERENCE])).findings).toEqual([]);

    const plain = await exported('pi_3NaBcD12eFgH34');
    const target2 = freshPrefix();
    const kept = await importOperations(redis, target2, Readable.from([plain.text.replace(plain.line, withoutVoucher(plain.line))]), withSecrets);
    expect(kept).toMatchObject({ complete: true, cardDataFound: 0, gatewayReferencesMasked: 0 });
    expect(await new Ledger(redis, target2).get(plain.seeded.auth)).toMatchObject({ gatewayReference: 'pi_3NaBcD12eFgH34' });
  });

  it('masks a card-like one whose voucher was made under another bus secret (or with no secret to check it)', async () => {
    const { seeded, text } = await exported(PSP_REFERENCE);
    const other = freshPrefix();
    expect(
      await importOperations(redis, other, Readable.from([text]), {
        issuedTokens: { secrets: { secret: 'another-bus-secret-0123456789', secretPrevious: '' } },
      }),
    ).toMatchObject({ cardDataFound: 1, gatewayReferencesMasked: 1 });
    expect((await new Ledger(redis, other).get(seeded.auth))?.gatewayReference).toBe('[PAN REDACTED]');
    const rotated = freshPrefix();
    expect(
      await importOperations(redis, rotated, Readable.from([text]), {
        issuedTokens: { secrets: { secret: 'the-next-bus-secret-0123456789', secretPrevious: secrets.secret } },
      }),
    ).toMatchObject({ cardDataFound: 0, gatewayReferencesMasked: 0 });
    const none = freshPrefix();
    expect(await importOperations(redis, none, Readable.from([text]))).toMatchObject({ cardDataFound: 1, gatewayReferencesMasked: 1 });
  });
});
