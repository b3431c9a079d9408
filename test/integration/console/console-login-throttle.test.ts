/**
 * The console's login throttle counts one client as the connection cap does: an IPv4 address, or an IPv6
 * address by its /64. A host holds a whole /64, so counting single IPv6 addresses let one attacker rotate
 * through addresses and guess without ever reaching the limit.
 */
import { ConsoleStack, startConsoleStack } from '../../support/console-stack';
import { LOGIN_ATTEMPTS_MAX } from '../../../src/console/console-route';
import { CONSOLE_PASSWORD } from '../../support/console-stack';
import { consoleLogin } from '../../support/console-login';

describe('console login throttle', () => {
  let stack: ConsoleStack;
  let base: string;

  beforeAll(async () => {
    // Loopback is the proxy in front: the client is the X-Forwarded-For hop it names.
    stack = await startConsoleStack({ 'edge.trusted_proxies': ['127.0.0.1', '::1'] });
    base = stack.base;
  });

  afterAll(() => stack.stop());

  const guess = (client: string, n: number) => consoleLogin(base, `guess-${n}`, { 'x-forwarded-for': client });

  it('counts every address of one IPv6 /64 as one client', async () => {
    const statuses: number[] = [];
    // One address of the same /64 per guess, sequential (the count is what is tested, not concurrency).
    for (let n = 0; n <= LOGIN_ATTEMPTS_MAX; n++) statuses.push((await guess(`2001:db8:1:2::${(n + 1).toString(16)}`, n)).status);
    expect(statuses.slice(0, LOGIN_ATTEMPTS_MAX).every((s) => s === 401)).toBe(true);
    expect(statuses[LOGIN_ATTEMPTS_MAX]).toBe(429);
    // Another /64 is another client.
    expect((await guess('2001:db8:1:3::1', 99)).status).toBe(401);
  });

  it("does not count a login posted from another site: a page the operator opens cannot use up the operator's attempts", async () => {
    const operator = '198.51.100.7';
    // What a hostile page's form posts look like: the operator's address, the page's origin.
    const crossSite = (n: number) => consoleLogin(base, `guess-${n}`, { 'x-forwarded-for': operator, origin: 'https://evil.example' });
    const statuses: number[] = [];
    for (let n = 0; n < 2 * LOGIN_ATTEMPTS_MAX; n++) statuses.push((await crossSite(n)).status);
    expect(new Set(statuses)).toEqual(new Set([403]));
    // Never logged in from there, even with the right password.
    expect((await consoleLogin(base, CONSOLE_PASSWORD, { 'x-forwarded-for': operator, origin: 'https://evil.example' })).status).toBe(403);
    // The operator, from the console's own page, still logs in.
    const own = new URL(base).origin;
    expect((await consoleLogin(base, CONSOLE_PASSWORD, { 'x-forwarded-for': operator, origin: own })).status).toBe(303);
  });
});
