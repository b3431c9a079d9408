import { mkdtempSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { dataExport, dataImport, parseTimeArgument } from '../../../src/cli/data-commands';
import { IssuedTokens } from '../../../src/ledger/issued-tokens';
import { silentLogger } from '../../../src/logging/logger';
import { OpsContext, openOps } from '../../../src/ops/ops-context';
import { seedLedger } from '../../support/ledger-scenario';
import { testConfig } from '../../support/test-config';
import { unlinkMatching } from '../../../src/redis/key-scan';

const io = () => ({ out: new PassThrough(), err: new PassThrough(), actor: 'tester@ci' });
const contexts: OpsContext[] = [];
function context(): OpsContext {
  const ctx = openOps(testConfig(), silentLogger(), { service: 'ops', auditStream: new PassThrough() });
  contexts.push(ctx);
  return ctx;
}

afterAll(async () => {
  for (const ctx of contexts) {
    await unlinkMatching(ctx.redis, `${ctx.config.redis.keyPrefix}*`);
    await ctx.close();
  }
});

describe('payment-bridge export / import', () => {
  it('writes the export file atomically, restores it into an empty namespace, and audit-logs both with counts and the file digest', async () => {
    const source = context();
    const seeded = await seedLedger(source.redis, source.config.redis.keyPrefix);
    // A stored token the authorization handed the OMS that reads as a card number (noted in the index first, as the
    // outcome recorder does): the export vouches for it, and the import notes it as issued again.
    expect(await new IssuedTokens(source.ledger, source.config.serviceBus).record('shopper-cli-0042:5300912374650184', 'simulator')).toBe(true);
    await source.ledger.setFieldOnceAndGet(seeded.auth, 'stored_token', 'shopper-cli-0042:5300912374650184');
    const dir = mkdtempSync(join(tmpdir(), 'pb-export-'));
    const file = join(dir, 'ledger.ndjson');
    expect(await dataExport(source, io(), { format: 'ndjson', out: file, to: String(Date.now() + 60_000) })).toBe(0);
    expect(existsSync(`${file}.partial`)).toBe(false);
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(seeded.all.length + 2);
    const [exported] = await source.audit.recent(1);
    expect(exported).toMatchObject({ action: 'data.export', outcome: 'ok', target: file, detail: { operations: seeded.all.length, format: 'ndjson' } });

    const target = context();
    expect(await dataImport(target, io(), { file })).toBe(0);
    expect((await target.ledger.get(seeded.auth))?.state).toBe('SUCCEEDED');
    const [imported] = await target.audit.recent(1);
    expect(imported).toMatchObject({
      action: 'data.import',
      outcome: 'ok',
      target: file,
      detail: { operations: seeded.all.length, complete: true, card_data_found: 0, issued_tokens_kept: 0, issued_tokens_indexed: 1 },
    });

    // A second import into the now non-empty namespace is refused (exit 2) and audited as refused.
    expect(await dataImport(target, io(), { file })).toBe(2);
    const [refused] = await target.audit.recent(1);
    expect(refused).toMatchObject({ action: 'data.import', outcome: 'refused' });
  });

  it('warns of card data an import file held, names where (never what), audits the count, and writes it masked', async () => {
    const source = context();
    const seeded = await seedLedger(source.redis, source.config.redis.keyPrefix);
    const dir = mkdtempSync(join(tmpdir(), 'pb-import-'));
    const file = join(dir, 'ledger.ndjson');
    expect(await dataExport(source, io(), { format: 'ndjson', out: file, to: String(Date.now() + 60_000) })).toBe(0);
    // A history entry added by hand (or a file made elsewhere): a card number the bridge itself never writes.
    const pan = '4532 0193 8475 6127';
    const lines = readFileSync(file, 'utf8').split('\n');
    const at = lines.findIndex((l) => l.includes(`"id":"${seeded.auth}"`));
    const snap = JSON.parse(lines[at]) as { history: string[] };
    snap.history.push(JSON.stringify({ event: 'note', text: `card ${pan} on the phone`, at: 1 }));
    lines[at] = JSON.stringify(snap);
    writeFileSync(file, lines.join('\n'));

    const target = context();
    const output = io();
    let printed = '';
    output.err.on('data', (c: Buffer) => (printed += c.toString('utf8')));
    expect(await dataImport(target, output, { file })).toBe(0);
    expect(printed).toContain('WARNING: card data found in 1 operation(s) of the file, masked before it was written');
    expect(printed).toContain('"message":"card data found in an import file: masked before it was written"');
    expect(printed).toContain(`history[${snap.history.length - 1}]`);
    expect(printed.replace(/\s/g, '')).not.toContain(pan.replace(/\s/g, ''));
    const history = await target.ledger.interactions(seeded.auth);
    expect(JSON.stringify(history)).toContain('card [PAN REDACTED] on the phone');
    const [imported] = await target.audit.recent(1);
    expect(imported).toMatchObject({ action: 'data.import', outcome: 'ok', detail: { card_data_found: 1 } });
  });
});

describe('parseTimeArgument', () => {
  it('reads epoch ms, ISO date-times and dates (a --to date is its whole day)', () => {
    expect(parseTimeArgument('1700000000000')).toBe(1700000000000);
    expect(parseTimeArgument('2026-11-01')).toBe(Date.UTC(2026, 10, 1));
    expect(parseTimeArgument('2026-11-01', true)).toBe(Date.UTC(2026, 10, 2) - 1);
    expect(parseTimeArgument('2026-11-01T12:00:00Z')).toBe(Date.UTC(2026, 10, 1, 12));
    expect(() => parseTimeArgument('yesterday')).toThrow(/"yesterday" is not a time/);
  });
});
