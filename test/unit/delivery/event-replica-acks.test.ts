import { Queue } from 'bullmq';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { DependencyUnavailableError } from '../../../src/errors/dependency-unavailable-error';
import { EventStore, RecordResult } from '../../../src/events/event-store';
import { OmsEventJobData } from '../../../src/events/oms-events-queue';
import { PaymentEvent } from '../../../src/events/payment-event';
import { Ledger } from '../../../src/ledger/ledger';
import { silentLogger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { testConfig } from '../../support/test-config';

/**
 * `OutcomeRecorder.emit` (adjustments, risk reviews, a settled operation's event…) with `redis.replica_acks`: the
 * recorded event is confirmed on the replicas between its recording and its dispatch, as an outcome's move is in
 * `decide`. Before, it went to the bus (or the queue) unconfirmed: a primary demoted after a failover could drop
 * an event the OMS had been told of. Steps are counted here on fakes; the Redis side is
 * test/integration/delivery/outcome-replica-acks.test.ts.
 */
const event: PaymentEvent = { eventId: 'adj-1.adjusted', paymentKey: 'simulator:acct:order-1', shard: 3, method: 'oms.payments.adjusted', params: {} };
const UNACKNOWLEDGED = { write: 'event', outcome: 'unacknowledged' };

function recorderWith(replicaAcks: number, acks: number, recorded: RecordResult = { sequence: 1, sent: 0, claimed: true }) {
  const steps: string[] = [];
  const events = {
    recordAndCheck: async (_e: PaymentEvent, _now: number, _lease?: number, settles?: { operationId: string }) => {
      steps.push(settles ? `record settles ${settles.operationId}` : 'record');
      return recorded;
    },
    replicaAcknowledged: async (_e: PaymentEvent, replicas: number, timeoutMs: number, settles?: { operationId: string }) => {
      steps.push(`wait ${replicas} ${timeoutMs}${settles ? ` with ${settles.operationId}` : ''}`);
      return { present: true, acks };
    },
    release: async (id: string) => void steps.push(`release ${id}`),
    markSent: async () => void steps.push('mark sent'),
  };
  const eventsQueue = { add: async (_name: string, data: OmsEventJobData) => void steps.push(`queue ${data.eventId}${data.replicated ? ' replicated' : ''}`) };
  const notifier = { notify: async () => void steps.push('send') };
  const overrides = replicaAcks > 0 ? { 'redis.replica_acks': replicaAcks, 'redis.replica_ack_timeout_ms': 50 } : {};
  const recorder = new OutcomeRecorder({
    config: testConfig(overrides),
    ledger: {} as Ledger,
    events: events as unknown as EventStore,
    eventsQueue: eventsQueue as unknown as Queue<OmsEventJobData>,
    logger: silentLogger(),
    notifier,
  });
  return { recorder, steps };
}

it('an event no replica acknowledged is neither sent nor queued: its lease is given back and the emit fails as a Redis outage', async () => {
  const { recorder, steps } = recorderWith(1, 0);
  const before = await metricValue('pb_ledger_writes_unreplicated_total', UNACKNOWLEDGED);
  await expect(recorder.emit(event)).rejects.toBeInstanceOf(DependencyUnavailableError);
  await expect(recorderWith(1, 0).recorder.emit(event)).rejects.toThrow('event of adj-1.adjusted acknowledged by 0 of 1 replica(s) in 50 ms');
  expect(steps).toEqual(['record', 'wait 1 50', 'release adj-1.adjusted']);
  expect(await metricValue('pb_ledger_writes_unreplicated_total', UNACKNOWLEDGED)).toBe(before + 2);
});

it('a confirmed event is sent after the wait; a settled operation is waited for with its event', async () => {
  const { recorder, steps } = recorderWith(1, 1);
  await recorder.emit(event);
  expect(steps).toEqual(['record', 'wait 1 50', 'send', 'mark sent']);
  const settled = recorderWith(1, 1, { sequence: 2, sent: 0, claimed: false });
  await settled.recorder.emit(event, 'op-1');
  // The job says the event was confirmed: the oms-events sender does not wait for the replicas again.
  expect(settled.steps).toEqual(['record settles op-1', 'wait 1 50 with op-1', 'queue adj-1.adjusted replicated']);
});

it('without the setting, or for an event already delivered, nothing is waited for', async () => {
  const plain = recorderWith(0, 0);
  await plain.recorder.emit(event);
  expect(plain.steps).toEqual(['record', 'send', 'mark sent']);
  // Queued without the setting: the job is as it always was (nothing confirmed, nothing claimed).
  const queued = recorderWith(0, 0, { sequence: 2, sent: 0, claimed: false });
  await queued.recorder.emit(event);
  expect(queued.steps).toEqual(['record', 'queue adj-1.adjusted']);
  const delivered = recorderWith(1, 0, { sequence: 1, sent: 1, claimed: false });
  await delivered.recorder.emit(event);
  expect(delivered.steps).toEqual(['record']);
});
