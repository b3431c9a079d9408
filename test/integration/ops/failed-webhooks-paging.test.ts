import { PassThrough } from 'node:stream';
import { Job, Queue, Worker } from 'bullmq';
import { opsFailedWebhooks } from '../../../src/cli/webhook-commands';
import { Config } from '../../../src/config/config';
import { silentLogger } from '../../../src/logging/logger';
import { FailedWebhook, FailedWebhookPage, failedWebhooks } from '../../../src/ops/failed-webhooks';
import { OpsContext, openOps } from '../../../src/ops/ops-context';
import { bullJobId } from '../../../src/queueing/job-id';
import { bullPrefix } from '../../../src/queueing/bull-prefix';
import { unlinkMatching } from '../../../src/redis/key-scan';
import { RedisClient } from '../../../src/redis/redis-connection';
import { GATEWAY_OUTCOMES_QUEUE, GatewayOutcomeJobData, createGatewayOutcomesQueue } from '../../../src/webhooks/gateway-outcomes-queue';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

/**
 * `failedWebhooks` / `ops webhooks failed` page the gateway-outcomes failed set by place (when a job failed,
 * then its id), not by rank: failures arriving at the top and jobs retried or removed between two pages
 * neither show a job twice nor pass over one that stayed failed. Real BullMQ failed jobs, own key prefix.
 */

let config: Config;
let ctx: OpsContext;
let queue: Queue<GatewayOutcomeJobData>;
let worker: Worker<GatewayOutcomeJobData>;
let blocking: RedisClient;
let audited = '';

beforeEach(() => {
  config = testConfig();
  const audit = new PassThrough();
  audited = '';
  audit.on('data', (c: Buffer) => (audited += c.toString()));
  ctx = openOps(config, silentLogger(), { service: 'ops', auditStream: audit });
  queue = createGatewayOutcomesQueue(ctx.redis, config.redis.keyPrefix);
  blocking = testRedis(config, 'blocking');
  worker = new Worker<GatewayOutcomeJobData>(GATEWAY_OUTCOMES_QUEUE, null, {
    connection: blocking,
    prefix: bullPrefix(config.redis.keyPrefix, GATEWAY_OUTCOMES_QUEUE),
    autorun: false,
  });
});

afterEach(async () => {
  await worker.close();
  await queue.close();
  await unlinkMatching(ctx.redis, `${config.redis.keyPrefix}*`);
  await ctx.close();
  blocking.disconnect();
});

/** The job id of a webhook outcome, as the web process enqueues it. */
const jobId = (gateway: string, eventId: string) => bullJobId(`wh.${gateway}.${eventId}`);

/** Puts a webhook outcome in the failed set as the outcome worker does when it gives up (one attempt). */
async function failIn(gateway: string, eventId: string): Promise<void> {
  const data: GatewayOutcomeJobData = { gateway, eventId, operationId: `op-${eventId}`, outcome: { status: 'SUCCESS', gatewayStatus: 'authorized' } };
  await queue.add('outcome', data, { jobId: jobId(gateway, eventId), attempts: 1 });
  const token = `t-${eventId}`;
  const job = (await worker.getNextJob(token)) as Job<GatewayOutcomeJobData> | undefined;
  expect(job?.id).toBe(jobId(gateway, eventId));
  await job!.moveToFailed(new Error('no operation for webhook'), token, false);
}

/** Every failed job id, newest first, as BullMQ itself lists them (by rank). */
async function ranked(): Promise<string[]> {
  return (await queue.getFailed(0, -1)).map((j) => j.id!);
}

const ids = (rows: FailedWebhook[]) => rows.map((w) => jobId(w.gateway, w.event_id));

describe('failed webhook outcomes, paged by place', () => {
  it('lists each failed job once, none passed over, while failures arrive and jobs are retried or removed between pages', async () => {
    for (let i = 0; i < 14; i += 1) await failIn(i % 3 === 0 ? 'sim-b' : 'sim-a', `evt-${String(i).padStart(2, '0')}`);
    const s = await ranked();
    expect(s).toHaveLength(14);
    expect(queue.keys.failed).toBe(`${config.redis.keyPrefix}{bull:gateway-outcomes}:gateway-outcomes:failed`);

    // Two entries a read: each page takes more than one read of the failed set.
    const p1 = await failedWebhooks(ctx, { limit: 4, pageSize: 2 });
    expect(ids(p1.webhooks)).toEqual(s.slice(0, 4));
    const top = p1.webhooks[0];
    expect(top).toMatchObject({ operation_id: `op-${top.event_id}`, outcome: 'SUCCESS authorized', reason: 'no operation for webhook', attempts: 1 });
    expect(top.place).toBe(`${Date.parse(top.failed_at!)}:${s[0]}`);
    expect(p1.older).toBeDefined();

    // Newer failures enter at the top; one listed job is retried, one not yet listed removed.
    for (const e of ['new-1', 'new-2', 'new-3']) await failIn('sim-a', e);
    await (await queue.getJob(s[1]))!.retry('failed');
    await (await queue.getJob(s[6]))!.remove();
    const p2 = await failedWebhooks(ctx, { limit: 4, pageSize: 2, before: p1.older });
    expect(ids(p2.webhooks)).toEqual([s[4], s[5], s[7], s[8]]);
    // By rank, the same page would have shown two jobs of the first page again.
    expect((await queue.getFailed(4, 7)).map((j) => j.id)).toEqual([s[2], s[3], s[4], s[5]]);

    // Four listed jobs leave the set above the place.
    for (const id of [s[0], s[2], s[3], s[4]]) await (await queue.getJob(id))!.retry('failed');
    const p3 = await failedWebhooks(ctx, { limit: 4, pageSize: 3, before: p2.older });
    expect(ids(p3.webhooks)).toEqual([s[9], s[10], s[11], s[12]]);
    // By rank, it would have passed over two.
    expect((await queue.getFailed(8, 11)).map((j) => j.id)).toEqual([s[11], s[12], s[13]]);

    const p4 = await failedWebhooks(ctx, { limit: 4, pageSize: 2, before: p3.older });
    expect(ids(p4.webhooks)).toEqual([s[13]]);
    expect(p4.older).toBeUndefined();

    const all = [p1, p2, p3, p4].flatMap((p) => ids(p.webhooks));
    expect(new Set(all).size).toBe(all.length);
    expect(all).toEqual(s.filter((id) => id !== s[6]));
  });

  it('reads past non-matching entries for a gateway, and says there is an older page only when entries remain', async () => {
    for (let i = 0; i < 3; i += 1) await failIn('sim-a', `a-${i}`);
    for (let i = 0; i < 7; i += 1) await failIn('sim-b', `b-${i}`);
    const first = await failedWebhooks(ctx, { gateway: 'sim-a', limit: 2, pageSize: 2 });
    expect(first.webhooks.map((w) => w.event_id)).toEqual(['a-2', 'a-1']);
    expect(first.older).toEqual({ score: expect.any(Number), id: jobId('sim-a', 'a-1') });
    const next: FailedWebhookPage = await failedWebhooks(ctx, { gateway: 'sim-a', limit: 2, pageSize: 2, before: first.older });
    expect(next.webhooks.map((w) => w.event_id)).toEqual(['a-0']);
    expect(next.older).toBeUndefined();
    // A full page that is the whole set: no older page.
    const whole = await failedWebhooks(ctx, { limit: 10, pageSize: 5 });
    expect(whole.webhooks).toHaveLength(10);
    expect(whole.older).toBeUndefined();
    expect((await failedWebhooks(ctx, { gateway: 'sim-c', limit: 5, pageSize: 3 })).webhooks).toEqual([]);
  });

  it('ops webhooks failed prints the next page command line with the last row place; --before takes it; a bad place is refused', async () => {
    for (let i = 0; i < 5; i += 1) await failIn('sim-a', `c-${i}`);
    const run = async (opts: { limit?: string; before?: string; json?: boolean; gateway?: string }) => {
      const out = new PassThrough();
      let text = '';
      out.on('data', (c: Buffer) => (text += c.toString()));
      expect(await opsFailedWebhooks(ctx, { out, actor: 'operator@test' }, opts)).toBe(0);
      return text;
    };
    const page1 = await run({ limit: '2', gateway: 'sim-a' });
    expect(page1).toContain('c-4');
    expect(page1).toContain('c-3');
    const line = /^older: payment-bridge ops webhooks failed --gateway sim-a --limit 2 --before (\d+:\S+)$/m.exec(page1);
    expect(line).not.toBeNull();
    expect(line![1]).toMatch(new RegExp(`:${jobId('sim-a', 'c-3')}$`));
    // Failures arriving meanwhile shift nothing.
    await failIn('sim-a', 'c-5');
    const page2 = await run({ limit: '2', gateway: 'sim-a', before: line![1] });
    expect(
      page2
        .split('\n')
        .filter((l) => l.startsWith('sim-a'))
        .map((l) => l.split('  ')[1]),
    ).toEqual(['c-2', 'c-1']);
    const json = JSON.parse(await run({ limit: '2', json: true, before: /--before (\S+)$/m.exec(page2)![1] })) as FailedWebhook[];
    expect(json.map((w) => w.event_id)).toEqual(['c-0']);
    expect(json[0].place).toMatch(new RegExp(`^\\d+:${jobId('sim-a', 'c-0')}$`));
    expect(await run({ before: json[0].place })).toBe('no older webhook outcome is in the failed set\n');
    await expect(run({ before: 'yesterday' })).rejects.toThrow('--before');
    await expect(run({ before: '12:a:b' })).rejects.toThrow('--before');
    // A bare epoch ms: the ones that failed before it.
    expect(await run({ before: '1' })).toBe('no older webhook outcome is in the failed set\n');
    await eventually(() => audited.includes('"ops.failed_webhooks"'));
  });
});
