/**
 * The console lists the webhook outcomes the outcome worker gave up on (acknowledged to the PSP, which will
 * not send them again) and applies the selected again, as `ops webhooks retry` does: a POST with the
 * session's CSRF token, each audit-logged with the console user.
 */
import { Worker } from 'bullmq';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { bullPrefix } from '../../../src/queueing/bull-prefix';
import { bullJobId } from '../../../src/queueing/job-id';
import { createRedis } from '../../../src/redis/redis-connection';
import { GATEWAY_OUTCOMES_QUEUE, GatewayOutcomeJobData, createGatewayOutcomesQueue } from '../../../src/webhooks/gateway-outcomes-queue';
import { CONSOLE_PASSWORD, ConsoleSession, ConsoleStack, consoleSession, startConsoleStack } from '../../support/console-stack';
import { consoleLogin, sessionCookie } from '../../support/console-login';

describe('console: retry the webhook outcomes the outcome worker gave up on', () => {
  let stack: ConsoleStack;
  let session: ConsoleSession;
  const eventId = 'evt_console_retry_a';
  const jobId = bullJobId(`wh.simulator.${eventId}`);

  beforeAll(async () => {
    stack = await startConsoleStack({
      gateways: {
        simulator: {
          type: 'simulator',
          base_url: 'http://127.0.0.1:1',
          api_key: 'sim-key-unused-0123456789',
          webhook_secret: 'whsec-console-retry-0123456789',
        },
      },
    });
    // Given up on as the outcome worker gives up: one attempt left, and it throws.
    const queue = createGatewayOutcomesQueue(stack.redis, stack.config.redis.keyPrefix);
    const blocking = createRedis(stack.config.redis, 'blocking');
    const worker = new Worker<GatewayOutcomeJobData>(
      GATEWAY_OUTCOMES_QUEUE,
      async () => {
        throw new Error('OPERATION_NOT_FOUND: no operation has this PSP reference');
      },
      { connection: blocking, prefix: bullPrefix(stack.config.redis.keyPrefix, GATEWAY_OUTCOMES_QUEUE) },
    );
    const failed = new Promise<void>((resolve) => worker.on('failed', () => resolve()));
    const data: GatewayOutcomeJobData = {
      gateway: 'simulator',
      eventId,
      gatewayReference: 'sim_auth_console_retry',
      outcome: { status: 'SUCCESS', gatewayStatus: 'authorized', gatewayReference: 'sim_auth_console_retry' },
    };
    await queue.add('outcome', data, { jobId, attempts: 1 });
    await failed;
    await worker.close();
    await blocking.quit();
    await queue.close();
    session = consoleSession(stack, sessionCookie(await consoleLogin(stack.base, CONSOLE_PASSWORD)));
  });

  afterAll(async () => {
    await stack.stop();
  });

  const dashboard = () => session.dashboard();
  const csrfOf = () => session.csrf();
  const post = (body: string) => session.post('webhooks/retry', body);
  const retryAudit = () => session.audited('webhook.retry');
  const jobState = async () => {
    const queue = createGatewayOutcomesQueue(stack.redis, stack.config.redis.keyPrefix);
    try {
      return await (await queue.getJob(jobId))?.getState();
    } finally {
      await queue.close();
    }
  };

  it('lists each given-up outcome with why, and a box to select it, in a form that posts to the retry action', async () => {
    const page = await dashboard();
    const form = page.slice(page.indexOf(`<form method="post" action="${stack.config.console.path}/webhooks/retry" id="failed-webhooks-form">`));
    expect(form).toContain('id="failed-webhooks-form"');
    expect(form).toContain(`name="id" value="simulator/${eventId}"`);
    expect(form).toContain('OPERATION_NOT_FOUND');
  });

  it('refuses a retry without the CSRF token, and a form naming an unconfigured gateway or a card number, whole: the outcome stays failed', async () => {
    expect((await post(`csrf=wrong&id=${encodeURIComponent(`simulator/${eventId}`)}`)).status).toBe(403);
    const csrf = await csrfOf();
    const unknown = await post(`csrf=${csrf}&id=${encodeURIComponent(`simulator/${eventId}`)}&id=${encodeURIComponent('nosuchgateway/evt_1')}`);
    expect(unknown.status).toBe(400);
    const pan = await post(`csrf=${csrf}&id=${encodeURIComponent('simulator/4111111111111111')}`);
    expect(pan.status).toBe(400);
    expect(await pan.text()).not.toContain('4111111111111111');
    expect(await jobState()).toBe('failed');
    expect(await retryAudit()).toEqual([]);
  });

  it('applies each selected outcome again from the start, says what became of each, and audit-logs each with the console user', async () => {
    const before = await metricValue('pb_webhook_outcomes_retried_total', { gateway: 'simulator' });
    const res = await post(`csrf=${await csrfOf()}&id=${encodeURIComponent(`simulator/${eventId}`)}&id=${encodeURIComponent('simulator/evt_not_failed')}`);
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain(`data-webhook="simulator/${eventId}" data-result="retried"`);
    expect(page).toContain('data-webhook="simulator/evt_not_failed" data-result="not_failed"');
    expect(await jobState()).toBe('waiting');
    expect(await metricValue('pb_webhook_outcomes_retried_total', { gateway: 'simulator' })).toBe(before + 1);
    const audit = await retryAudit();
    expect(audit.map((e) => [e.target, e.outcome])).toEqual([
      [`simulator/${eventId}`, 'ok'],
      ['simulator/evt_not_failed', 'refused'],
    ]);
    for (const e of audit) expect(e.actor).toMatch(/^console:/);
    expect(await dashboard()).not.toContain(`name="id" value="simulator/${eventId}"`);
  });
});
