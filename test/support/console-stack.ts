import { auditStreamKey } from '../../src/audit/audit-log';
import { Config } from '../../src/config/config';
import { silentLogger } from '../../src/logging/logger';
import { WebProcess, startWebProcess } from '../../src/processes/web-process';
import { RedisClient } from '../../src/redis/redis-connection';
import { amqpClient } from './amqp-helpers';
import { testConfig } from './test-config';
import { testRedis } from './test-redis';

/** The console password of {@link startConsoleStack} unless the overrides give another. */
export const CONSOLE_PASSWORD = 'console-test-password-0123';

/** A web process with its console on a port of its own, in a namespace of its own. */
export interface ConsoleStack {
  config: Config;
  web: WebProcess;
  /** The console's URL (`console.path` on its listener). */
  base: string;
  redis: RedisClient;
  /** Stops the web process, closes Redis and deletes the namespace's queues. */
  stop(): Promise<void>;
}

/** Starts a web process with the console enabled (`console.password` {@link CONSOLE_PASSWORD}), with `overrides` on top. */
export async function startConsoleStack(overrides: Record<string, unknown> = {}): Promise<ConsoleStack> {
  const config = testConfig({ 'console.enabled': true, 'console.port': 0, 'console.password': CONSOLE_PASSWORD, ...overrides });
  const web = await startWebProcess(config, silentLogger());
  const redis = testRedis(config);
  return {
    config,
    web,
    base: web.consoleUrl as string,
    redis,
    stop: async () => {
      await web.stop();
      redis.disconnect();
      const client = await amqpClient(config);
      await client.deleteNamespace();
      await client.close();
    },
  };
}

/** An audit entry as the console tests read it back. */
export interface AuditEntry {
  action: string;
  actor: string;
  outcome: string;
  target?: string;
  detail?: Record<string, unknown>;
}

/** What a logged-in operator does on a {@link ConsoleStack}: load the dashboard, post a form, read the audit log. */
export interface ConsoleSession {
  /** The session cookie (`name=value`), for a GET of another page. */
  cookie: string;
  /** The dashboard's HTML. */
  dashboard(): Promise<string>;
  /** The session's CSRF token as the dashboard's forms carry it, URL-encoded for a form body. */
  csrf(): Promise<string>;
  /** Posts the form-encoded `body` to `<console>/<path>` as the browser does (redirects not followed). */
  post(path: string, body: string): Promise<Response>;
  /** The audit log's entries whose action starts with `action`, oldest first. */
  audited(action: string): Promise<AuditEntry[]>;
}

/** A session of `cookie` (see `sessionCookie`) on `stack`. */
export function consoleSession(stack: ConsoleStack, cookie: string): ConsoleSession {
  const dashboard = async () => (await fetch(stack.base, { headers: { cookie } })).text();
  return {
    cookie,
    dashboard,
    csrf: async () => encodeURIComponent(/name="csrf" value="([^"]+)"/.exec(await dashboard())?.[1] ?? ''),
    post: (path, body) =>
      fetch(`${stack.base}/${path}`, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body }),
    audited: async (action) =>
      (await stack.redis.xrange(auditStreamKey(stack.config.redis.keyPrefix), '-', '+'))
        .map(([, f]) => JSON.parse(f[1]) as AuditEntry)
        .filter((e) => e.action.startsWith(action)),
  };
}
