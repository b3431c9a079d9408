/**
 * "Ask the PSP now" on the console's operation lists (stuck operations, a lookup): the selected PENDING,
 * UNKNOWN or UNRESOLVED operations become due for the poller's next pass, as `ops recheck` does; a POST with
 * the session's CSRF token, each audit-logged with the console user.
 */
import { Ledger } from '../../../src/ledger/ledger';
import { CONSOLE_PASSWORD, ConsoleSession, ConsoleStack, consoleSession, startConsoleStack } from '../../support/console-stack';
import { consoleLogin, consoleLookup, sessionCookie } from '../../support/console-login';
import { channelCommand } from '../../support/fixtures';

describe('console: ask the PSP now about operations the poller waits on', () => {
  let stack: ConsoleStack;
  let session: ConsoleSession;
  let ledger: Ledger;
  const unresolved = channelCommand('authorize', {}, { order_id: 'ORD-CONSOLE-RECHECK' });
  const id = unresolved.payment.operation_reference as string;

  beforeAll(async () => {
    stack = await startConsoleStack();
    ledger = new Ledger(stack.redis, stack.config.redis.keyPrefix);
    await ledger.create(id, unresolved, Date.now() - 3_600_000);
    await ledger.transition(id, 'SENT', { event: 'sent' }, {});
    await ledger.transition(id, 'UNRESOLVED', { event: 'gave_up' }, { nextCheckAt: Date.now() + 3_600_000 });
    session = consoleSession(stack, sessionCookie(await consoleLogin(stack.base, CONSOLE_PASSWORD)));
  });

  afterAll(async () => {
    await stack.stop();
  });

  it('lists the operation among the stuck ones and in a lookup, each in a form that posts to the recheck action', async () => {
    const form = `<form method="post" action="${stack.config.console.path}/operations/recheck" id="stuck-form">`;
    expect(await session.dashboard()).toContain(form);
    // The search box finds the one operation: its page carries the same form.
    const found = await consoleLookup(stack.base, session.cookie, 'ORD-CONSOLE-RECHECK');
    expect(found.status).toBe(303);
    const lookup = await (await fetch(new URL(found.headers.get('location') ?? '', stack.base), { headers: { cookie: session.cookie } })).text();
    expect(lookup).toContain(`<form method="post" action="${stack.config.console.path}/operations/recheck" id="lookup-results-form">`);
    expect(lookup).toContain(`name="id" value="${id}"`);
  });

  it('refuses a recheck without the CSRF token: the operation stays due in an hour', async () => {
    expect((await session.post('operations/recheck', `csrf=wrong&id=${id}`)).status).toBe(403);
    expect(await ledger.idsInState('UNRESOLVED', Date.now(), 1000)).not.toContain(id);
  });

  it('makes the selected due now, says so for each, and audit-logs each with the console user', async () => {
    const res = await session.post('operations/recheck', `csrf=${await session.csrf()}&id=${id}&id=no-such-operation`);
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain(`data-operation="${id}" data-result="due_now"`);
    expect(page).toContain('data-operation="no-such-operation" data-result="not_found"');
    expect(await ledger.idsInState('UNRESOLVED', Date.now(), 1000)).toContain(id);
    const audit = await session.audited('operation.recheck');
    expect(audit.map((e) => [e.target, e.outcome])).toEqual([
      [id, 'ok'],
      ['no-such-operation', 'refused'],
    ]);
    for (const e of audit) expect(e.actor).toMatch(/^console:/);
  });
});
