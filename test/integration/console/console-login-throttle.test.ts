/**
 * The console's login throttle counts one client as the connection cap does: an IPv4 address, or an IPv6
 * address by its /64. A host holds a whole /64, so counting single IPv6 addresses let one attacker rotate
 * through addresses and guess without ever reaching the limit.
 */
import { ConsoleStack, startConsoleStack } from '../../support/console-stack';
import { LOGIN_ATTEMPTS_MAX } from '../../../src/console/console-route';
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
});
