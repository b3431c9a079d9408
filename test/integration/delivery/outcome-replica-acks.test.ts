import { DependencyUnavailableError } from '../../../src/errors/dependency-unavailable-error';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { DeliveryStack, useDeliveryStacks } from '../../support/delivery-stack';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

/**
 * `redis.replica_acks` on an outcome: the PSP's answer moves the operation and records its event, and the OMS
 * hears of it only once a replica acknowledged that write. The money-truth drill (seed 441, Redis Cluster
 * primaries SIGSTOPped until replaced, then resumed) showed why: a resumed primary acknowledged captures'
 * SUCCEEDED moves and events, then dropped them on rejoining as a replica; the PSP held four captures the OMS was
 * never told of, and refunds of them were judged against a ledger without them (told FAIL, made at the PSP).
 * The test says how many replicas acknowledged: none first, then one (a single Redis has none, the suite's Redis
 * Cluster one per primary).
 */
const stacks = useDeliveryStacks();
let stack: DeliveryStack;
let replicasAnswering = 0;

beforeAll(() => {
  stack = stacks.build(testConfig({ 'redis.replica_acks': 1, 'redis.replica_ack_timeout_ms': 50 }));
  const ledger = stack.ledger as unknown as {
    replicaAcknowledged?: (id: string, p: unknown, n: number, t: number) => Promise<{ present: boolean; acks: number }>;
  };
  const real = ledger.replicaAcknowledged?.bind(stack.ledger);
  ledger.replicaAcknowledged = async (id, p, _n, t) => {
    // The real WAIT still runs (and says whether the record is there); how many replicas answered is the test's
    // to say, since the Redis Cluster the suite also runs on has a replica per primary.
    const seen = real ? await real(id, p, 1, t) : { present: true, acks: 0 };
    return { present: seen.present, acks: replicasAnswering };
  };
  // The same for the wait before an event settled from the record is sent or queued (`OutcomeRecorder.emit`).
  const events = stack.events as unknown as {
    replicaAcknowledged?: (e: unknown, n: number, t: number, s?: unknown) => Promise<{ present: boolean; acks: number }>;
  };
  const realEvent = events.replicaAcknowledged?.bind(stack.events);
  events.replicaAcknowledged = async (e, _n, t, s) => {
    const seen = realEvent ? await realEvent(e, 1, t, s) : { present: true, acks: 0 };
    return { present: seen.present, acks: replicasAnswering };
  };
});

it('an outcome no replica acknowledged is not acted on: the call fails as a Redis outage (the job retries), then settles once one does', async () => {
  const id = 'replica-acks-1';
  await stack.ledger.create(id, channelCommand('capture', { channel: 'bus' }, { operation_reference: id, order_id: `o-${id}`, amount: 2500, currency: 'USD' }));
  await stack.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
  const before = await metricValue('pb_ledger_writes_unreplicated_total', { write: 'outcome', outcome: 'unacknowledged' });
  const answer = { status: 'SUCCESS', gatewayStatus: 'captured', amount: 2500, currency: 'USD' } as const;
  await expect(stack.recorder.apply((await stack.ledger.get(id))!, answer, 'response')).rejects.toBeInstanceOf(DependencyUnavailableError);
  expect(await metricValue('pb_ledger_writes_unreplicated_total', { write: 'outcome', outcome: 'unacknowledged' })).toBe(before + 1);
  // A retry while still no replica answers: the operation is SUCCEEDED now, its event is settled from the record,
  // and is not sent or queued either (it used to go out here, unconfirmed).
  const settling = await metricValue('pb_ledger_writes_unreplicated_total', { write: 'event', outcome: 'unacknowledged' });
  await expect(stack.recorder.apply((await stack.ledger.get(id))!, answer, 'response')).rejects.toBeInstanceOf(DependencyUnavailableError);
  expect(await metricValue('pb_ledger_writes_unreplicated_total', { write: 'event', outcome: 'unacknowledged' })).toBe(settling + 1);
  replicasAnswering = 1;
  // The job's retry: the move is there (this Redis kept it), so the retry settles its event.
  const settled = await stack.recorder.apply((await stack.ledger.get(id))!, answer, 'response');
  expect(settled.state).toBe('SUCCEEDED');
  expect((await stack.events.load(`${id}.SUCCEEDED`))?.params.payment).toMatchObject({ status: 'SUCCESS', amount: 2500 });
});
