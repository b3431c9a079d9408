/**
 * A console lookup longer than the form allows (200 characters) is refused with 400 naming the field,
 * as the console answers other bad input; it used to be cut to 200 characters and looked up, so what was
 * searched (and audit-logged) was not what was sent (OWASP Input Validation Cheat Sheet: reject, do not
 * repair).
 */
import { CONSOLE_PASSWORD, ConsoleStack, startConsoleStack } from '../../support/console-stack';
import { Config } from '../../../src/config/config';
import { auditStreamKey } from '../../../src/audit/audit-log';
import { RedisClient } from '../../../src/redis/redis-connection';
import { consoleLogin, consoleLookup, sessionCookie } from '../../support/console-login';

const PASSWORD = CONSOLE_PASSWORD;

describe('console input bounds: lookup query length, replay size', () => {
  let stack: ConsoleStack;
  let config: Config;
  let base: string;
  let redis: RedisClient;
  let cookie: string;

  beforeAll(async () => {
    stack = await startConsoleStack();
    ({ config, base, redis } = stack);
    cookie = sessionCookie(await consoleLogin(base, PASSWORD));
  });

  afterAll(() => stack.stop());

  const lookup = (q: string) => consoleLookup(base, cookie, q);
  const lookups = async () =>
    (await redis.xrange(auditStreamKey(config.redis.keyPrefix), '-', '+'))
      .map(([, f]) => JSON.parse(f[1]) as { action: string })
      .filter((e) => e.action === 'ops.lookup');

  it('answers 400 naming q for 201 characters, and looks nothing up', async () => {
    const before = (await lookups()).length;
    const res = await lookup(`order-${'x'.repeat(195)}`);
    expect(res.status).toBe(400);
    const page = await res.text();
    expect(page).toContain('The lookup field q is longer than 200 characters');
    expect(page).not.toContain('x'.repeat(195));
    expect(await lookups()).toHaveLength(before);
  });

  it('answers 400 to a replay naming more than 200 dead letters, naming the parameter id, and replays none of them', async () => {
    const csrf = /name="csrf" value="([^"]+)"/.exec(await (await fetch(base, { headers: { cookie } })).text())?.[1] ?? '';
    expect(csrf).not.toBe('');
    const ids = Array.from({ length: 201 }, (_, n) => `id=dl-${n.toString(16).padStart(24, '0')}`);
    const res = await fetch(`${base}/dead-letters/replay`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: [...ids, 'mode=dry_run', `csrf=${encodeURIComponent(csrf)}`].join('&'),
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('One replay takes at most 200 dead letters (the parameter id names 201)');
  });

  it('still looks up 200 characters, and a query padded with spaces around it', async () => {
    expect((await lookup('y'.repeat(200))).status).toBe(200);
    expect((await lookup(`  ${'z'.repeat(200)}  `)).status).toBe(200);
  });
});
