/**
 * Every answer of the console's listener carries the console's security headers, also the generic ones the
 * web server and the allowlist write (404 for a path no route serves, 403 from `edge.allow.admin`, 500 when
 * a handler throws), not only the pages the console renders: a JSON error framed or sniffed on the console's
 * origin, or kept by a cache, is the same exposure as a page (OWASP Secure Headers Project; RFC 9111 §5.2.2.5
 * for no-store). The intake's listener keeps its own answers: its generic errors get only `nosniff` and
 * `no-store`, harmless on any JSON answer, and nothing that is about pages.
 */
import { createHash } from 'node:crypto';
import { Config } from '../../../src/config/config';
import { silentLogger } from '../../../src/logging/logger';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { RedisClient } from '../../../src/redis/redis-connection';
import { amqpClient } from '../../support/amqp-helpers';
import { testConfig } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

const PASSWORD = 'console-test-password-0123';

const CONSOLE_HEADERS = {
  'content-security-policy': expect.stringContaining("frame-ancestors 'none'") as unknown,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
  'permissions-policy': expect.stringContaining('camera=(), clipboard-read=()') as unknown,
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'x-permitted-cross-domain-policies': 'none',
};

function headersOf(res: Response): Record<string, string> {
  return Object.fromEntries(res.headers.entries());
}

describe('security headers on every answer of the console listener', () => {
  const started: { config: Config; web: WebProcess }[] = [];
  let redis: RedisClient;

  async function start(overrides: Record<string, unknown>): Promise<{ config: Config; web: WebProcess }> {
    const config = testConfig({ 'console.enabled': true, 'console.port': 0, 'console.password': PASSWORD, ...overrides });
    const web = await startWebProcess(config, silentLogger());
    started.push({ config, web });
    return { config, web };
  }

  afterAll(async () => {
    redis?.disconnect();
    for (const { config, web } of started) {
      await web.stop();
      const client = await amqpClient(config);
      await client.deleteNamespace();
      await client.close();
    }
  });

  it('404 of a path no route serves, and 500 of a handler that threw', async () => {
    const { config, web } = await start({});
    const origin = web.console?.url as string;
    const missing = await fetch(`${origin}/not-the-console`);
    expect(missing.status).toBe(404);
    expect(headersOf(missing)).toMatchObject(CONSOLE_HEADERS);
    // A session record Redis holds garbled makes the console's handler throw: the server answers 500.
    redis = testRedis(config);
    const id = 'A'.repeat(43);
    await redis.set(`${config.redis.keyPrefix}console:session:${createHash('sha256').update(id).digest('hex')}`, 'not json', 'PX', 60_000);
    const failed = await fetch(web.consoleUrl as string, { headers: { cookie: `pb_console=${id}` } });
    expect(failed.status).toBe(500);
    expect(await failed.json()).toEqual({ error: 'internal error' });
    expect(headersOf(failed)).toMatchObject(CONSOLE_HEADERS);
  });

  it('403 of edge.allow.admin', async () => {
    const { web } = await start({ 'edge.allow.admin': ['192.0.2.0/24'] });
    const refused = await fetch(web.consoleUrl as string);
    expect(refused.status).toBe(403);
    expect(headersOf(refused)).toMatchObject(CONSOLE_HEADERS);
    // The intake's listener: the same 403 (on /metrics, an admin surface) and its 404 get nosniff and
    // no-store only; the page headers stay the console's.
    for (const path of ['/metrics', '/no-such-route']) {
      const res = await fetch(`${web.server.url}${path}`);
      expect(res.status).toBe(path === '/metrics' ? 403 : 404);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('content-security-policy')).toBeNull();
      expect(res.headers.get('x-frame-options')).toBeNull();
    }
  });
});
