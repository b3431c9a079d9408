/**
 * An import file's network transaction ids where the bridge writes its own (the record's `network_transaction_id`, an
 * outcome history entry's, an event's `payment.network_transaction_id`), on the real Redis (namespaces of the test's
 * own): a file may have been edited, so a card-like value there is kept whole only when the importing namespace's
 * issued-token index holds it as an id the bridge reported; a card number forged there reaches no Redis key or value,
 * no log line and no summary.
 */
import { Readable, Writable } from 'node:stream';
import { Config } from '../../../src/config/config';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { importOperations } from '../../../src/data-lifecycle/import';
import { canonicalJson } from '../../../src/data-lifecycle/operation-snapshot';
import { IssuedTokens } from '../../../src/ledger/issued-tokens';
import { Ledger } from '../../../src/ledger/ledger';
import { createLogger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { unlinkMatching } from '../../../src/redis/key-scan';
import { RedisClient } from '../../../src/redis/redis-connection';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';
import { luhnComplete } from '../../support/luhn';
import { redisText } from '../../support/redis-text';

const PAN = '4111111111111111';
const PAN_MASK = '[PAN REDACTED]';
/** A Visa transaction identifier (15 digits) passing the Luhn check, which the importing namespace's index holds. */
const REPORTED = luhnComplete('48301928374650');
/** A Mastercard one: no card number's shape, kept whatever the index holds. */
const PLAIN = 'MCC0123456789';

let redis: RedisClient;
const prefixes: string[] = [];

function setup(): { config: Config; index: IssuedTokens } {
  const config = testConfig();
  prefixes.push(config.redis.keyPrefix);
  return { config, index: new IssuedTokens(new Ledger(redis, config.redis.keyPrefix), config.serviceBus) };
}

const idOf = (cmd: PaymentCommand) => cmd.payment.operation_reference!;

/** An operation line holding `networkId` where the bridge writes a PSP's id: its record, its outcome entry, its event. */
function lineWith(networkId: string, payment: Record<string, unknown> = {}): { id: string; line: string } {
  const cmd = channelCommand('sale', {}, { gateway: 'cybersource', ...payment });
  const now = Date.now();
  const id = idOf(cmd);
  const record = {
    state: 'SUCCEEDED',
    command: 'sale',
    channel: 'web',
    payment: JSON.stringify(cmd.payment),
    network_transaction_id: networkId,
    created_at: String(now),
    updated_at: String(now + 10),
  };
  const history = [JSON.stringify({ event: 'attempt', at: now }), JSON.stringify({ event: 'outcome', at: now + 10, network_transaction_id: networkId })];
  const params = JSON.stringify({ payment: { ...cmd.payment, status: 'SUCCESS', network_transaction_id: networkId } });
  const events = [{ id: `${id}.SUCCEEDED`, hash: { method: 'magento.payments.payments_management.validated', params, sequence: '1' } }];
  return { id, line: canonicalJson({ type: 'operation', id, record, history, events }) };
}

/** Every key of the namespace and every value it holds, as text, on every primary (a Redis Cluster's too). */
const namespaceText = (prefix: string): Promise<string> => redisText(redis, prefix);

/** A logger writing its lines into `lines`, at the level the import command runs it. */
function capturingLogger(lines: string[]) {
  const stream = new Writable({ write: (chunk: Buffer, _e, done) => (lines.push(chunk.toString('utf8')), done()) });
  return createLogger({ service: 'import', level: 'warn', stream });
}

beforeAll(() => {
  redis = testRedis();
});

afterAll(async () => {
  for (const p of prefixes) await unlinkMatching(redis, `${p}*`);
  redis.disconnect();
});

describe('an import file’s network transaction ids in the fields the bridge writes its own', () => {
  it('a card number forged as the network transaction id reaches no Redis key or value, no log line and no summary: masked and counted', async () => {
    const { config } = setup();
    const forged = lineWith(PAN);
    const lines: string[] = [];
    const before = await metricValue('pb_import_card_data_total');
    const summary = await importOperations(redis, config.redis.keyPrefix, Readable.from([`${forged.line}\n`]), {
      logger: capturingLogger(lines),
      issuedTokens: { secrets: config.serviceBus, gateways: config.gateways },
    });

    expect(summary).toMatchObject({ operations: 1, cardDataFound: 1 });
    expect(JSON.stringify(summary)).not.toContain(PAN);
    const stored = await namespaceText(config.redis.keyPrefix);
    expect(stored).toContain(forged.id);
    expect(stored).not.toContain(PAN);
    expect(stored).toContain(PAN_MASK);
    expect(await metricValue('pb_import_card_data_total')).toBe(before + 1);
    // One error line naming the operation and the fields, never the value.
    expect(lines.join('')).not.toContain(PAN);
    expect(lines).toHaveLength(1);
    const logged = JSON.parse(lines[0]) as { operation_id: string; paths: string[] };
    expect(logged.operation_id).toBe(forged.id);
    expect(logged.paths).toEqual(
      expect.arrayContaining(['record.network_transaction_id', 'history[1].network_transaction_id', 'events[0].hash.params.payment.network_transaction_id']),
    );
  });

  it('a card-like id the importing namespace’s index holds as reported, and an id of no card number’s shape, are kept whole and not counted', async () => {
    const { config, index } = setup();
    expect(await index.recordNetworkId(REPORTED, 'cybersource')).toBe(true);
    const reported = lineWith(REPORTED);
    const plain = lineWith(PLAIN);
    const summary = await importOperations(redis, config.redis.keyPrefix, Readable.from([`${reported.line}\n${plain.line}\n`]), {
      issuedTokens: { secrets: config.serviceBus, gateways: config.gateways },
    });

    expect(summary).toMatchObject({ operations: 2, cardDataFound: 0 });
    const ledger = new Ledger(redis, config.redis.keyPrefix);
    expect((await ledger.get(reported.id))?.networkTransactionId).toBe(REPORTED);
    expect((await ledger.get(plain.id))?.networkTransactionId).toBe(PLAIN);
    const stored = await namespaceText(config.redis.keyPrefix);
    expect(stored.split(REPORTED).length - 1).toBe(3);
  });

  it('a note holding the text the export once stood in for a kept id with comes back byte for byte beside a masked card number', async () => {
    const { config, index } = setup();
    expect(await index.recordNetworkId(REPORTED, 'cybersource')).toBe(true);
    const note = '~pbntida~ ~pbntidb~';
    const line = lineWith(REPORTED, { custom_attributes: { note, card: PAN } });
    const summary = await importOperations(redis, config.redis.keyPrefix, Readable.from([`${line.line}\n`]), {
      issuedTokens: { secrets: config.serviceBus, gateways: config.gateways },
    });

    expect(summary).toMatchObject({ operations: 1, cardDataFound: 1 });
    const record = await new Ledger(redis, config.redis.keyPrefix).get(line.id);
    expect(record?.payment.custom_attributes).toEqual({ note, card: PAN_MASK });
    expect(record?.networkTransactionId).toBe(REPORTED);
  });

  it('without the index (no secrets), a card-like id there is masked and counted', async () => {
    const { config } = setup();
    const line = lineWith(REPORTED);
    const summary = await importOperations(redis, config.redis.keyPrefix, Readable.from([`${line.line}\n`]));
    expect(summary).toMatchObject({ operations: 1, cardDataFound: 1 });
    expect(await namespaceText(config.redis.keyPrefix)).not.toContain(REPORTED);
  });
});
