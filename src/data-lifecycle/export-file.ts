import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { once } from 'node:events';
import { dirname } from 'node:path';
import { RedisClient } from '../redis/redis-connection';
import { ExportOptions, ExportSummary, exportOperations } from './export';
import { ExportHeader, OperationSnapshot, canonicalJson } from './operation-snapshot';

/**
 * Exports to `path` durably: written to `<path>.partial`, flushed to disk (fsync), then renamed, so a file
 * under its final name is always complete (a crash leaves only a `.partial` behind, removed on failure).
 */
export async function exportToFile(redis: RedisClient, prefix: string, path: string, options: ExportOptions): Promise<ExportSummary> {
  await mkdir(dirname(path), { recursive: true });
  const partial = `${path}.partial`;
  const out = createWriteStream(partial, { flags: 'w' });
  try {
    const summary = await exportOperations(redis, prefix, out, options);
    out.end();
    await once(out, 'finish');
    const handle = await open(partial, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(partial, path);
    return summary;
  } catch (err) {
    out.destroy();
    await unlink(partial).catch(() => undefined);
    throw err;
  }
}

/**
 * Writes `snapshots` as a complete ndjson export file (header, lines, end line) at `path`, durably as
 * `exportToFile` does: what retention archives before it expires anything; `payment-bridge import` reads it.
 */
export async function writeSnapshotFile(path: string, snapshots: readonly OperationSnapshot[]): Promise<{ bytes: number }> {
  const created = snapshots.map((s) => Number(s.indexes.created ?? s.record.created_at ?? 0));
  const header: ExportHeader = {
    type: 'header',
    format: 'payment-bridge.export',
    version: 1,
    from: created.length > 0 ? Math.min(...created) : 0,
    to: created.length > 0 ? Math.max(...created) : 0,
  };
  const text =
    [canonicalJson(header), ...snapshots.map((s) => canonicalJson(s)), canonicalJson({ type: 'end', operations: snapshots.length })].join('\n') + '\n';
  await mkdir(dirname(path), { recursive: true });
  const partial = `${path}.partial`;
  const handle = await open(partial, 'w');
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(partial, path);
  return { bytes: Buffer.byteLength(text) };
}
