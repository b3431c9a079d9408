/**
 * The dashboard's dead-letter sort (`dl`) is `time` or `impact`; anything else is refused with 400 naming the
 * parameter, as the console answers other bad input. It used to fall back to `time` in silence, so a
 * mistyped link showed the newest dead letters as if they were the highest-impact ones.
 */
import { ConsoleStack, startConsoleStack, CONSOLE_PASSWORD } from '../../support/console-stack';
import { consoleLogin, sessionCookie } from '../../support/console-login';

describe('console dashboard: the dead-letter sort parameter', () => {
  let stack: ConsoleStack;
  let cookie: string;

  beforeAll(async () => {
    stack = await startConsoleStack();
    cookie = sessionCookie(await consoleLogin(stack.base, CONSOLE_PASSWORD));
  });

  afterAll(() => stack.stop());

  const dashboard = (query: string) => fetch(`${stack.base}${query}`, { headers: { cookie }, redirect: 'manual' });

  it('answers 400 naming dl for a sort order the dashboard does not offer, without echoing it', async () => {
    for (const sort of ['Impact', 'amount', '']) {
      const res = await dashboard(`?dl=${encodeURIComponent(sort)}`);
      expect(res.status).toBe(400);
      const page = await res.text();
      expect(page).toContain('The parameter dl must be time or impact.');
      expect(page).not.toContain('id="dead-letters');
    }
  });

  it('sorts by time without the parameter and with dl=time, by impact with dl=impact', async () => {
    for (const [query, current] of [
      ['', 'time'],
      ['?dl=time', 'time'],
      ['?dl=impact', 'impact'],
    ]) {
      const res = await dashboard(query);
      expect(res.status).toBe(200);
      expect(await res.text()).toMatch(new RegExp(`href="/console\\?dl=${current}"\\s+aria-current="true"`));
    }
  });
});
