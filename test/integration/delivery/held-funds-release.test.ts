import http from 'node:http';
import { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import { Config } from '../../../src/config/config';
import { DeliveryJobData, createDeliveryQueue } from '../../../src/delivery/delivery-queue';
import { DeliveryService } from '../../../src/delivery/delivery-service';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { OrphanReversal, releasingHeldFunds, voidOperationId } from '../../../src/poller/orphan-reversal';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { bullJobId } from '../../../src/queueing/job-id';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { requiredCredentials } from '../../support/gateway-credentials';

/** 22-digit Cybersource payment ids (no Luhn-valid card-length window). */
const AUTH_ID = '6381278241084565908266';
const REVERSAL_ID = '7000000000000000000001';

/**
 * A local Cybersource stand-in: every payment is approved by the issuer and then rejected by Decision
 * Manager (`AUTHORIZED_RISK_DECLINED`, the funds held), and a reversal of it is answered REVERSED.
 */
const reversals: { id: string; body: Record<string, unknown> }[] = [];
let server: http.Server;
const configs: Config[] = [];
let redis: RedisClient;
const queues: Queue[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const json = (status: number, answer: unknown) => {
        res.writeHead(status, { 'content-type': 'application/hal+json' });
        res.end(JSON.stringify(answer));
      };
      if (req.method === 'POST' && req.url === '/pts/v2/payments') {
        return json(201, {
          id: AUTH_ID,
          status: 'AUTHORIZED_RISK_DECLINED',
          errorInformation: { reason: 'DECISION_PROFILE_REJECT', message: 'Decision Manager rejected the order' },
          orderInformation: { amountDetails: { authorizedAmount: '100.00', currency: 'USD' } },
        });
      }
      const reversal = /^\/pts\/v2\/payments\/(\d+)\/reversals$/.exec(req.url ?? '');
      if (req.method === 'POST' && reversal) {
        reversals.push({ id: reversal[1], body: JSON.parse(body) as Record<string, unknown> });
        return json(201, { id: REVERSAL_ID, status: 'REVERSED', reversalAmountDetails: { reversedAmount: '100.00', currency: 'USD' } });
      }
      json(404, { reason: 'NOT_FOUND' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  for (const q of queues) await q.close();
  redis?.disconnect();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  for (const c of configs) await purgeNamespace(c).catch(() => undefined);
});

function setup(mode: 'on' | 'dry_run') {
  const config = testConfig({
    'authorizations.orphan_reversal': mode,
    gateways: {
      cybs: {
        type: 'cybersource',
        base_url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        ...requiredCredentials('cybersource'),
        merchant_account: '93B32398-AD51-4CC2-A682-EA3E93614EB1',
        timeout_ms: 2000,
      },
    },
  });
  configs.push(config);
  redis ??= createRedis(config.redis, 'commands');
  const eventsQueue: Queue<OmsEventJobData> = createOmsEventsQueue(redis, config.redis.keyPrefix);
  const deliveryQueue: Queue<DeliveryJobData> = createDeliveryQueue(redis, config.redis.keyPrefix);
  queues.push(eventsQueue, deliveryQueue);
  const ledger = new Ledger(redis, config.redis.keyPrefix);
  const events = new EventStore(redis, config.redis.keyPrefix);
  const { logger, lines } = captureLogger();
  const orphans = new OrphanReversal({ config, redis, ledger, deliveryQueue, logger });
  const recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger, releaseHeld: releasingHeldFunds(orphans) });
  const service = new DeliveryService({ config, ledger, router: new ConfiguredGatewayRouter(createGatewayClients(config)), recorder, logger });
  return { ledger, service, recorder, deliveryQueue, lines };
}

/** The JSON line with `message` about operation `id`, if one was logged. */
function logged(lines: string[], message: string, id: string): Record<string, unknown> | undefined {
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.message === message && l.operation_id === id);
}

describe('Cybersource AUTHORIZED_RISK_DECLINED: failed, and the hold the issuer approved is released', () => {
  it.each(['authorize', 'sale'] as const)(
    'fails the %s, then voids its authorization at Cybersource through orphan reversal (risk_declined)',
    async (command) => {
      const { ledger, service, deliveryQueue, lines } = setup('on');
      const cmd = channelCommand(command, {}, { gateway: 'cybs', gateway_key: 'AB695DA801DD1BB6E05341588E0A3BDC', amount: 10000, currency: 'USD' });
      const id = cmd.payment.operation_reference!;
      await ledger.create(id, cmd);
      const before = await metricValue('pb_failed_with_funds_held_total', { gateway: 'cybs', release: 'voided' });
      const voidsBefore = await metricValue('pb_orphan_reversals_total', { gateway: 'cybs', mode: 'on', reason: 'risk_declined' });

      expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
      expect(await ledger.get(id)).toMatchObject({ state: 'FAILED', gatewayStatus: 'AUTHORIZED_RISK_DECLINED', gatewayReference: AUTH_ID });

      const voidId = voidOperationId(id);
      const voidOp = await ledger.get(voidId);
      expect(voidOp).toMatchObject({
        command: 'cancel',
        channel: 'bridge',
        payment: { gateway: 'cybs', gateway_key: AUTH_ID, orphan_reversal: 'risk_declined', amount: 10000 },
      });
      expect(await deliveryQueue.getJob(bullJobId(voidId))).toBeDefined();
      expect(await metricValue('pb_failed_with_funds_held_total', { gateway: 'cybs', release: 'voided' })).toBe(before + 1);
      expect(await metricValue('pb_orphan_reversals_total', { gateway: 'cybs', mode: 'on', reason: 'risk_declined' })).toBe(voidsBefore + 1);
      expect(logged(lines, 'operation failed while the PSP holds its funds: voiding the authorization', id)).toMatchObject({ release: 'voided' });

      // The void goes out like any cancel: a reversal of the authorization Cybersource holds.
      const seen = reversals.length;
      expect(await service.deliver(voidId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
      expect(reversals.slice(seen)).toEqual([expect.objectContaining({ id: AUTH_ID })]);
    },
  );

  it('in dry run voids nothing, and says the hold stands for a person to reverse', async () => {
    const { ledger, service, lines } = setup('dry_run');
    const cmd = channelCommand('authorize', {}, { gateway: 'cybs', gateway_key: 'AB695DA801DD1BB6E05341588E0A3BDC', amount: 10000, currency: 'USD' });
    const id = cmd.payment.operation_reference!;
    await ledger.create(id, cmd);
    const before = await metricValue('pb_failed_with_funds_held_total', { gateway: 'cybs', release: 'would_void' });
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await ledger.get(voidOperationId(id))).toBeNull();
    expect(await metricValue('pb_failed_with_funds_held_total', { gateway: 'cybs', release: 'would_void' })).toBe(before + 1);
    expect(logged(lines, 'operation failed while the PSP holds its funds, and the hold is not being released: reverse it at the PSP', id)).toMatchObject({
      release: 'would_void',
    });
  });
});

describe('Cybersource review rejected (risk.casemanagement.decision.reject): failed, and the hold kept for the review is released', () => {
  it.each(['authorize', 'sale'] as const)(
    'fails the %s a review rejected (it was authorized and held for review), then voids its authorization (review_rejected)',
    async (command) => {
      const { ledger, service, recorder, lines } = setup('on');
      const cmd = channelCommand(command, {}, { gateway: 'cybs', gateway_key: 'AB695DA801DD1BB6E05341588E0A3BDC', amount: 10000, currency: 'USD' });
      const id = cmd.payment.operation_reference!;
      await ledger.create(id, cmd);
      await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
      await ledger.transition(
        id,
        'PENDING',
        { event: 'outcome' },
        { gatewayReference: AUTH_ID, gatewayStatus: 'AUTHORIZED_PENDING_REVIEW', nextCheckAt: Date.now() + 600_000, pollStep: 0 },
      );
      const held = (await ledger.get(id))!;
      const before = await metricValue('pb_failed_with_funds_held_total', { gateway: 'cybs', reason: 'review_rejected', release: 'voided' });
      const voidsBefore = await metricValue('pb_orphan_reversals_total', { gateway: 'cybs', mode: 'on', reason: 'review_rejected' });

      const rejected = {
        status: 'FAIL' as const,
        gatewayStatus: 'risk.casemanagement.decision.reject',
        gatewayReference: AUTH_ID,
        reason: 'risk.casemanagement.decision.reject',
        fundsHeld: 'review_rejected' as const,
      };
      expect(await recorder.apply(held, rejected, 'webhook')).toMatchObject({ state: 'FAILED' });

      const voidId = voidOperationId(id);
      expect(await ledger.get(voidId)).toMatchObject({
        command: 'cancel',
        channel: 'bridge',
        payment: { gateway: 'cybs', gateway_key: AUTH_ID, orphan_reversal: 'review_rejected', amount: 10000 },
      });
      expect(await metricValue('pb_failed_with_funds_held_total', { gateway: 'cybs', reason: 'review_rejected', release: 'voided' })).toBe(before + 1);
      expect(await metricValue('pb_orphan_reversals_total', { gateway: 'cybs', mode: 'on', reason: 'review_rejected' })).toBe(voidsBefore + 1);
      expect(logged(lines, 'operation failed while the PSP holds its funds: voiding the authorization', id)).toMatchObject({
        release: 'voided',
        held_because: 'review_rejected',
      });

      const seen = reversals.length;
      expect(await service.deliver(voidId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
      expect(reversals.slice(seen)).toEqual([expect.objectContaining({ id: AUTH_ID })]);
    },
  );
});
