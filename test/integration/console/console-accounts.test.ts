/**
 * Named console accounts (`console.accounts`): each person logs in as themselves, the audit log and the log
 * lines name who acted, a viewer reads and is refused every action, a login for no account costs what a wrong
 * password does, and an account removed (restart with the new configuration) loses its sessions.
 */
import { randomBytes, scryptSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as passwordHash from '../../../src/config/console-password-hash';
import { Config } from '../../../src/config/config';
import { Logger, silentLogger } from '../../../src/logging/logger';
import { metricsRegistry } from '../../../src/metrics/metrics-registry';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { RedisClient } from '../../../src/redis/redis-connection';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { consoleLogin, sessionCookie } from '../../support/console-login';
import { ConsoleStack, consoleSession } from '../../support/console-stack';
import { testConfig } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

const ALICE = { username: 'alice', password: 'alice-console-password-01', role: 'operator' };
const BOB_PASSWORD = 'bob-console-password-0123';

describe('console: named accounts with roles', () => {
  const configs: Config[] = [];
  let web: WebProcess | undefined;
  let redis: RedisClient;
  let bob: { username: string; password: string; role: string };
  let stack: ConsoleStack;

  /** Starts `web` with `accounts` (or the single-account `overrides`), sharing the first configuration's namespace. */
  async function restartWith(settings: Record<string, unknown>, logger: Logger = silentLogger()): Promise<ConsoleStack> {
    await web?.stop();
    const config = testConfig({
      'console.enabled': true,
      'console.port': 0,
      ...settings,
      ...(configs[0] ? { 'redis.key_prefix': configs[0].redis.keyPrefix } : {}),
    });
    configs.push(config);
    web = await startWebProcess(config, logger);
    redis ??= testRedis(config);
    stack = { config: configs[0], web, base: web.consoleUrl as string, redis, stop: async () => undefined };
    return stack;
  }

  const login = async (user: string, password: string) => {
    const res = await consoleLogin(stack.base, password, {}, user);
    expect(res.status).toBe(303);
    return consoleSession(stack, sessionCookie(res));
  };
  const status = async (cookie: string) => (await fetch(stack.base, { redirect: 'manual', headers: { cookie } })).status;
  const refusedCount = async () =>
    (await metricsRegistry.getSingleMetric('pb_console_actions_refused_total')?.get())?.values.find((v) => v.labels.reason === 'viewer')?.value ?? 0;

  beforeAll(async () => {
    bob = { username: 'bob', password: await passwordHash.hashConsolePassword(BOB_PASSWORD), role: 'viewer' };
    await restartWith({ 'console.accounts': [ALICE, bob] });
  });

  afterEach(() => jest.restoreAllMocks());

  afterAll(async () => {
    await web?.stop();
    redis.disconnect();
    for (const config of configs) {
      const client = await amqpClient(config);
      await client.deleteNamespace();
      await client.close();
    }
  });

  it('logs each account in (a clear and a hashed password), the page naming who and their role, the audit log naming the user', async () => {
    const alice = await login('alice', ALICE.password);
    const viewer = await login('bob', BOB_PASSWORD);
    const alicePage = await alice.dashboard();
    const bobPage = await viewer.dashboard();
    expect(alicePage).toContain('alice (operator)');
    expect(bobPage).toContain('bob (viewer)');
    expect(alicePage).toContain('id="dead-letters-archive"');
    // A viewer is shown no action, but keeps the search box and the logout.
    expect(bobPage).not.toContain('id="dead-letters-archive"');
    expect(bobPage).toContain('action="/console/lookup"');
    const logins = (await alice.audited('console.login')).filter((e) => e.outcome === 'ok').map((e) => e.actor);
    expect(logins).toEqual([expect.stringMatching(/^console:alice@/), expect.stringMatching(/^console:bob@/)]);
  });

  it("refuses a viewer's action with 403, audited as refused with its user and counted; an operator's goes through", async () => {
    const viewer = await login('bob', BOB_PASSWORD);
    const before = await refusedCount();
    const csrf = await viewer.csrf();
    for (const [path, body] of [
      ['dead-letters/archive', `csrf=${csrf}`],
      ['dead-letters/replay', `csrf=${csrf}&id=dl-${'0'.repeat(24)}&mode=execute`],
      ['events/resend', `csrf=${csrf}&id=op-1.CAPTURED`],
    ]) {
      expect((await viewer.post(path, body)).status).toBe(403);
    }
    expect(await refusedCount()).toBe(before + 3);
    const refused = await viewer.audited('console.action');
    expect(refused.map((e) => [e.target, e.outcome])).toEqual([
      ['/dead-letters/archive', 'refused'],
      ['/dead-letters/replay', 'refused'],
      ['/events/resend', 'refused'],
    ]);
    for (const e of refused) expect(e.actor).toMatch(/^console:bob@/);
    expect(await viewer.audited('ops.dead_letters_archive')).toEqual([]);
    // Reads stay open to a viewer: the search box (a POST) answers.
    expect((await viewer.post('lookup', `csrf=${csrf}&q=ORD-NONE`)).status).toBe(200);

    const alice = await login('alice', ALICE.password);
    expect((await alice.post('dead-letters/archive', `csrf=${await alice.csrf()}`)).status).toBe(303);
    expect((await alice.audited('ops.dead_letters_archive')).map((e) => e.actor)).toEqual([expect.stringMatching(/^console:alice@/)]);
  });

  it('refuses a viewer every form the route acts on, whatever it holds, and does nothing of it (table over every POST path)', async () => {
    // Every path the route's POST branch dispatches on, read from the route itself: an action added later is in
    // this table without anyone remembering to add it.
    const route = readFileSync(join(__dirname, '../../../src/console/console-route.ts'), 'utf8');
    const posts = route.slice(route.indexOf("if (method === 'POST')"), route.indexOf("if (method !== 'GET'"));
    const paths = [...posts.matchAll(/sub === '(\/[^']+)'/g)].map((m) => m[1]).filter((p) => p !== '/lookup' && p !== '/logout');
    expect(paths.length).toBeGreaterThanOrEqual(10);
    const viewer = await login('bob', BOB_PASSWORD);
    const csrf = await viewer.csrf();
    // Each form's fields as its page would post them, for a dry run and for the real thing.
    const fields = `csrf=${csrf}&id=dl-${'0'.repeat(24)}&id=op-1&reason=viewer+test&decision=release`;
    const before = (await viewer.audited('')).length;
    const refusedBefore = await refusedCount();
    const table = [...paths, '/no-such-action'].flatMap((path) => [
      [path, `${fields}&mode=dry_run`],
      [path, `${fields}&mode=execute`],
    ]);
    for (const [path, body] of table) expect([path, (await viewer.post(path.slice(1), body)).status]).toEqual([path, 403]);
    expect(await refusedCount()).toBe(refusedBefore + table.length);
    const written = (await viewer.audited('')).slice(before);
    expect(written.map((e) => [e.action, e.outcome, e.target])).toEqual(table.map(([path]) => ['console.action', 'refused', path]));
    for (const e of written) expect(e.actor).toMatch(/^console:bob@/);
  });

  it('takes the same path for an unknown user and a wrong password: one scrypt check each, the same 401 page', async () => {
    const verify = jest.spyOn(passwordHash, 'verifyConsolePasswordHash');
    const unknown = await consoleLogin(stack.base, BOB_PASSWORD, {}, 'mallory');
    const wrongHashed = await consoleLogin(stack.base, 'not-bobs-password-0123', {}, 'bob');
    const wrongClear = await consoleLogin(stack.base, 'not-alices-password-0123', {}, 'alice');
    const pages = [];
    for (const res of [unknown, wrongHashed, wrongClear]) {
      expect(res.status).toBe(401);
      pages.push(await res.text());
    }
    expect(new Set(pages).size).toBe(1);
    // One check of the same cost each: the unknown user and the clear-password account against a decoy of bob's parameters.
    const { N } = passwordHash.CONSOLE_SCRYPT_DEFAULTS;
    expect(verify.mock.calls.map(([stored]) => stored?.N ?? 'the default decoy')).toEqual([N, N, N]);
  });

  it("ends a removed account's sessions at the restart, keeps the others', and applies a role change at the next request", async () => {
    const alice = await login('alice', ALICE.password);
    const viewer = await login('bob', BOB_PASSWORD);
    const carolPassword = 'carol-console-password-01';
    const { logger, lines } = captureLogger('info');
    await restartWith({ 'console.accounts': [ALICE, { username: 'carol', password: carolPassword, role: 'viewer' }] }, logger);
    expect(await status(viewer.cookie)).toBe(303);
    expect(await status(alice.cookie)).toBe(200);
    expect(lines.some((l) => l.includes('console: session of a removed console account ended') && l.includes('"user":"bob"'))).toBe(true);
    // Back in, the account starts from a new login: its session is gone for good.
    await restartWith({ 'console.accounts': [{ ...ALICE, role: 'viewer' }, bob] });
    expect(await status(viewer.cookie)).toBe(303);
    // alice's session holds over the role change, which applies to it at once.
    expect(await status(alice.cookie)).toBe(200);
    // The stack's listener moved with the restart: a session on the new one.
    const again = consoleSession(stack, alice.cookie);
    expect(await again.dashboard()).toContain('alice (viewer)');
    expect((await again.post('dead-letters/archive', `csrf=${await again.csrf()}`)).status).toBe(403);
  });

  it("checks a login for no account against a decoy of the accounts' own scrypt parameters, not the defaults", async () => {
    // A hash made with other parameters than the command's (by hand, or by an earlier default): 2^14.
    const salt = randomBytes(16);
    const key = scryptSync('dave-console-password-01', salt, 32, { N: 2 ** 14, r: 8, p: 1 });
    const dave = { username: 'dave', password: `scrypt$16384$8$1$${salt.toString('base64url')}$${key.toString('base64url')}`, role: 'operator' };
    await restartWith({ 'console.accounts': [dave, { username: 'erin', password: 'erin-console-password-01', role: 'viewer' }] });
    const verify = jest.spyOn(passwordHash, 'verifyConsolePasswordHash');
    const costs = async (user: string, password: string): Promise<Array<number | string>> => {
      verify.mockClear();
      expect((await consoleLogin(stack.base, password, {}, user)).status).toBe(401);
      return verify.mock.calls.map(([stored]) => stored?.N ?? 'the default decoy');
    };
    // The same work whoever is named: one scrypt at dave's cost.
    expect(await costs('dave', 'not-daves-password-0123')).toEqual([2 ** 14]);
    expect(await costs('mallory', 'not-daves-password-0123')).toEqual([2 ** 14]);
    expect(await costs('erin', 'not-erins-password-0123')).toEqual([2 ** 14]);
    expect((await consoleLogin(stack.base, 'dave-console-password-01', {}, 'dave')).status).toBe(303);
  });

  it('keeps the single console.username / console.password: one operator account, as before', async () => {
    await restartWith({ 'console.username': 'oncall', 'console.password': 'single-console-password-01' });
    const oncall = await login('oncall', 'single-console-password-01');
    const page = await oncall.dashboard();
    expect(page).toContain('oncall (operator)');
    expect(page).toContain('id="dead-letters-archive"');
    expect((await oncall.post('dead-letters/archive', `csrf=${await oncall.csrf()}`)).status).toBe(303);
    // The named accounts of before are not in force any more: their sessions ended, their logins refused.
    expect((await consoleLogin(stack.base, ALICE.password, {}, 'alice')).status).toBe(401);
  });
});
