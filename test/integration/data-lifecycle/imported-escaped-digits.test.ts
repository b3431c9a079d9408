/**
 * An import file is read as JSON lines whose record, history and event fields are JSON texts of their own. A forged
 * file can write a card number's digits in such a text as `\u00XX` escapes: the text then holds no digit run for the
 * scan, and the ledger's parse of it gives the card number back. Import reads every such text as what it parses to.
 */
import { Readable } from 'node:stream';
import { importOperations } from '../../../src/data-lifecycle/import';
import { canonicalJson } from '../../../src/data-lifecycle/operation-snapshot';
import { Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { keysMatching, unlinkMatching } from '../../../src/redis/key-scan';
import { RedisClient } from '../../../src/redis/redis-connection';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

const PAN = '4111111111111111';
/** The card number as a JSON text writes it with every digit escaped (`\u0034\u0031…`). */
const ESCAPED = [...PAN].map((d) => `\\u00${d.charCodeAt(0).toString(16)}`).join('');

let redis: RedisClient;
const prefixes: string[] = [];

beforeAll(() => {
  redis = testRedis();
});

afterAll(async () => {
  for (const p of prefixes) await unlinkMatching(redis, `${p}*`);
  redis.disconnect();
});

/** A sale's line whose payment, outcome entry and event params each carry the card number in escapes. */
function forgedLine(): { id: string; line: string } {
  const cmd = channelCommand('sale', {}, { gateway: 'simulator' });
  const id = cmd.payment.operation_reference!;
  const now = Date.now();
  const payment = JSON.stringify(cmd.payment).replace(/}$/, `,"custom_attributes":{"note":"${ESCAPED}"}}`);
  const record = { state: 'SUCCEEDED', command: 'sale', channel: 'web', payment, created_at: String(now), updated_at: String(now + 10) };
  const history = [JSON.stringify({ event: 'attempt', at: now }), `{"event":"outcome","at":${now + 10},"note":"${ESCAPED}"}`];
  const params = `{"payment":{"operation_reference":"${id}","status":"SUCCESS","note":"${ESCAPED}"}}`;
  const events = [{ id: `${id}.SUCCEEDED`, hash: { method: 'magento.payments.payments_management.validated', params, sequence: '1' } }];
  return { id, line: canonicalJson({ type: 'operation', id, record, history, events }) };
}

describe('import of a card number written as JSON escapes inside a stored JSON text', () => {
  it('is found and masked in the record, the history and the event: nothing the ledger reads back holds the number, counted once', async () => {
    const config = testConfig();
    prefixes.push(config.redis.keyPrefix);
    const forged = forgedLine();
    // The escapes survive the line's own parse: the texts hold `\u0034…`, no digit run.
    expect(forged.line).toContain('\\\\u0034\\\\u0031');
    expect(forged.line).not.toContain(PAN);
    const before = await metricValue('pb_import_card_data_total');

    const summary = await importOperations(redis, config.redis.keyPrefix, Readable.from([`${forged.line}\n`]));

    expect(summary).toMatchObject({ operations: 1, cardDataFound: 1 });
    expect(await metricValue('pb_import_card_data_total')).toBe(before + 1);
    const ledger = new Ledger(redis, config.redis.keyPrefix);
    const record = await ledger.get(forged.id);
    expect(record?.payment.custom_attributes).toEqual({ note: '[PAN REDACTED]' });
    const history = await ledger.interactions(forged.id);
    expect(history).toHaveLength(2);
    expect(JSON.stringify(history)).not.toContain(PAN);
    expect(JSON.stringify(record)).not.toContain(PAN);
    // Every JSON text the namespace holds, read as the bridge reads it.
    const keys = await keysMatching(redis, `${config.redis.keyPrefix}*`);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      const type = await redis.type(key);
      const values =
        type === 'hash'
          ? Object.values(await redis.hgetall(key))
          : type === 'list'
            ? await redis.lrange(key, 0, -1)
            : type === 'string'
              ? [(await redis.get(key)) ?? '']
              : [];
      for (const v of values) expect(decoded(v)).not.toContain(PAN);
    }
  });

  it('a text the bridge wrote itself (its own escapes of control characters only) is imported byte for byte', async () => {
    const config = testConfig();
    prefixes.push(config.redis.keyPrefix);
    const cmd = channelCommand('sale', {}, { gateway: 'simulator', custom_attributes: { note: 'tab\there, quote " and é' } });
    const id = cmd.payment.operation_reference!;
    const now = Date.now();
    const payment = JSON.stringify(cmd.payment);
    const record = { state: 'SUCCEEDED', command: 'sale', channel: 'web', payment, created_at: String(now), updated_at: String(now + 10) };
    const line = canonicalJson({ type: 'operation', id, record, history: [JSON.stringify({ event: 'attempt', at: now })], events: [] });

    const summary = await importOperations(redis, config.redis.keyPrefix, Readable.from([`${line}\n`]));

    expect(summary).toMatchObject({ operations: 1, cardDataFound: 0 });
    const record2 = await new Ledger(redis, config.redis.keyPrefix).get(id);
    expect(record2?.payment.custom_attributes).toEqual({ note: 'tab\there, quote " and é' });
  });
});

/** `v` with every JSON text in it parsed (a JSON value's strings printed as they read). */
function decoded(v: string): string {
  try {
    return JSON.stringify(JSON.parse(v), (_k, x: unknown) => (typeof x === 'string' ? decodedString(x) : x));
  } catch {
    return v;
  }
}

function decodedString(s: string): string {
  return s.startsWith('{') || s.startsWith('[') ? decoded(s) : s;
}
