/**
 * `redis.replica_acks` on a webhook: the route answers the PSP 2xx only once the queued outcome job is on its
 * primary and acknowledged by that many replicas. The money-truth drill (Redis Cluster primaries SIGSTOPped until
 * replaced, then resumed) showed why: 3-D Secure results were queued on a primary that then rejoined as a replica
 * and dropped them, the PSP had been told 2xx and never sent them again, and the payments stayed ACTION_REQUIRED.
 * The test Redis has fewer replicas than asked (none on a single Redis), so WAIT falls short here; the drop is
 * played by removing the job, as a demoted primary drops it.
 */
import { Queue } from 'bullmq';
import { Config } from '../../../src/config/config';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { silentLogger } from '../../../src/logging/logger';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { WorkerProcess, startWorkerProcess } from '../../../src/processes/worker-process';
import { Ledger } from '../../../src/ledger/ledger';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { bullJobId } from '../../../src/queueing/job-id';
import { GatewayOutcomeJobData, createGatewayOutcomesQueue } from '../../../src/webhooks/gateway-outcomes-queue';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { onRedisCluster, testConfig } from '../../support/test-config';
import { postSimulatorSigned, simulatorAuthorizationEvent, simulatorWebhookGateway } from '../../support/webhook-stack';

jest.setTimeout(30_000);

const SECRET = 'whsec-webhook-replica-acks-0123456789';
const gateways = { simulator: simulatorWebhookGateway(SECRET) };
const UNACKNOWLEDGED = { write: 'webhook', outcome: 'unacknowledged' };

/** The web process that waits for replicas (more than the test Redis has), and one of the same namespace that does not. */
let waiting: WebProcess;
let plain: WebProcess;
let plainConfig: Config;
/** Started once the first webhook's job was dropped, so that it cannot apply that job first. */
let worker: WorkerProcess | undefined;
let redis: RedisClient;
let ledger: Ledger;
let outcomes: Queue<GatewayOutcomeJobData>;
const webLogs = captureLogger('warn');

beforeAll(async () => {
  plainConfig = testConfig({ gateways });
  const waitingConfig: Config = {
    ...plainConfig,
    // A single Redis has no replica, the local cluster one per primary: WAIT never reaches this count.
    redis: { ...plainConfig.redis, replicaAcks: { replicas: onRedisCluster() ? 2 : 1, timeoutMs: 50 } },
  };
  const routes = createGatewayClients(plainConfig);
  waiting = await startWebProcess(waitingConfig, webLogs.logger, { webhooks: routes });
  plain = await startWebProcess(plainConfig, silentLogger(), { webhooks: routes });
  redis = createRedis(plainConfig.redis, 'commands');
  ledger = new Ledger(redis, plainConfig.redis.keyPrefix);
  outcomes = createGatewayOutcomesQueue(redis, plainConfig.redis.keyPrefix);
});

async function startWorker(): Promise<WorkerProcess> {
  worker ??= await startWorkerProcess(plainConfig, silentLogger(), { routes: createGatewayClients(plainConfig), notifier: { notify: async () => undefined } });
  return worker;
}

afterAll(async () => {
  await outcomes.close();
  await waiting.stop();
  await plain.stop();
  await worker?.stop();
  await purgeNamespace(plainConfig).catch(() => undefined);
  await redis.quit();
});

/** A 3-D Secure result: the authorization the customer completed. */
function authorized(reference: string): string {
  return simulatorAuthorizationEvent(reference, { eventId: `evt_${reference}_authorized` });
}

/** The PSP's delivery of `body`, signed as it signs a retry (the same body, a fresh timestamp). */
async function deliver(web: WebProcess, body: string): Promise<Response> {
  return postSimulatorSigned({ web }, 'simulator', body, SECRET);
}

/** An authorization waiting on the customer's challenge (ACTION_REQUIRED), as after a 3-D Secure answer. */
async function awaitingChallenge(): Promise<string> {
  const command = channelCommand('authorize');
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
  await ledger.transition(id, 'ACTION_REQUIRED', { event: 'outcome' }, { nextCheckAt: Date.now() + 600_000, pollStep: 0 });
  return id;
}

it('a webhook whose queued outcome no replica acknowledged is answered 503, and the PSP’s retry is accepted and applied', async () => {
  const id = await awaitingChallenge();
  const body = authorized(id);
  const before = await metricValue('pb_ledger_writes_unreplicated_total', UNACKNOWLEDGED);
  const first = await deliver(waiting, body);
  expect(first.status).toBe(503);
  expect(first.headers.get('retry-after')).toBe('1');
  expect(await metricValue('pb_ledger_writes_unreplicated_total', UNACKNOWLEDGED)).toBe(before + 1);
  expect(webLogs.lines.some((l) => l.includes('webhook answered 503') && l.includes('"gateway":"simulator"'))).toBe(true);
  expect(waiting.webhooks.stats).toMatchObject({ accepted: 0, duplicates: 0 });
  // The demoted primary drops the job it acknowledged.
  const jobId = bullJobId(`wh.simulator.evt_${id}_authorized`);
  expect(await outcomes.remove(jobId)).toBe(1);
  const applier = await startWorker();
  // The PSP sends it again, to a web process whose write is confirmed: accepted as new, queued and applied.
  const retry = await deliver(plain, body);
  expect(retry.status).toBe(200);
  expect(plain.webhooks.stats).toMatchObject({ accepted: 1, duplicates: 0 });
  await eventually(async () => (await ledger.get(id))?.state === 'SUCCEEDED');
  expect(await applier.events.load(`${id}.SUCCEEDED`)).not.toBeNull();
});

it('without redis.replica_acks nothing waits: a webhook is answered 200 and nothing is counted', async () => {
  await startWorker();
  const id = await awaitingChallenge();
  const before = await metricValue('pb_ledger_writes_unreplicated_total', UNACKNOWLEDGED);
  expect((await deliver(plain, authorized(id))).status).toBe(200);
  await eventually(async () => (await ledger.get(id))?.state === 'SUCCEEDED');
  expect(await metricValue('pb_ledger_writes_unreplicated_total', UNACKNOWLEDGED)).toBe(before);
});
