/**
 * The console dismisses set-aside events the bus will never take, as `ops events dismiss` does: from the form that
 * resends them, with a reason, a POST with the session's CSRF token, each event audit-logged with the console user
 * and the reason, counted by tool; refused whole, nothing done or echoed, without the token or a fit reason.
 */
import { EventStore } from '../../../src/events/event-store';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { EVENT_DISMISS_REASON_MAX } from '../../../src/ops/event-dismiss';
import { CONSOLE_PASSWORD, ConsoleSession, ConsoleStack, consoleSession, startConsoleStack } from '../../support/console-stack';
import { consoleLogin, sessionCookie } from '../../support/console-login';

describe('console: dismiss the events the bus will never take', () => {
  let stack: ConsoleStack;
  let events: EventStore;
  let session: ConsoleSession;
  // Letters only: a timestamp's digits may pass for a card number and be redacted from the audit line.
  const eventId = 'console-dismiss-evt-a.refund.PENDINGRELEASE';
  const reason = 'the bus has no refund_management.updated; refund_pending_notice is off';

  beforeAll(async () => {
    stack = await startConsoleStack();
    events = new EventStore(stack.redis, stack.config.redis.keyPrefix);
    const event = {
      eventId,
      paymentKey: 'pay-console-dismiss-a',
      method: 'magento.postsales.refund_management.updated',
      params: { payment: { operation_reference: 'console-dismiss' } },
    };
    const { sequence } = await events.recordAndCheck(event, Date.now());
    await events.setAside({ ...event, sequence }, 'rpc_-32601');
    session = consoleSession(stack, sessionCookie(await consoleLogin(stack.base, CONSOLE_PASSWORD)));
  });

  afterAll(async () => {
    await stack.stop();
  });

  const post = (body: string) => session.post('events/dismiss', body);
  const dismissAudit = () => session.audited('event.dismiss');
  const stillSetAside = async () => (await events.rejected()).map((e) => e.eventId).includes(eventId);

  it('offers, in the form that resends the set-aside events, a reason field and a button that posts them to the dismiss action', async () => {
    const page = await session.dashboard();
    const form = page.slice(page.indexOf('id="rejected-events-form"'));
    expect(form).toContain(`name="id" value="${eventId}"`);
    expect(form).toMatch(new RegExp(`name="reason"\\s+maxlength="${EVENT_DISMISS_REASON_MAX}"`));
    expect(form).toContain(`formaction="${stack.config.console.path}/events/dismiss"`);
  });

  it('refuses a dismissal without the CSRF token: the event stays set aside, nothing is audit-logged', async () => {
    const res = await post(`csrf=wrong&id=${encodeURIComponent(eventId)}&reason=${encodeURIComponent(reason)}`);
    expect(res.status).toBe(403);
    expect(await stillSetAside()).toBe(true);
    expect(await dismissAudit()).toEqual([]);
  });

  it.each([
    ['no reason', '', 'Reason required'],
    ['a blank reason', '   ', 'Reason required'],
    ['a reason too long', 'x'.repeat(EVENT_DISMISS_REASON_MAX + 1), 'Reason too long'],
    ['a card number in the reason', 'card 4111111111111111 echoed', 'a card number?'],
  ])('refuses %s with 400, nothing dismissed, audit-logged or echoed', async (_name, given, title) => {
    const csrf = await session.csrf();
    const res = await post(`csrf=${csrf}&id=${encodeURIComponent(eventId)}&reason=${encodeURIComponent(given)}`);
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(text).toContain(title);
    expect(text).not.toContain('4111111111111111');
    expect(await stillSetAside()).toBe(true);
    expect(await dismissAudit()).toEqual([]);
  });

  it('refuses a resend that carries a reason (Enter in the reason field submits through Resend, the first button): 400, nothing resent', async () => {
    const csrf = await session.csrf();
    const res = await session.post('events/resend', `csrf=${csrf}&id=${encodeURIComponent(eventId)}&reason=${encodeURIComponent(reason)}`);
    expect(res.status).toBe(400);
    expect(await res.text()).not.toContain(reason);
    expect(await stillSetAside()).toBe(true);
    expect(await session.audited('event.resend')).toEqual([]);
    // The Resend button's own post carries the field empty: that resend is the form's.
    expect((await session.post('events/resend', `csrf=${csrf}&id=no-such-event.SUCCEEDED&reason=`)).status).toBe(200);
  });

  it('dismisses each selected set-aside event, says what became of each, audit-logs each with the console user and the reason', async () => {
    const before = await metricValue('pb_events_dismissed_total', { by: 'console' });
    const csrf = await session.csrf();
    const res = await post(`csrf=${csrf}&id=${encodeURIComponent(eventId)}&id=no-such-event.SUCCEEDED&reason=${encodeURIComponent(reason)}`);
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain(`data-event="${eventId}" data-result="dismissed"`);
    expect(page).toContain('data-event="no-such-event.SUCCEEDED" data-result="not_found"');
    expect(await stillSetAside()).toBe(false);
    expect(await events.unsentBefore(Date.now() + 1000)).not.toContain(eventId);
    const [dismissed] = await events.dismissed();
    expect(dismissed).toMatchObject({ eventId, dismissedReason: reason });
    expect(dismissed.dismissedBy).toMatch(/^console:/);
    expect(await metricValue('pb_events_dismissed_total', { by: 'console' })).toBe(before + 1);
    const audit = await dismissAudit();
    expect(audit.map((e) => [e.target, e.outcome, e.detail?.reason])).toEqual([
      [eventId, 'ok', reason],
      ['no-such-event.SUCCEEDED', 'refused', reason],
    ]);
    for (const e of audit) expect(e.actor).toMatch(/^console:/);
    // Dismissed: the dashboard no longer lists it.
    expect(await session.dashboard()).not.toContain(`name="id" value="${eventId}"`);
  });
});
