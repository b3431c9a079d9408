import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import Redis from 'ioredis';
import { RedisClient } from '../../../src/redis/redis-connection';
import { AuditLog } from '../../../src/audit/audit-log';
import { configLoadEntry, recordConfigLoad } from '../../../src/audit/config-load';
import { testConfig, testNamespace } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

const VISA = '4111111111111111';

/** The JSON lines an AuditLog writes, parsed. */
function lineSink(): { stream: PassThrough; lines: () => Record<string, unknown>[] } {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c.toString('utf8')));
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('the audit log (JSON log channel + bounded Redis stream)', () => {
  let redis: RedisClient;
  beforeAll(() => {
    redis = testRedis();
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('writes each entry as an audit-channel log line and a stream entry, and reads them back newest first', async () => {
    const prefix = `${testNamespace()}:`;
    const sink = lineSink();
    const audit = new AuditLog({ redis, prefix, service: 'web', stream: sink.stream });
    await audit.record({ action: 'console.login', actor: 'console:operator@127.0.0.1', outcome: 'ok' }, 1_000);
    const second = await audit.record({ action: 'dead_letter.replay', actor: 'ops@host', outcome: 'dry_run', target: 'dl-1', detail: { count: 1 } }, 2_000);
    expect(second.id).toMatch(/^\d+-\d+$/);
    await tick();
    const lines = sink.lines();
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({
      channel: 'audit',
      service: 'web',
      level: 'info',
      action: 'dead_letter.replay',
      actor: 'ops@host',
      outcome: 'dry_run',
      target: 'dl-1',
      detail: { count: 1 },
      stream: 'written',
      at: new Date(2_000).toISOString(),
    });
    expect(lines[1]).not.toHaveProperty('stream_id');
    const recent = await audit.recent(10);
    expect(recent.map((r) => r.action)).toEqual(['dead_letter.replay', 'console.login']);
    expect(recent[0]).toMatchObject({ at: 2_000, target: 'dl-1', id: second.id });
  });

  it('keeps the stream bounded (XADD MAXLEN ~)', async () => {
    const prefix = `${testNamespace()}:`;
    const audit = new AuditLog({ redis, prefix, maxLen: 10, stream: new PassThrough() });
    for (let i = 0; i < 600; i += 1) await audit.record({ action: 'ops.lookup', actor: 'a@b', outcome: 'ok', target: `ORD-${i}` });
    const length = await redis.xlen(audit.streamKey);
    expect(length).toBeGreaterThanOrEqual(10);
    expect(length).toBeLessThan(300);
  });

  it('never writes a secret or a card number, in the line or the stream', async () => {
    const prefix = `${testNamespace()}:`;
    const sink = lineSink();
    const audit = new AuditLog({ redis, prefix, stream: sink.stream });
    await audit.record({
      action: 'ops.lookup',
      actor: 'a@b',
      outcome: 'ok',
      target: `order ${VISA}`,
      detail: { api_key: 'sk_live_abcdef0123456789', note: `card ${VISA}` },
    });
    await tick();
    const written = JSON.stringify(sink.lines()) + JSON.stringify(await redis.xrange(audit.streamKey, '-', '+'));
    expect(written).not.toContain(VISA);
    expect(written).not.toContain('sk_live_abcdef0123456789');
  });

  it('an unreachable Redis does not fail the action: the line is written and says the stream failed', async () => {
    const down = new Redis('redis://127.0.0.1:1', { maxRetriesPerRequest: 0, lazyConnect: true, retryStrategy: () => null });
    down.on('error', () => undefined);
    const sink = lineSink();
    const audit = new AuditLog({ redis: down, prefix: 'x:', stream: sink.stream });
    const record = await audit.record({ action: 'console.login', actor: 'a@b', outcome: 'refused' });
    expect(record.id).toBeUndefined();
    await tick();
    expect(sink.lines()[0]).toMatchObject({ action: 'console.login', outcome: 'refused', stream_error: expect.any(String) });
    down.disconnect();
  });

  it('records a configuration load by absolute path and SHA-256 of the file, never its values', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pb-audit-'));
    const file = join(dir, 'parameters.yml');
    const text = "parameters:\n  service_bus.secret: '%env(SERVICE_BUS_SECRET)%'\n";
    writeFileSync(file, text);
    const entry = configLoadEntry(file, 'web', { ok: true });
    expect(entry).toMatchObject({
      action: 'config.load',
      outcome: 'ok',
      target: file,
    });
    expect(String(entry.detail?.sha256)).toBe(createHash('sha256').update(text).digest('hex'));
    expect(entry.actor).toMatch(/.+@.+/);
    expect(configLoadEntry(file, 'worker', { ok: false, key: 'amqp.url' })).toMatchObject({ outcome: 'refused', detail: { key: 'amqp.url' } });

    const config = testConfig();
    await recordConfigLoad(config, entry, 'web');
    const rows = await redis.xrange(`${config.redis.keyPrefix}audit`, '-', '+');
    expect(rows).toHaveLength(1);
    const stored = rows[0][1][1];
    expect(JSON.parse(stored)).toMatchObject({ action: 'config.load', target: file });
    expect(stored).not.toContain(config.serviceBus.secret);
  });

  it("records a configuration file's SHA-256 whole where the card-number scan would mask part of its hex", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pb-audit-'));
    const file = join(dir, 'parameters.yml');
    // This file's digest holds the Luhn-valid digit run 202101084681 (41fdb81c…a202101084681dd1f…).
    writeFileSync(file, 'parameters:\n  log.level: info # 94\n');
    const hex = '41fdb81c97824588d1be029b298a202101084681dd1fcdc4b2441605a803579c';
    const sink = lineSink();
    const audit = new AuditLog({ redis, prefix: `${testNamespace()}:`, stream: sink.stream });
    const record = await audit.record(configLoadEntry(file, 'worker', { ok: true }));
    await tick();
    expect(sink.lines()[0]).toMatchObject({ action: 'config.load', detail: { sha256: hex } });
    const [[, fields]] = await redis.xrange(audit.streamKey, '-', '+');
    expect(JSON.parse(fields[1])).toMatchObject({ detail: { sha256: hex } });
    expect(JSON.stringify(record)).toContain(hex);
    await redis.del(audit.streamKey);
  });
});
