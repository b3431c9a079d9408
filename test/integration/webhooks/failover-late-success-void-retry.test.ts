/**
 * A failover's late success (`duplicate_after_failover`) whose void at the gateway failed over from could not be asked
 * for: the adjustment is written, then the void's delivery job cannot be queued (a Redis error), so the webhook job
 * fails and is retried. The retry finds the adjustment recorded (`created: false`) and must still ask for the void
 * (idempotent by its deterministic id): else the customer's second authorization stays held until it lapses, and
 * nothing reports it. Real RabbitMQ and Redis, the real worker process; the webhook job is applied as its worker does.
 */
import { Config } from '../../../src/config/config';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { WorkerProcess } from '../../../src/processes/worker-process';
import { OrphanReversal, voidOperationId } from '../../../src/poller/orphan-reversal';
import { applyEarlierAttemptOutcome } from '../../../src/webhooks/earlier-attempt';
import { GatewayOutcomeJobData } from '../../../src/webhooks/gateway-outcomes-queue';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { captureLogger } from '../../support/capture-logger';
import { useFailoverPair } from '../../support/failover-pair';
import { channelCommand } from '../../support/fixtures';
import { failingOnce } from '../../support/failing-once-queue';

jest.setTimeout(60_000);

let sim: PspSimulator;
const logs = captureLogger('info');

const pair = useFailoverPair({
  async start() {
    sim = await startPspSimulator({ apiKey: 'sim-void-retry-key-0123456789' });
    const entry = {
      type: 'simulator',
      base_url: sim.url,
      api_key: 'sim-void-retry-key-0123456789',
      webhook_secret: 'whsec-void-retry-0123456789',
      timeout_ms: 2000,
    };
    return { sima: entry, simb: entry };
  },
  async stop() {
    await sim?.stop();
  },
  logger: logs.logger,
  web: false,
});
/** The pair's configuration and worker, by the names the tests use. */
let config: Config;
let worker: WorkerProcess;
beforeAll(() => {
  ({ config, worker } = pair);
});

describe("a failover's late success whose void could not be asked for the first time", () => {
  it('the retried webhook job asks for it again: the void at the gateway failed over from exists and is queued exactly once', async () => {
    const breaker = worker.delivery.breaker('sima');
    for (let i = 0; i < 3; i++) breaker.failure();
    const command = channelCommand('authorize', {}, { gateway: 'sima', gateway_key: 'pm_card_declined', currency: 'EUR', order_id: 'ORD-VOID-RETRY' });
    const id = command.payment.operation_reference!;
    await worker.ledger.create(id, command);
    expect(await worker.delivery.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    breaker.success();
    const op = (await worker.ledger.get(id))!;
    expect(op.routing).toMatchObject({ gateway: 'simb', failovers: [{ from: 'sima', to: 'simb' }] });

    const { queue, added } = failingOnce(worker.deliveryQueue);
    const orphans = new OrphanReversal({ config, redis: worker.redis, ledger: worker.ledger, deliveryQueue: queue, logger: logs.logger });
    const deps = { ledger: worker.ledger, adjustments: worker.adjustments, logger: logs.logger, orphans };
    const job: GatewayOutcomeJobData = {
      gateway: 'sima',
      eventId: `evt_${id}`,
      operationId: id,
      outcome: { status: 'SUCCESS', gatewayStatus: 'authorized', gatewayReference: `auth_${id}`, amount: 1999, currency: 'EUR' },
    };

    await expect(applyEarlierAttemptOutcome(op, job, deps)).rejects.toThrow('READONLY');
    expect(await worker.adjustmentStore.forOperation(id)).toHaveLength(1);
    const voidId = voidOperationId(`${id}-sima`);
    expect(added).toEqual([]);

    // The webhook job's retry.
    await applyEarlierAttemptOutcome((await worker.ledger.get(id))!, job, deps);
    expect(await worker.ledger.get(voidId)).not.toBeNull();
    expect(added).toEqual([voidId]);
    expect(await worker.adjustmentStore.forOperation(id)).toMatchObject([{ kind: 'duplicate_after_failover', gateway: 'sima' }]);
    // A further repeat (a webhook resent) neither adds a second void nor a second adjustment.
    await applyEarlierAttemptOutcome((await worker.ledger.get(id))!, job, deps);
    expect(await worker.adjustmentStore.forOperation(id)).toHaveLength(1);
    expect(await worker.ledger.get(voidOperationId(id))).toBeNull();
  });

  it('in dry run a repeated webhook asks again but reports the would-be void once: counted and warned of on the first recording only', async () => {
    const breaker = worker.delivery.breaker('sima');
    for (let i = 0; i < 3; i++) breaker.failure();
    const command = channelCommand('authorize', {}, { gateway: 'sima', gateway_key: 'pm_card_declined', currency: 'EUR', order_id: 'ORD-VOID-DRY' });
    const id = command.payment.operation_reference!;
    await worker.ledger.create(id, command);
    expect(await worker.delivery.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    breaker.success();
    const orphans = new OrphanReversal({
      config,
      redis: worker.redis,
      ledger: worker.ledger,
      deliveryQueue: worker.deliveryQueue,
      logger: logs.logger,
      mode: 'dry_run',
    });
    const deps = { ledger: worker.ledger, adjustments: worker.adjustments, logger: logs.logger, orphans };
    const job: GatewayOutcomeJobData = {
      gateway: 'sima',
      eventId: `evt_${id}`,
      operationId: id,
      outcome: { status: 'SUCCESS', gatewayStatus: 'authorized', gatewayReference: `auth_${id}`, amount: 1999, currency: 'EUR' },
    };
    const labels = { gateway: 'sima', mode: 'dry_run', reason: 'failover_duplicate' };
    const before = await metricValue('pb_orphan_reversals_total', labels);
    for (let i = 0; i < 3; i++) await applyEarlierAttemptOutcome((await worker.ledger.get(id))!, job, deps);
    expect(await metricValue('pb_orphan_reversals_total', labels)).toBe(before + 1);
    const warned = logs.lines.filter((l) => l.includes('orphan reversal (dry run): would void this authorization') && l.includes(id));
    expect(warned).toHaveLength(1);
    expect(await worker.ledger.get(voidOperationId(`${id}-sima`))).toBeNull();
  });
});
