/**
 * The console lists the authorizations the risk rules held for review and releases or declines the selected,
 * as `ops risk-release` / `ops risk-decline` do: a POST with the session's CSRF token, each decision
 * audit-logged with the console user, its delivery job queued to run now (where the risk stage reads it).
 */
import { createDeliveryQueue } from '../../../src/delivery/delivery-queue';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { bullJobId } from '../../../src/queueing/job-id';
import { ReviewStore } from '../../../src/risk/review-store';
import { CONSOLE_PASSWORD, ConsoleSession, ConsoleStack, consoleSession, startConsoleStack } from '../../support/console-stack';
import { consoleLogin, sessionCookie } from '../../support/console-login';

describe('console: release or decline the authorizations held for review', () => {
  let stack: ConsoleStack;
  let reviews: ReviewStore;
  let session: ConsoleSession;
  const [toRelease, toDecline] = ['held-for-review-a', 'held-for-review-b'];

  beforeAll(async () => {
    stack = await startConsoleStack();
    reviews = new ReviewStore(stack.redis, stack.config.redis.keyPrefix);
    for (const id of [toRelease, toDecline]) await reviews.hold(id, Date.now() + 3_600_000, 'big-chf', 'high_amount');
    session = consoleSession(stack, sessionCookie(await consoleLogin(stack.base, CONSOLE_PASSWORD)));
  });

  afterAll(async () => {
    await stack.stop();
  });

  const dashboard = () => session.dashboard();
  const csrfOf = () => session.csrf();
  const post = (body: string) => session.post('risk-reviews/decide', body);
  const decisions = () => session.audited('risk_review.');
  const deliveryJob = async (id: string) => {
    const queue = createDeliveryQueue(stack.redis, stack.config.redis.keyPrefix);
    try {
      return await queue.getJob(bullJobId(id));
    } finally {
      await queue.close();
    }
  };

  it('lists each hold with its rule, signals and deadline, in a form with a release and a decline button', async () => {
    const page = await dashboard();
    const form = page.slice(page.indexOf(`<form method="post" action="${stack.config.console.path}/risk-reviews/decide" id="risk-reviews-form">`));
    expect(form).toContain('id="risk-reviews-form"');
    for (const id of [toRelease, toDecline]) expect(form).toContain(`name="id" value="${id}"`);
    expect(form).toContain('big-chf');
    expect(form).toContain('name="decision" value="release"');
    expect(form).toContain('name="decision" value="decline"');
  });

  it('refuses a decision without the CSRF token, and one that is neither release nor decline: every hold stays held', async () => {
    expect((await post(`csrf=wrong&decision=decline&id=${toDecline}`)).status).toBe(403);
    expect((await post(`csrf=${await csrfOf()}&decision=void&id=${toDecline}`)).status).toBe(400);
    expect((await post(`csrf=${await csrfOf()}&decision=decline&id=4111111111111111`)).status).toBe(400);
    expect((await reviews.get(toDecline))?.state).toBe('held');
    expect(await decisions()).toEqual([]);
  });

  it('declines the selected: each hold declined with the console user, its delivery queued to run now, audit-logged; a second decision is refused', async () => {
    const before = await metricValue('pb_risk_reviews_total', { result: 'declined' });
    const res = await post(`csrf=${await csrfOf()}&decision=decline&id=${toDecline}&id=no-such-hold`);
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain(`data-review="${toDecline}" data-result="declined"`);
    expect(page).toContain('data-review="no-such-hold" data-result="not_held"');
    expect(await reviews.get(toDecline)).toMatchObject({ state: 'declined', declinedBy: expect.stringMatching(/^console:/) });
    expect(await deliveryJob(toDecline)).toBeDefined();
    expect(await metricValue('pb_risk_reviews_total', { result: 'declined' })).toBe(before + 1);
    const again = await (await post(`csrf=${await csrfOf()}&decision=release&id=${toDecline}`)).text();
    expect(again).toContain(`data-review="${toDecline}" data-result="already_declined"`);
    expect((await decisions()).map((e) => [e.action, e.target, e.outcome])).toEqual([
      ['risk_review.decline', toDecline, 'ok'],
      ['risk_review.decline', 'no-such-hold', 'refused'],
      ['risk_review.release', toDecline, 'refused'],
    ]);
  });

  it('releases the selected: the hold released with the console user, its delivery queued, no longer listed', async () => {
    const res = await post(`csrf=${await csrfOf()}&decision=release&id=${toRelease}`);
    expect(await res.text()).toContain(`data-review="${toRelease}" data-result="released"`);
    expect(await reviews.get(toRelease)).toMatchObject({ state: 'released', releasedBy: expect.stringMatching(/^console:/) });
    expect(await deliveryJob(toRelease)).toBeDefined();
    expect(await dashboard()).not.toContain(`name="id" value="${toRelease}"`);
    for (const e of await decisions()) expect(e.actor).toMatch(/^console:/);
  });
});
