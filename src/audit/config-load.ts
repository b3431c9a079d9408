import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Config } from '../config/config';
import { HashDigest } from '../logging/hash-digest';
import { DEFAULT_CONFIG_PATH } from '../config/load-config';
import { createRedis } from '../redis/redis-connection';
import { AuditEntry, AuditLog } from './audit-log';
import { processActor } from './actor';

/**
 * The audit entry of a configuration load: which file (absolute path) with which content (SHA-256 of its
 * bytes: the file holds `%env()%` references, not secrets, and a hash reveals nothing anyway), by whom,
 * for which role, and whether it was accepted (`refused`: the key at fault). Never the values.
 */
export function configLoadEntry(path: string | undefined, role: string, outcome: { ok: true } | { ok: false; key: string }): AuditEntry {
  const file = resolve(path ?? process.env.PB_CONFIG ?? DEFAULT_CONFIG_PATH);
  let sha256: HashDigest | 'unreadable' = 'unreadable';
  try {
    sha256 = HashDigest.sha256(readFileSync(file));
  } catch {
    // the load itself says why; the entry still records the attempt
  }
  return {
    action: 'config.load',
    actor: processActor(),
    outcome: outcome.ok ? 'ok' : 'refused',
    target: file,
    detail: { role, sha256, pid: process.pid, ...(outcome.ok ? {} : { key: outcome.key }) },
  };
}

/**
 * Writes a configuration load to the audit log: its log line at once, and to the Redis stream on a
 * short-lived connection, best effort (bounded by a 3 s timeout: a process must not wait on its audit entry
 * to start; the log line is the record then).
 */
export async function recordConfigLoad(config: Config, entry: AuditEntry, role: string): Promise<void> {
  const redis = createRedis(config.redis, 'commands');
  redis.on('error', () => undefined);
  const audit = new AuditLog({ redis, prefix: config.redis.keyPrefix, maxLen: config.audit.streamMaxLen, service: role });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([audit.record(entry), new Promise((r) => (timer = setTimeout(r, 3000)))]);
  } finally {
    clearTimeout(timer);
    redis.disconnect();
  }
}
