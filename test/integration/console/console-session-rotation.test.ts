/**
 * Rotating the console password (docs/RUNBOOK.md: change CONSOLE_PASSWORD, restart `web`) ends the sessions
 * opened with the old one. Sessions live in Redis and survive a restart, so without this a session taken
 * with a leaked password (or an operator who left) kept working for up to `console.session_ttl_ms` after
 * the rotation meant to lock it out.
 */
import { Config } from '../../../src/config/config';
import { silentLogger } from '../../../src/logging/logger';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { amqpClient } from '../../support/amqp-helpers';
import { testConfig } from '../../support/test-config';
import { consoleLogin, sessionCookie } from '../../support/console-login';

const OLD_PASSWORD = 'console-old-password-0123456';
const NEW_PASSWORD = 'console-new-password-6543210';

describe('console sessions across a password rotation', () => {
  const configs: Config[] = [];
  let web: WebProcess | undefined;

  /** Starts `web` with the console on `password`, sharing the first configuration's Redis namespace. */
  async function restartWith(password: string): Promise<string> {
    await web?.stop();
    const config = testConfig({
      'console.enabled': true,
      'console.port': 0,
      'console.password': password,
      ...(configs[0] ? { 'redis.key_prefix': configs[0].redis.keyPrefix } : {}),
    });
    configs.push(config);
    web = await startWebProcess(config, silentLogger());
    return web.consoleUrl as string;
  }

  afterAll(async () => {
    await web?.stop();
    for (const config of configs) {
      const client = await amqpClient(config);
      await client.deleteNamespace();
      await client.close();
    }
  });

  async function login(base: string, password: string): Promise<string> {
    const res = await consoleLogin(base, password);
    expect(res.status).toBe(303);
    return sessionCookie(res);
  }

  const dashboard = async (base: string, cookie: string) => (await fetch(base, { redirect: 'manual', headers: { cookie } })).status;

  it('keeps a session over a restart with the same password, and ends it when the password changed', async () => {
    let base = await restartWith(OLD_PASSWORD);
    const cookie = await login(base, OLD_PASSWORD);
    expect(await dashboard(base, cookie)).toBe(200);

    base = await restartWith(OLD_PASSWORD);
    expect(await dashboard(base, cookie)).toBe(200);

    base = await restartWith(NEW_PASSWORD);
    const after = await fetch(base, { redirect: 'manual', headers: { cookie } });
    expect(after.status).toBe(303);
    expect(after.headers.get('location')).toMatch(/\/login$/);
    // Nor does it come back if the old password is put back: the session is gone.
    base = await restartWith(OLD_PASSWORD);
    expect(await dashboard(base, cookie)).toBe(303);
    // A login with the password in force works as ever.
    expect(await dashboard(base, await login(base, OLD_PASSWORD))).toBe(200);
  });
});
