import { Writable } from 'node:stream';
import { RedisClient } from '../redis/redis-connection';
import { Logger, createLogger } from '../logging/logger';
import { HashDigest } from '../logging/hash-digest';
import { redact } from '../logging/redact';
import { counter } from '../metrics/metrics-registry';

/** How an administrative action ended. `dry_run`: looked at, nothing changed. */
export type AuditOutcome = 'ok' | 'refused' | 'failed' | 'dry_run';

/**
 * One audit entry: who did what to what, when, and how it ended. Values are short identifiers and counts,
 * never secrets, card data or message bodies (the entry is redacted again before it is written anyway).
 */
export interface AuditEntry {
  /** What was done: `config.load`, `console.login`, `dead_letter.replay`, `ops.lookup`… (dotted, lower case). */
  action: string;
  /** Who: `<os user>@<host>` for the CLI and processes, `console:<login name>@<client address>` for the console. */
  actor: string;
  outcome: AuditOutcome;
  /** What it was done to: an operation id, an order id, a dead-letter id, a file path. */
  target?: string;
  /**
   * Small facts about it (a count, a reason code, a SHA-256). A digest goes in as a {@link HashDigest}, which
   * redaction leaves whole; read back from the stream, it is its hex string.
   */
  detail?: Record<string, string | number | boolean | HashDigest>;
}

/** An entry as recorded: with its time (epoch ms), and its stream id once it is in Redis. */
export interface AuditRecord extends AuditEntry {
  at: number;
  /** The Redis stream entry id (absent when only the log line was written). */
  id?: string;
}

/** Default number of entries the Redis stream keeps (approximately). */
export const DEFAULT_AUDIT_STREAM_MAX_LEN = 10_000;

const auditWrites = counter('pb_audit_entries_total', 'Audit entries written, by action family and whether the Redis stream took them', ['family', 'stream']);

/**
 * The audit log: an append-only record of configuration loads and administrative actions, written twice:
 * - a JSON log line on its own channel (`"channel":"audit"`, level info whatever `log.level` says), what a
 *   log pipeline keeps and what survives Redis being down;
 * - an entry of the Redis stream `<prefix>audit`, trimmed to about `maxLen` entries (`XADD MAXLEN ~`),
 *   which the operator console shows.
 * Nothing in it is ever edited or removed except by that trim. A failed stream write never fails the
 * action: it is said on the log line (`stream_error`) and counted.
 */
export class AuditLog {
  private readonly lines: Logger;

  constructor(
    private readonly deps: {
      /** Without Redis (a process that has none yet) only the log line is written. */
      redis?: RedisClient;
      /** The Redis key prefix (`redis.key_prefix`). */
      prefix: string;
      /** Entries the stream keeps, approximately. Default {@link DEFAULT_AUDIT_STREAM_MAX_LEN}. */
      maxLen?: number;
      /** The process role, on every line. */
      service?: string;
      /** Where the JSON lines go (tests); default stdout. */
      stream?: Writable;
    },
  ) {
    this.lines = createLogger({ service: deps.service, level: 'info', stream: deps.stream }).child({ channel: 'audit' });
  }

  /** Key of the Redis stream. */
  get streamKey(): string {
    return auditStreamKey(this.deps.prefix);
  }

  /** Records `entry` (log line, then the stream) and returns it as recorded. Never throws for a stream failure. */
  async record(entry: AuditEntry, now = Date.now()): Promise<AuditRecord> {
    const clean = redact(entry);
    const record: AuditRecord = { ...clean, at: now };
    let streamError: string | undefined;
    if (this.deps.redis) {
      try {
        const id = await this.deps.redis.xadd(
          this.streamKey,
          'MAXLEN',
          '~',
          this.deps.maxLen ?? DEFAULT_AUDIT_STREAM_MAX_LEN,
          '*',
          'entry',
          JSON.stringify(record),
        );
        if (id) record.id = id;
      } catch (err) {
        streamError = (err as Error).message;
      }
    }
    this.lines.info(`audit: ${clean.action}`, {
      action: clean.action,
      actor: clean.actor,
      outcome: clean.outcome,
      ...(clean.target === undefined ? {} : { target: clean.target }),
      ...(clean.detail === undefined ? {} : { detail: clean.detail }),
      at: new Date(now).toISOString(),
      // Not the stream id: one `<ms>-<seq>` id in ten passes the card-number scan and would be logged
      // masked. The stream entry carries the same `at` for correlation.
      ...(record.id ? { stream: 'written' } : {}),
      ...(streamError ? { stream_error: streamError } : {}),
    });
    auditWrites.inc({ family: clean.action.split('.')[0], stream: record.id ? 'written' : this.deps.redis ? 'failed' : 'none' });
    return record;
  }

  /** The latest `limit` entries of the stream, newest first. */
  async recent(limit = 50): Promise<AuditRecord[]> {
    if (!this.deps.redis) return [];
    const rows = await this.deps.redis.xrevrange(this.streamKey, '+', '-', 'COUNT', limit);
    const out: AuditRecord[] = [];
    for (const [id, fields] of rows) {
      const json = fields[fields.indexOf('entry') + 1];
      try {
        out.push({ ...(JSON.parse(json) as AuditRecord), id });
      } catch {
        // an entry written by something else: skip it rather than fail the page
      }
    }
    return out;
  }
}

/** Key of the audit stream under a Redis key prefix. */
export function auditStreamKey(prefix: string): string {
  return `${prefix}audit`;
}
