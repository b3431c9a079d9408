/**
 * `redis.replica_acks`: a new operation's record must be on its primary and acknowledged by the replicas before
 * the command consumer acts on it. The money-truth drill found why (seed 441, a Redis Cluster primary SIGSTOPped
 * until its replica took over, then resumed): the resumed primary acknowledged the records its clients had sent
 * meanwhile, then dropped them on rejoining as a replica; the commands were acked and queued on records that no
 * longer existed ("delivery job for an operation the ledger does not know; dropping it"), captures the PSP made
 * were never reported. The test Redis has no replica, so the loss and the acknowledgement are played here: the
 * record is removed right after its first write, and the replica count WAIT answers is set by the test.
 */
import { metricValue } from '../../../src/metrics/metrics-registry';
import { operationIdOf } from '../../../src/ledger/operation-id';
import { Ledger } from '../../../src/ledger/ledger';
import { Config } from '../../../src/config/config';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { IntakeProcess, startIntakeProcess } from '../../support/intake-process';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';

jest.setTimeout(30_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Acknowledged = (id: string, payment: unknown, replicas: number, timeoutMs: number) => Promise<{ present: boolean; acks: number }>;

describe('redis.replica_acks: a command is acted on only once its record is on the primary and acknowledged by a replica', () => {
  let config: Config;
  let worker: IntakeProcess;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  const logs = captureLogger();
  /** How many replicas WAIT reports (the test Redis has none): the record's presence is read for real. */
  let replicasAnswering = 1;
  /** Operation ids whose next creation is dropped right after it is written, as a demoted primary drops it. */
  const dropNext = new Set<string>();
  let creations = 0;

  beforeAll(async () => {
    config = testConfig({ 'redis.replica_acks': 1, 'redis.replica_ack_timeout_ms': 50 });
    client = await amqpClient(config);
    worker = await startIntakeProcess(config, logs.logger);
    const ledger: Ledger = worker.ledger;
    const create = ledger.create.bind(ledger);
    ledger.create = async (id, command, ...rest) => {
      creations += 1;
      const result = await create(id, command, ...rest);
      if (dropNext.delete(id)) await worker.redis.del(ledger.keysFor(id, command.payment).op(id));
      return result;
    };
    // Looked up by name: the consumer calls it when the configuration asks for replica acknowledgements.
    const real = (ledger as unknown as { replicaAcknowledged?: Acknowledged }).replicaAcknowledged?.bind(ledger);
    Object.assign(ledger, {
      replicaAcknowledged: async (id: string, payment: unknown, _replicas: number, timeoutMs: number) => {
        const seen = real ? await real(id, payment, 0, timeoutMs) : { present: true, acks: 0 };
        return { present: seen.present, acks: replicasAnswering };
      },
    });
  });

  afterAll(async () => {
    await worker.stop();
    await client.deleteNamespace();
    await client.close();
  });

  it('writes again a record its primary dropped after acknowledging it, before the command is queued', async () => {
    replicasAnswering = 1;
    const cmd = channelCommand('authorize', { channel: 'pos' }, { operation_reference: undefined });
    const id = operationIdOf(cmd);
    dropNext.add(id);
    const lost = await metricValue('pb_ledger_writes_unreplicated_total', { write: 'record', outcome: 'lost' });
    const before = creations;
    await client.publish('pos.payment.authorize', cmd);
    await eventually(async () => (await worker.deliveryQueue.getJob(id)) !== undefined);
    // The job is never queued for a record that is gone: the ledger holds the operation it names.
    expect((await worker.ledger.get(id))?.state).toBe('RECEIVED');
    expect(creations - before).toBe(2);
    expect(await metricValue('pb_ledger_writes_unreplicated_total', { write: 'record', outcome: 'lost' })).toBe(lost + 1);
  });

  it('holds the command while no replica acknowledges its record, and queues it once one does', async () => {
    replicasAnswering = 0;
    const cmd = channelCommand('authorize', { channel: 'pos' }, { operation_reference: undefined });
    const id = operationIdOf(cmd);
    const unacknowledged = await metricValue('pb_ledger_writes_unreplicated_total', { write: 'record', outcome: 'unacknowledged' });
    await client.publish('pos.payment.authorize', cmd);
    await eventually(async () => (await metricValue('pb_ledger_writes_unreplicated_total', { write: 'record', outcome: 'unacknowledged' })) > unacknowledged);
    await sleep(500);
    expect(await worker.deliveryQueue.getJob(id)).toBeUndefined();
    replicasAnswering = 1;
    await eventually(async () => (await worker.deliveryQueue.getJob(id)) !== undefined);
    expect((await worker.ledger.get(id))?.state).toBe('RECEIVED');
  });
});
