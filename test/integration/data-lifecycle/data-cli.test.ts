import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { dataExport, dataImport, parseTimeArgument } from '../../../src/cli/data-commands';
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
    expect(imported).toMatchObject({ action: 'data.import', outcome: 'ok', target: file, detail: { operations: seeded.all.length, complete: true } });

    // A second import into the now non-empty namespace is refused (exit 2) and audited as refused.
    expect(await dataImport(target, io(), { file })).toBe(2);
    const [refused] = await target.audit.recent(1);
    expect(refused).toMatchObject({ action: 'data.import', outcome: 'refused' });
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
