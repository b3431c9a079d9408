import type { Payment } from '../../../src/contracts/payment-command';
import { DeliveryService } from '../../../src/delivery/delivery-service';
import { EXTRA_HOLD_CHECK_DELAY_MS, ExtraHoldChecks } from '../../../src/delivery/extra-hold-check';
import { ExtraHoldCheckSweep } from '../../../src/poller/extra-hold-check-sweep';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { extraHoldVoidId, orphanReleases } from '../../../src/poller/orphan-reversal';
import { RedisClient } from '../../../src/redis/redis-connection';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { bullJobId } from '../../../src/queueing/job-id';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { useCybersourceStandIn } from '../../support/cybersource-stand-in';

/** 22-digit Cybersource payment ids (no Luhn-valid card-length window): the first approval, its resend's, a reversal's. */
const FIRST_ID = '6381278241084565908266';
const RESENT_ID = '7000000000000000000001';
const REVERSAL_ID = '7000000000000000000009';

type Json = Record<string, unknown>;

/** Reversals the stand-in was asked for: the transaction reversed and the request's body. */
const reversals: { id: string; body: Json }[] = [];

/** The status the search lists the resend with: AUTHORIZED, or a test's own (AUTHORIZED_RISK_DECLINED). */
let resendStatus = 'AUTHORIZED';
/** Whether the search lists the first approval beside the resend's (a test's own: false, the resend's alone). */
let listsFirst = true;

function approval(id: string, submitTimeUtc: string, authorizedAmount: string, status = 'AUTHORIZED'): Json {
  return {
    id,
    submitTimeUtc,
    applicationInformation: { status, rCode: '1', rFlag: 'SOK', reasonCode: '100', applications: [{ name: 'ics_auth', rCode: '1' }] },
    orderInformation: { amountDetails: { totalAmount: '100.00', authorizedAmount, currency: 'USD' } },
  };
}

/**
 * A local Cybersource stand-in: its search lists, under an operation's merchant reference, two approvals of one
 * authorization (the first, its answer lost, at 13:00 for 90.00 USD of the 100.00 asked; its resend past the 15-minute
 * duplicate check at 13:20 for 100.00); a reversal is answered REVERSED and kept.
 */
const standIn = useCybersourceStandIn(({ method, url, body }) => {
  if (method === 'POST' && url === '/tss/v2/searches') {
    const reference = /clientReferenceInformation\.code:(\S+)/.exec((JSON.parse(body) as { query: string }).query)?.[1] ?? '';
    // Only the authorizations of the operation (`op-…`) are listed; a void's own reference finds nothing.
    const found = [approval(RESENT_ID, '2026-11-29T13:20:00Z', '100.00', resendStatus), approval(FIRST_ID, '2026-11-29T13:00:00Z', '90.00')];
    const listed = reference.startsWith('_')
      ? []
      : found.slice(0, listsFirst ? 2 : 1).map((s) => ({
          ...s,
          clientReferenceInformation: { code: reference },
        }));
    return { status: 201, body: { totalCount: listed.length, _embedded: { transactionSummaries: listed } } };
  }
  // An authorization's own answer (a resend after an attempt whose answer was lost): the resend's approval.
  if (method === 'POST' && url === '/pts/v2/payments') {
    return {
      status: 201,
      body: {
        id: RESENT_ID,
        status: 'AUTHORIZED',
        submitTimeUtc: '2026-11-29T13:20:00Z',
        orderInformation: { amountDetails: { authorizedAmount: '100.00', currency: 'USD' } },
      },
    };
  }
  const reversal = /^\/pts\/v2\/payments\/(\d+)\/reversals$/.exec(url);
  if (method === 'POST' && reversal) {
    reversals.push({ id: reversal[1], body: JSON.parse(body) as Json });
    return { status: 201, body: { id: REVERSAL_ID, status: 'REVERSED', reversalAmountDetails: { reversedAmount: '90.00', currency: 'USD' } } };
  }
  return undefined;
});

function setup(mode: 'on' | 'dry_run' | 'off') {
  // As every process wires the recorder (poller/outcome-recorder-wiring.ts).
  return standIn.stack({ settings: { 'authorizations.orphan_reversal': mode }, releases: orphanReleases });
}

/** An authorization of 100.00 USD that left and whose answer was lost: UNKNOWN, asked about before any resend. */
async function unknownAuthorization(ledger: Ledger): Promise<string> {
  const command = channelCommand('authorize', {}, { gateway: 'cybs', gateway_key: 'AB695DA801DD1BB6E05341588E0A3BDC', amount: 10000, currency: 'USD' });
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true });
  await ledger.transition(id, 'UNKNOWN', { event: 'send_error', kind: 'outcome_unknown' }, { nextCheckAt: Date.now() + 60_000, pollStep: 0 });
  return id;
}

/** The JSON line with `message` about operation `id`, if one was logged. */
function logged(lines: string[], message: string, id: string): Json | undefined {
  return lines.map((l) => JSON.parse(l) as Json).find((l) => l.message === message && l.operation_id === id);
}

const VOIDING = 'orphan reversal: voiding an extra authorization of the operation (a resend the PSP authorized again); nothing will capture it';

describe('Cybersource double authorization found by the status inquiry: the extra authorization is voided (extra_authorization)', () => {
  it('settles SUCCEEDED on the newest approval and sends one reversal of the other, by its transaction id, for the 90.00 it holds', async () => {
    const { ledger, service, deliveryQueue, lines } = setup('on');
    const id = await unknownAuthorization(ledger);
    const before = await metricValue('pb_orphan_reversals_total', { gateway: 'cybs', mode: 'on', reason: 'extra_authorization' });

    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await ledger.get(id)).toMatchObject({ gatewayReference: RESENT_ID, confirmedAmount: 10000, gatewayStatus: 'AUTHORIZED (2 holding funds)' });

    const voidId = extraHoldVoidId(id, FIRST_ID);
    expect(await ledger.get(voidId)).toMatchObject({
      command: 'cancel',
      channel: 'bridge',
      state: 'RECEIVED',
      payment: { gateway: 'cybs', gateway_key: FIRST_ID, amount: 9000, currency: 'USD', orphan_reversal: 'extra_authorization', extra_authorization_of: id },
    });
    expect(await deliveryQueue.getJob(bullJobId(voidId))).toBeDefined();
    expect(await metricValue('pb_orphan_reversals_total', { gateway: 'cybs', mode: 'on', reason: 'extra_authorization' })).toBe(before + 1);
    expect(logged(lines, VOIDING, id)).toMatchObject({ psp_reference: FIRST_ID, void_operation_id: voidId, amount: 9000, currency: 'USD' });
    expect((await ledger.interactions(id)).filter((e) => e.event === 'orphan_reversal')).toEqual([
      expect.objectContaining({ outcome: 'voided', reason: 'extra_authorization', psp_reference: FIRST_ID, reversal_operation_id: voidId, amount: 9000 }),
    ]);

    // The void goes out like any cancel: a reversal of that transaction, never of the one the operation records.
    const seen = reversals.length;
    expect(await service.deliver(voidId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const sent = reversals.slice(seen);
    expect(sent).toEqual([expect.objectContaining({ id: FIRST_ID })]);
    expect(sent[0].body).toMatchObject({ reversalInformation: { amountDetails: { totalAmount: '90.00', currency: 'USD' } } });
    // It names a PSP hold, never an operation of ours: its attempt is not marked as sent by a key unknown to the ledger.
    const attempts = (await ledger.interactions(voidId)).filter((h) => h.event === 'attempt');
    expect(attempts).toHaveLength(1);
    expect(attempts[0].key_unrecorded).toBeUndefined();
  });

  it('a second inquiry finding the same holds (its first pass requested the void, then died before recording) sends no second void', async () => {
    const { ledger, service, orphans, lines } = setup('on');
    const id = await unknownAuthorization(ledger);
    // The first pass: its void of the extra hold requested, the worker killed before the success went on record.
    const first = await orphans.requestExtraHold((await ledger.get(id))!, { pspReference: FIRST_ID, amount: 9000, currency: 'USD' });
    expect(first.outcome).toBe('voided');
    const before = await metricValue('pb_orphan_reversals_total', { gateway: 'cybs', mode: 'on', reason: 'extra_authorization' });

    // The job's retry asks again, finds both approvals, and records the success: the void stands as requested.
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await metricValue('pb_orphan_reversals_total', { gateway: 'cybs', mode: 'on', reason: 'extra_authorization' })).toBe(before);
    expect(lines.filter((l) => (JSON.parse(l) as Json).message === VOIDING)).toHaveLength(1);
    // Its delivery run again (a settled operation) asks nothing and requests nothing.
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });

    const seen = reversals.length;
    const voidId = extraHoldVoidId(id, FIRST_ID);
    expect(await service.deliver(voidId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await service.deliver(voidId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(reversals.slice(seen).map((r) => r.id)).toEqual([FIRST_ID]);
  });

  it("a void requested whose hold another move then recorded as the operation's (a webhook won the race) is refused unsent", async () => {
    const { ledger, service, orphans, recorder } = setup('on');
    const id = await unknownAuthorization(ledger);
    // The inquiry's pass: the void of the first approval requested, before its success of the resend goes on record…
    expect((await orphans.requestExtraHold((await ledger.get(id))!, { pspReference: FIRST_ID, amount: 9000, currency: 'USD' })).outcome).toBe('voided');
    // …and a webhook of that first approval records it first: the OMS is told FIRST_ID is the authorization.
    await recorder.apply((await ledger.get(id))!, { status: 'SUCCESS', gatewayReference: FIRST_ID, gatewayStatus: 'AUTHORIZED' }, 'webhook');
    expect(await ledger.get(id)).toMatchObject({ state: 'SUCCEEDED', gatewayReference: FIRST_ID });

    const seen = reversals.length;
    const voidId = extraHoldVoidId(id, FIRST_ID);
    expect(await service.deliver(voidId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(reversals.slice(seen)).toEqual([]);
    expect(await ledger.get(voidId)).toMatchObject({ state: 'FAILED', reason: 'EXTRA_AUTHORIZATION_RECORDED' });
  });

  it('settles SUCCEEDED on the earlier approval and voids the newer resend Decision Manager rejected (AUTHORIZED_RISK_DECLINED, still holding 100.00)', async () => {
    resendStatus = 'AUTHORIZED_RISK_DECLINED';
    try {
      const { ledger, service } = setup('on');
      const id = await unknownAuthorization(ledger);

      expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
      expect(await ledger.get(id)).toMatchObject({ gatewayReference: FIRST_ID, gatewayStatus: 'AUTHORIZED (2 holding funds)' });
      const voidId = extraHoldVoidId(id, RESENT_ID);
      expect(await ledger.get(voidId)).toMatchObject({
        command: 'cancel',
        state: 'RECEIVED',
        payment: { gateway_key: RESENT_ID, amount: 10000, orphan_reversal: 'extra_authorization', extra_authorization_of: id },
      });
      expect(await ledger.get(extraHoldVoidId(id, FIRST_ID))).toBeNull();

      const seen = reversals.length;
      await service.deliver(voidId);
      expect(reversals.slice(seen).map((r) => r.id)).toEqual([RESENT_ID]);
    } finally {
      resendStatus = 'AUTHORIZED';
    }
  });

  it("the poller's inquiry of a PENDING authorization finding the double authorization voids the extra one the same way", async () => {
    const { ledger, poller } = setup('on');
    const id = await unknownAuthorization(ledger);
    await ledger.transition(id, 'PENDING', { event: 'outcome', source: 'response' }, { nextCheckAt: Date.now() - 1, pollStep: 0 });

    await poller.runOnce();
    expect(await ledger.get(id)).toMatchObject({ state: 'SUCCEEDED', gatewayReference: RESENT_ID });
    expect(await ledger.get(extraHoldVoidId(id, FIRST_ID))).toMatchObject({
      command: 'cancel',
      payment: { gateway_key: FIRST_ID, amount: 9000, orphan_reversal: 'extra_authorization' },
    });
  });

  it('with orphan reversal off sends no void and says the extra authorization holds funds', async () => {
    const { ledger, service, lines } = setup('off');
    const id = await unknownAuthorization(ledger);
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await ledger.get(extraHoldVoidId(id, FIRST_ID))).toBeNull();
    expect(logged(lines, 'orphan reversal is off: an extra authorization of the operation holds funds until a person reverses it', id)).toMatchObject({
      psp_reference: FIRST_ID,
      amount: 9000,
    });
  });

  it('in dry run sends no void and reports the extra authorization (warn line, metric, history entry)', async () => {
    const { ledger, service, lines } = setup('dry_run');
    const id = await unknownAuthorization(ledger);
    const before = await metricValue('pb_orphan_reversals_total', { gateway: 'cybs', mode: 'dry_run', reason: 'extra_authorization' });
    const seen = reversals.length;

    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await ledger.get(extraHoldVoidId(id, FIRST_ID))).toBeNull();
    expect(reversals.slice(seen)).toEqual([]);
    expect(await metricValue('pb_orphan_reversals_total', { gateway: 'cybs', mode: 'dry_run', reason: 'extra_authorization' })).toBe(before + 1);
    expect(
      logged(lines, 'orphan reversal (dry run): would void this extra authorization of the operation; it holds funds until a person reverses it', id),
    ).toMatchObject({ psp_reference: FIRST_ID, amount: 9000, currency: 'USD', mode: 'dry_run' });
    expect((await ledger.interactions(id)).filter((e) => e.event === 'orphan_reversal')).toEqual([
      expect.objectContaining({ outcome: 'would_void', mode: 'dry_run', reason: 'extra_authorization', psp_reference: FIRST_ID }),
    ]);
  });
});

describe('the void of an extra authorization waits for the authorize it belongs to to succeed (dependent wait)', () => {
  it("race (a): a worker delivering the void between the inquiry's read and its recording sends nothing while a webhook records that hold; then it is refused unsent", async () => {
    const { ledger, service, orphans, config, events, eventsQueue } = setup('on');
    const { logger } = captureLogger();
    const id = await unknownAuthorization(ledger);
    const voidId = extraHoldVoidId(id, FIRST_ID);
    const steps: unknown[] = [];
    // The inquiry's recorder: once the void is requested, a worker picks it up at once, then a webhook of that very
    // hold records it as the operation's, all before the inquiry's own success goes on record.
    const webhooks = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger });
    const racing = new OutcomeRecorder({
      config,
      ledger,
      events,
      eventsQueue,
      logger,
      ...orphanReleases(orphans),
      releaseExtraHold: async (op, hold) => {
        const decision = await orphans.requestExtraHold(op, hold);
        steps.push(await service.deliver(voidId));
        await webhooks.apply((await ledger.get(id))!, { status: 'SUCCESS', gatewayReference: FIRST_ID, gatewayStatus: 'AUTHORIZED' }, 'webhook');
        return decision;
      },
    });
    const router = new ConfiguredGatewayRouter(createGatewayClients(config));
    const inquiring = new DeliveryService({ config, ledger, router, recorder: racing, logger });

    const seen = reversals.length;
    await inquiring.deliver(id);
    expect(steps).toEqual([expect.objectContaining({ kind: 'wait' })]);
    expect(reversals.slice(seen)).toEqual([]);
    expect(await ledger.get(id)).toMatchObject({ state: 'SUCCEEDED', gatewayReference: FIRST_ID });

    expect(await service.deliver(voidId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(reversals.slice(seen)).toEqual([]);
    expect(await ledger.get(voidId)).toMatchObject({ state: 'FAILED', reason: 'EXTRA_AUTHORIZATION_RECORDED' });
  });

  it('race (b): the worker died after requesting the void; delivered while the authorize is open it waits unsent, and a retried webhook recording that hold has it refused unsent', async () => {
    const { ledger, service, orphans, recorder } = setup('on');
    const id = await unknownAuthorization(ledger);
    expect((await orphans.requestExtraHold((await ledger.get(id))!, { pspReference: FIRST_ID, amount: 9000, currency: 'USD' })).outcome).toBe('voided');
    const voidId = extraHoldVoidId(id, FIRST_ID);

    const seen = reversals.length;
    const step = await service.deliver(voidId);
    expect(step).toMatchObject({ kind: 'wait', waitsOn: [expect.objectContaining({ id, state: 'UNKNOWN' })] });
    expect(reversals.slice(seen)).toEqual([]);
    expect(await ledger.get(voidId)).toMatchObject({ state: 'RECEIVED', attempts: 0 });

    await recorder.apply((await ledger.get(id))!, { status: 'SUCCESS', gatewayReference: FIRST_ID, gatewayStatus: 'AUTHORIZED' }, 'webhook');
    expect(await service.deliver(voidId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(reversals.slice(seen)).toEqual([]);
    expect(await ledger.get(voidId)).toMatchObject({ state: 'FAILED', reason: 'EXTRA_AUTHORIZATION_RECORDED' });
  });

  it('is sent once the authorize succeeded on another authorization', async () => {
    const { ledger, service, orphans, recorder } = setup('on');
    const id = await unknownAuthorization(ledger);
    await orphans.requestExtraHold((await ledger.get(id))!, { pspReference: FIRST_ID, amount: 9000, currency: 'USD' });
    const voidId = extraHoldVoidId(id, FIRST_ID);
    expect(await service.deliver(voidId)).toMatchObject({ kind: 'wait' });

    await recorder.apply((await ledger.get(id))!, { status: 'SUCCESS', gatewayReference: RESENT_ID, gatewayStatus: 'AUTHORIZED' }, 'webhook');
    const seen = reversals.length;
    expect(await service.deliver(voidId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(reversals.slice(seen).map((r) => r.id)).toEqual([FIRST_ID]);
  });

  it('is refused unsent (EXTRA_AUTHORIZATION_NOT_SUCCEEDED) when the authorize ended FAILED', async () => {
    const { ledger, service, orphans, recorder, lines } = setup('on');
    const id = await unknownAuthorization(ledger);
    await orphans.requestExtraHold((await ledger.get(id))!, { pspReference: FIRST_ID, amount: 9000, currency: 'USD' });
    const voidId = extraHoldVoidId(id, FIRST_ID);
    await recorder.apply((await ledger.get(id))!, { status: 'FAIL', reason: 'DECLINED', gatewayStatus: 'DECLINED' }, 'poller');
    expect(await ledger.get(id)).toMatchObject({ state: 'FAILED' });

    const seen = reversals.length;
    expect(await service.deliver(voidId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(reversals.slice(seen)).toEqual([]);
    expect(await ledger.get(voidId)).toMatchObject({ state: 'FAILED', reason: 'EXTRA_AUTHORIZATION_NOT_SUCCEEDED' });
    expect(lines.some((l) => (JSON.parse(l) as Json).operation_id === voidId)).toBe(true);
  });
});

describe("an authorize's own SUCCESS after an unproven attempt: one follow-up search (extra hold check)", () => {
  function withChecks(mode: 'on' = 'on') {
    const base = setup(mode);
    const { config, redis } = base;
    const checks = new ExtraHoldChecks(redis, config.redis.keyPrefix);
    const router = new ConfiguredGatewayRouter(createGatewayClients(config));
    const service = new DeliveryService({
      config,
      ledger: base.ledger,
      router,
      recorder: base.recorder,
      logger: captureLogger().logger,
      extraHoldChecks: checks,
    });
    const later = () => Date.now() + EXTRA_HOLD_CHECK_DELAY_MS + 1;
    const sweep = new ExtraHoldCheckSweep({
      ledger: base.ledger,
      router,
      checks,
      release: (op, hold) => base.orphans.requestExtraHold(op, hold),
      logger: captureLogger().logger,
      now: later,
    });
    return { ...base, checks, sending: service, sweep, later };
  }

  /** An authorize of 100.00 USD not sent yet whose history holds an earlier attempt nothing proved absent (its answer lost, the search lagging). */
  async function afterUnprovenAttempt(ledger: Ledger, redis: RedisClient, earlier: boolean): Promise<string> {
    const command = channelCommand('authorize', {}, { gateway: 'cybs', gateway_key: 'AB695DA801DD1BB6E05341588E0A3BDC', amount: 10000, currency: 'USD' });
    const id = command.payment.operation_reference!;
    await ledger.create(id, command);
    if (earlier) {
      await ledger.appendInteraction(id, { event: 'attempt', attempt: 1 });
      await ledger.appendInteraction(id, { event: 'send_error', kind: 'outcome_unknown' });
      await ledger.appendInteraction(id, { event: 'inquiry_lag', found: false });
      // That attempt counted on the record, as a real one is (`countAttempt`): the resend is attempt 2.
      await redis.hset(ledger.keysFor(id, command.payment).op(id), 'attempts', '1');
    }
    return id;
  }

  it('is scheduled before the success, and the due check voids the earlier attempt holding funds beside the recorded one', async () => {
    const { ledger, redis, sending, checks, sweep, later } = withChecks();
    const id = await afterUnprovenAttempt(ledger, redis, true);
    const before = await metricValue('pb_extra_hold_checks_total', { gateway: 'cybs', result: 'found' });

    expect(await sending.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await ledger.get(id)).toMatchObject({ gatewayReference: RESENT_ID });
    expect(await checks.count()).toBe(1);
    expect(await checks.due(Date.now(), 10)).toEqual([]);
    expect((await checks.due(later(), 10)).map((c) => c.operationId)).toEqual([id]);

    expect(await sweep.runOnce()).toMatchObject({ due: 1, found: 1 });
    expect(await checks.count()).toBe(0);
    expect(await metricValue('pb_extra_hold_checks_total', { gateway: 'cybs', result: 'found' })).toBe(before + 1);
    const voidId = extraHoldVoidId(id, FIRST_ID);
    expect(await ledger.get(voidId)).toMatchObject({ payment: { gateway_key: FIRST_ID, amount: 9000, extra_authorization_of: id } });
    expect(await ledger.get(extraHoldVoidId(id, RESENT_ID))).toBeNull();
    const seen = reversals.length;
    expect(await sending.deliver(voidId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(reversals.slice(seen).map((r) => r.id)).toEqual([FIRST_ID]);
  });

  it('is not scheduled for a success with no earlier attempt, and costs no history read (its first attempt)', async () => {
    const { ledger, redis, sending, checks } = withChecks();
    const id = await afterUnprovenAttempt(ledger, redis, false);
    const reads = jest.spyOn(ledger, 'interactions');
    try {
      expect(await sending.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
      expect(reads).not.toHaveBeenCalled();
    } finally {
      reads.mockRestore();
    }
    expect(await checks.count()).toBe(0);
  });

  it('its worker died before the success went on record: the check waits for the authorize to settle, then runs (a webhook settling it lists no other hold)', async () => {
    const { config, ledger, checks, sweep, recorder, orphans } = withChecks();
    const id = await unknownAuthorization(ledger);
    await checks.schedule((await ledger.get(id))!, Date.now());
    expect(await sweep.runOnce()).toMatchObject({ due: 1, postponed: 1, skipped: 0 });
    expect(await checks.count()).toBe(1);
    expect(await ledger.get(extraHoldVoidId(id, FIRST_ID))).toBeNull();

    await recorder.apply((await ledger.get(id))!, { status: 'SUCCESS', gatewayReference: RESENT_ID, gatewayStatus: 'AUTHORIZED' }, 'webhook');
    const router = new ConfiguredGatewayRouter(createGatewayClients(config));
    const afterwards = new ExtraHoldCheckSweep({
      ledger,
      router,
      checks,
      release: (op, hold) => orphans.requestExtraHold(op, hold),
      logger: captureLogger().logger,
      now: () => Date.now() + 2 * EXTRA_HOLD_CHECK_DELAY_MS + 1,
    });
    expect(await afterwards.runOnce()).toMatchObject({ due: 1, found: 1 });
    expect(await checks.count()).toBe(0);
    expect(await ledger.get(extraHoldVoidId(id, FIRST_ID))).toMatchObject({ payment: { gateway_key: FIRST_ID, extra_authorization_of: id } });
  });

  it('a pass runs at most its limit of checks over all shards, oldest first; the rest stay due', async () => {
    const { checks, sweep, later } = withChecks();
    const at = Date.now();
    // 40 checks of operations no longer on record (each ends skipped), spread over the shards by their order ids.
    for (let i = 0; i < 40; i++) await checks.schedule({ id: `gone-${i}`, payment: { order_id: `order-${i}`, gateway_key: 'k' } as Payment }, at + i);
    const first = (await checks.due(later(), 8)).map((c) => c.operationId);
    expect(first).toEqual(Array.from({ length: 8 }, (_, i) => `gone-${i}`));
    expect(await sweep.runOnce(8)).toMatchObject({ due: 8, skipped: 8 });
    expect(await checks.count()).toBe(32);
    expect(await sweep.runOnce(100)).toMatchObject({ due: 32 });
    expect(await checks.count()).toBe(0);
  });

  it('finding nothing but the recorded authorization ends quietly: taken out, nothing voided', async () => {
    const { ledger, redis, sending, checks, sweep } = withChecks();
    const id = await afterUnprovenAttempt(ledger, redis, true);
    expect(await sending.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    listsFirst = false;
    try {
      expect(await sweep.runOnce()).toMatchObject({ due: 1, found: 0, none: 1 });
    } finally {
      listsFirst = true;
    }
    expect(await checks.count()).toBe(0);
    expect(await ledger.get(extraHoldVoidId(id, FIRST_ID))).toBeNull();
  });
});
