import { Queue } from 'bullmq';
import { Config } from '../../../src/config/config';
import { validateCommand } from '../../../src/contracts/command-validator';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { REFERENCE_PATTERN } from '../../../src/contracts/payment-command-schema';
import { DeliveryJobData, createDeliveryQueue } from '../../../src/delivery/delivery-queue';
import { Ledger } from '../../../src/ledger/ledger';
import { operationIdOf } from '../../../src/ledger/operation-id';
import { RedisClient } from '../../../src/redis/redis-connection';
import { SplitTenderService } from '../../../src/split-tender/split-tender-service';
import { planOf, refundReferences, stepReferences } from '../../../src/split-tender/split-tender-plan';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { testConfig, testNamespace } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

/**
 * A split's steps are operations whose ids no channel can send: a channel command whose reference is
 * `<split id>.gc` (the reference alphabet allows dots) is an operation of its own, never the split's
 * redemption, whether it arrives before the split sends its step or after. Real Redis and ledger.
 */

let config: Config;
let redis: RedisClient;
let queue: Queue<DeliveryJobData>;
let ledger: Ledger;

beforeAll(() => {
  config = testConfig();
  redis = testRedis(config);
  queue = createDeliveryQueue(redis, config.redis.keyPrefix);
  ledger = new Ledger(redis, config.redis.keyPrefix);
});

afterAll(async () => {
  await queue.close();
  redis.disconnect();
  await purgeNamespace(config).catch(() => undefined);
});

/** A split sale as a channel sends it (validated), under `reference`. */
function splitCommand(reference: string): PaymentCommand {
  return validateCommand({
    version: 1,
    command: 'authorize',
    channel: 'web',
    received_at: new Date().toISOString(),
    payment: {
      gateway: 'sim',
      gateway_account: 'acme',
      gateway_key: 'pm_card_visa',
      amount: 10000,
      currency: 'EUR',
      order_id: `ORD-${reference}`,
      operation_reference: reference,
      tenders: [
        { type: 'gift_card', gateway: 'sim', gateway_account: 'acme', gateway_key: 'gc_demo_5000', amount: 3000 },
        { type: 'card', gateway: 'sim', gateway_account: 'acme', gateway_key: 'pm_card_visa' },
      ],
    },
  });
}

/** A plain authorize a channel sends (validated) with `reference`, for the order `orderId`. */
function channelAuthorize(reference: string, orderId: string): PaymentCommand {
  return validateCommand({
    version: 1,
    command: 'authorize',
    channel: 'pos',
    received_at: new Date().toISOString(),
    payment: {
      gateway: 'sim',
      gateway_account: 'acme',
      gateway_key: 'pm_card_other',
      amount: 100,
      currency: 'EUR',
      order_id: orderId,
      operation_reference: reference,
    },
  });
}

describe('split tender step ids', () => {
  it('every step and refund part id of a new split is refused by the reference pattern, so no channel command can be given it', () => {
    const plan = planOf('split-1', splitCommand('split-1'));
    const pattern = new RegExp(REFERENCE_PATTERN);
    const ids = [...Object.values(stepReferences(plan)), ...Object.values(refundReferences({ refundId: 'split-1', stepIds: 'namespaced' }))];
    for (const id of ids) expect(pattern.test(id)).toBe(false);
    // A refund whose id is the split's own takes none of its steps.
    expect(new Set(ids).size).toBe(ids.length);
    // A split stored before keeps the ids its steps were recorded under.
    expect(stepReferences({ id: 'split-1' }).giftCard).toBe('split-1.gc');
  });

  it('a channel command sent with the reference <split id>.gc before the split is not taken for its redemption: the split sends its own and waits for it', async () => {
    const splitId = `split-${testNamespace()}`;
    // The forged command passes validation (dots are allowed) and succeeds at its PSP before the split starts.
    const forged = channelAuthorize(`${splitId}.gc`, `ORD-${splitId}`);
    const forgedId = operationIdOf(forged);
    expect(forgedId).toBe(`${splitId}.gc`);
    await ledger.create(forgedId, forged);
    await ledger.transition(forgedId, 'SENT', { event: 'attempt' });
    await ledger.transition(forgedId, 'SUCCEEDED', { event: 'outcome' }, { gatewayReference: 'psp-forged' });

    const service = new SplitTenderService({ config, ledger, redis, deliveryQueue: queue, emit: async () => undefined, logger: captureLogger().logger });
    const plan = planOf(splitId, splitCommand(splitId));
    await service.coordinator.begin(plan);
    await service.advanceMember({ kind: 'split', id: splitId });

    // Still redeeming: the card is not charged on the strength of another command's success.
    expect(await service.coordinator.state(splitId)).toBe('REDEEMING');
    const redemption = await ledger.get(stepReferences(plan).giftCard);
    expect(redemption).toMatchObject({ state: 'RECEIVED', payment: { amount: 3000, gateway_key: 'gc_demo_5000' } });
    expect(redemption?.id).not.toBe(forgedId);
    expect(await ledger.get(stepReferences(plan).card)).toBeNull();
    expect(await ledger.get(forgedId)).toMatchObject({ state: 'SUCCEEDED', payment: { gateway_key: 'pm_card_other', amount: 100 } });
  });

  it('a channel command sent with the reference <split id>.gc after the split sent its redemption is an operation of its own, neither a duplicate of the step nor an idempotency conflict', async () => {
    const splitId = `split-${testNamespace()}`;
    const service = new SplitTenderService({ config, ledger, redis, deliveryQueue: queue, emit: async () => undefined, logger: captureLogger().logger });
    await service.coordinator.begin(planOf(splitId, splitCommand(splitId)));
    await service.advanceMember({ kind: 'split', id: splitId });
    const late = channelAuthorize(`${splitId}.gc`, `ORD-${splitId}`);
    expect(await ledger.create(operationIdOf(late), late)).toMatchObject({ created: true, conflict: false });
    expect(await ledger.get(operationIdOf(late))).toMatchObject({ state: 'RECEIVED', payment: { gateway_key: 'pm_card_other', amount: 100 } });
  });
  it('a split stored before its steps were namespaced resumes on the steps it recorded (<split id>.gc), redeeming nothing twice', async () => {
    const splitId = `split-${testNamespace()}`;
    const { step_ids: _namespaced, ...legacy } = planOf(splitId, splitCommand(splitId));
    const redeem = `${splitId}.gc`;
    const command = splitCommand(splitId);
    await ledger.create(redeem, { ...command, payment: { ...command.payment, amount: 3000, operation_reference: redeem } });
    await ledger.transition(redeem, 'SENT', { event: 'attempt' });
    await ledger.transition(redeem, 'SUCCEEDED', { event: 'outcome' }, { gatewayReference: 'psp-redeemed' });
    const service = new SplitTenderService({ config, ledger, redis, deliveryQueue: queue, emit: async () => undefined, logger: captureLogger().logger });
    await service.coordinator.begin(legacy);
    await service.advanceMember({ kind: 'split', id: splitId });
    expect(await service.coordinator.state(splitId)).toBe('CHARGING_CARD');
    expect(await ledger.get(`${splitId}.card`)).toMatchObject({ state: 'RECEIVED', payment: { amount: 7000 } });
    expect(await ledger.get(stepReferences({ id: splitId, step_ids: 'namespaced' }).giftCard)).toBeNull();
  });
});
