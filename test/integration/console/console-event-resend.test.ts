/**
 * The console resends the events the bus refused and the bridge set aside, as `ops events resend` does: a
 * POST with the session's CSRF token, each event audit-logged with the console user, counted by tool.
 */
import { EventStore } from '../../../src/events/event-store';
import { createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { bullJobId } from '../../../src/queueing/job-id';
import { CONSOLE_PASSWORD, ConsoleSession, ConsoleStack, consoleSession, startConsoleStack } from '../../support/console-stack';
import { consoleLogin, sessionCookie } from '../../support/console-login';

describe('console: resend the events the bus refused', () => {
  let stack: ConsoleStack;
  let events: EventStore;
  let session: ConsoleSession;
  // Letters only: a timestamp's digits may pass for a card number and be redacted from the audit line.
  const eventId = 'console-resend-evt-a.SUCCEEDED';

  beforeAll(async () => {
    stack = await startConsoleStack();
    events = new EventStore(stack.redis, stack.config.redis.keyPrefix);
    const event = {
      eventId,
      paymentKey: 'pay-console-resend-a',
      method: 'magento.payments.payments_management.captured',
      params: { payment: { operation_reference: 'console-resend' } },
    };
    const { sequence } = await events.recordAndCheck(event, Date.now(), 1000);
    await events.setAside({ ...event, sequence }, 'rpc_-32602');
    session = consoleSession(stack, sessionCookie(await consoleLogin(stack.base, CONSOLE_PASSWORD)));
  });

  afterAll(async () => {
    await stack.stop();
  });

  const dashboard = () => session.dashboard();
  const post = (body: string) => session.post('events/resend', body);
  const resendAudit = () => session.audited('event.resend');

  it('lists each set-aside event with a box to select it, in a form that posts to the resend action with the CSRF token', async () => {
    const page = await dashboard();
    const form = page.slice(page.indexOf(`<form method="post" action="${stack.config.console.path}/events/resend" id="rejected-events-form">`));
    expect(form).toContain('id="rejected-events-form"');
    expect(form).toContain(`name="id" value="${eventId}"`);
    expect(form).toMatch(/name="csrf" value="[^"]+"/);
  });

  it('refuses a resend without the CSRF token: the event stays set aside, nothing is audit-logged as resent', async () => {
    const res = await post(`csrf=wrong&id=${encodeURIComponent(eventId)}`);
    expect(res.status).toBe(403);
    expect((await events.rejected()).map((e) => e.eventId)).toContain(eventId);
    expect(await resendAudit()).toEqual([]);
  });

  it('refuses a form naming something that is no event id (a card number among them) whole, without echoing or logging it', async () => {
    const csrf = await session.csrf();
    const res = await post(`csrf=${csrf}&id=${encodeURIComponent(eventId)}&id=4111111111111111.SUCCEEDED`);
    expect(res.status).toBe(400);
    expect(await res.text()).not.toContain('4111111111111111');
    expect((await events.rejected()).map((e) => e.eventId)).toContain(eventId);
    expect(await resendAudit()).toEqual([]);
  });

  it('queues each selected set-aside event to the bus again, says what became of each, and audit-logs each with the console user', async () => {
    const before = await metricValue('pb_events_resent_total', { by: 'console' });
    const csrf = await session.csrf();
    const res = await post(`csrf=${csrf}&id=${encodeURIComponent(eventId)}&id=no-such-event.SUCCEEDED`);
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain(`data-event="${eventId}" data-result="queued"`);
    expect(page).toContain('data-event="no-such-event.SUCCEEDED" data-result="not_found"');
    expect((await events.rejected()).map((e) => e.eventId)).not.toContain(eventId);
    expect(await events.unsentBefore(Date.now() + 1000)).toContain(eventId);
    const queue = createOmsEventsQueue(stack.redis, stack.config.redis.keyPrefix);
    try {
      expect((await queue.getJob(bullJobId(eventId)))?.data).toEqual({ eventId, resend: true });
    } finally {
      await queue.close();
    }
    expect(await metricValue('pb_events_resent_total', { by: 'console' })).toBe(before + 1);
    const audit = await resendAudit();
    expect(audit.map((e) => [e.target, e.outcome])).toEqual([
      [eventId, 'ok'],
      ['no-such-event.SUCCEEDED', 'refused'],
    ]);
    for (const e of audit) expect(e.actor).toMatch(/^console:/);
    // Resent: the dashboard no longer lists it.
    expect(await dashboard()).not.toContain(`name="id" value="${eventId}"`);
  });
});
