import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { once } from 'node:events';
import { dirname } from 'node:path';
import Redis from 'ioredis';
import { ExportOptions, ExportSummary, exportOperations } from './export';

/**
 * Exports to `path` durably: written to `<path>.partial`, flushed to disk (fsync), then renamed, so a file
 * under its final name is always complete (a crash leaves only a `.partial` behind, removed on failure).
 */
export async function exportToFile(redis: Redis, prefix: string, path: string, options: ExportOptions): Promise<ExportSummary> {
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
