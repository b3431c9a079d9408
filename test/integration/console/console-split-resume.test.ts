/**
 * The console lists the split tenders (and split refunds) parked after their advance kept faulting and puts
 * the selected back on the sweep, as `ops split-tender-resume` does: a POST with the session's CSRF token,
 * each audit-logged with the console user.
 */
import { OpenMember, SplitTenderStore, memberOf } from '../../../src/split-tender/split-tender-store';
import { CONSOLE_PASSWORD, ConsoleSession, ConsoleStack, consoleSession, startConsoleStack } from '../../support/console-stack';
import { consoleLogin, sessionCookie } from '../../support/console-login';

describe('console: resume the parked split tenders', () => {
  let stack: ConsoleStack;
  let store: SplitTenderStore;
  let session: ConsoleSession;
  const split: OpenMember = { kind: 'split', id: 'split-parked-a' };
  const refund: OpenMember = { kind: 'refund', splitId: 'split-parked-b', refundId: 'refund-parked-b1' };

  beforeAll(async () => {
    stack = await startConsoleStack();
    store = new SplitTenderStore(stack.redis, stack.config.redis.keyPrefix);
    // Parked as the sweep parks them: on the open index, faults counted, then parked.
    for (const m of [split, refund]) {
      await stack.redis.hset(store.key(m.kind === 'split' ? m.id : m.splitId), 'plan', '{not json', 'state', 'REDEEMING');
      await stack.redis.zadd(store.openKey, Date.now(), memberOf(m));
      await store.recordFault(m, 'SyntaxError');
      await store.park(m);
    }
    session = consoleSession(stack, sessionCookie(await consoleLogin(stack.base, CONSOLE_PASSWORD)));
  });

  afterAll(async () => {
    await stack.stop();
  });

  const dashboard = () => session.dashboard();
  const csrfOf = () => session.csrf();
  const post = (body: string) => session.post('split-tenders/resume', body);
  const resumes = () => session.audited('split_tender.resume');

  it('lists each parked split and split refund with its faults and last fault class, in a form that posts to the resume action', async () => {
    const page = await dashboard();
    const form = page.slice(page.indexOf(`<form method="post" action="${stack.config.console.path}/split-tenders/resume" id="parked-splits-form">`));
    expect(form).toContain('id="parked-splits-form"');
    expect(form).toContain('name="id" value="split-parked-a"');
    expect(form).toContain('name="id" value="split-parked-b/refund-parked-b1"');
    expect(form).toContain('SyntaxError');
  });

  it('refuses a resume without the CSRF token, and a form naming something that is no split: both stay parked', async () => {
    expect((await post('csrf=wrong&id=split-parked-a')).status).toBe(403);
    expect((await post(`csrf=${await csrfOf()}&id=split-parked-a&id=${encodeURIComponent('../etc')}`)).status).toBe(400);
    expect(await store.parked()).toHaveLength(2);
    expect(await resumes()).toEqual([]);
  });

  it('puts each selected back on the sweep, its faults forgotten, says what became of each, audit-logged with the console user', async () => {
    const res = await post(`csrf=${await csrfOf()}&id=split-parked-a&id=${encodeURIComponent('split-parked-b/refund-parked-b1')}&id=split-not-open`);
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain('data-split="split-parked-a" data-result="resumed"');
    expect(page).toContain('data-split="split-parked-b/refund-parked-b1" data-result="resumed"');
    expect(page).toContain('data-split="split-not-open" data-result="not_open"');
    expect(await store.parked()).toEqual([]);
    expect((await store.faultsOf(split)).faults).toBe(0);
    expect((await store.faultsOf(refund)).faults).toBe(0);
    const audit = await resumes();
    expect(audit.map((e) => [e.target, e.outcome, e.detail?.refund ?? null])).toEqual([
      ['split-parked-a', 'ok', null],
      ['split-parked-b', 'ok', 'refund-parked-b1'],
      ['split-not-open', 'refused', null],
    ]);
    for (const e of audit) expect(e.actor).toMatch(/^console:/);
  });
});
