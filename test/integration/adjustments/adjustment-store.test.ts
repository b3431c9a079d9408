import { RedisClient } from '../../../src/redis/redis-connection';
import { AdjustmentStore, adjustmentIdFor } from '../../../src/adjustments/adjustment-store';
import { AdjustmentsChangedError } from '../../../src/errors/adjustments-changed-error';
import { OperationNotFoundError } from '../../../src/errors/operation-not-found-error';
import { Ledger } from '../../../src/ledger/ledger';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';
import { unlinkMatching } from '../../../src/redis/key-scan';

const config = testConfig();
let redis: RedisClient;
let ledger: Ledger;
let store: AdjustmentStore;

beforeAll(() => {
  redis = testRedis(config);
  ledger = new Ledger(redis, config.redis.keyPrefix);
  store = new AdjustmentStore(redis, config.redis.keyPrefix);
});

afterAll(async () => {
  await unlinkMatching(redis, `${config.redis.keyPrefix}*`);
  redis.disconnect();
});

async function succeededCapture(): Promise<string> {
  const cmd = channelCommand('capture');
  const id = cmd.payment.operation_reference!;
  await ledger.create(id, cmd, Date.now(), { event: 'attempt' });
  await ledger.transition(id, 'SUCCEEDED', { event: 'outcome' });
  return id;
}

const input = (operationId: string, pspEventId = 'DSP1:CHARGEBACK:true') => ({
  operationId,
  gateway: 'adyen',
  pspEventId,
  source: 'webhook' as const,
  kind: 'chargeback' as const,
  direction: 'debit' as const,
  amount: 4200,
  currency: 'EUR',
  reason: '10.4',
  pspReference: 'DSP1',
  occurredAt: 1764000000000,
});

describe('AdjustmentStore.recordAdjustment', () => {
  it('records a new adjustment once, links it to the operation with a history entry, and leaves the state alone', async () => {
    const id = await succeededCapture();
    const first = await store.recordAdjustment(input(id), 5000);
    expect(first.created).toBe(true);
    expect(first.adjustment.id).toBe(adjustmentIdFor('adyen', 'DSP1:CHARGEBACK:true'));
    const again = await store.recordAdjustment({ ...input(id), amount: 1 }, 6000);
    expect(again.created).toBe(false);
    // A repeat returns the first recording, not the repeat's fields.
    expect(again.adjustment).toEqual(first.adjustment);
    expect(await store.forOperation(id)).toEqual([first.adjustment]);
    expect(await store.get(first.adjustment.id)).toEqual(first.adjustment);
    expect((await ledger.interactions(id)).filter((h) => h.event === 'adjustment')).toHaveLength(1);
    expect((await ledger.get(id))?.state).toBe('SUCCEEDED');
  });

  it('keeps separate facts apart: another PSP event or another gateway is another adjustment', async () => {
    const id = await succeededCapture();
    await store.recordAdjustment(input(id, 'e1'));
    expect((await store.recordAdjustment(input(id, 'e2'))).created).toBe(true);
    expect((await store.recordAdjustment({ ...input(id, 'e1'), gateway: 'adyen-us' })).created).toBe(true);
    expect(await store.forOperation(id)).toHaveLength(3);
  });

  it("lists an operation's adjustments in the order they were recorded, also when several share one millisecond", async () => {
    const id = await succeededCapture();
    // Ids chosen so that their digests do not sort as they are recorded: the millisecond's tie must not fall to the id.
    const recorded: string[] = [];
    for (const event of ['z-first', 'a-second', 'm-third', 'b-fourth']) recorded.push((await store.recordAdjustment(input(id, event), 7000)).adjustment.id);
    expect((await store.forOperation(id)).map((a) => a.id)).toEqual(recorded);
  });

  it('refuses an adjustment of an operation the ledger does not hold', async () => {
    await expect(store.recordAdjustment(input('op-does-not-exist'))).rejects.toBeInstanceOf(OperationNotFoundError);
  });
});

describe('AdjustmentStore.recordAdjustment: a fact that undoes a refund', () => {
  async function succeeded(command: 'refund' | 'authorize' | 'capture', state: 'SUCCEEDED' | 'PENDING' = 'SUCCEEDED'): Promise<string> {
    const cmd = channelCommand(command);
    const id = cmd.payment.operation_reference!;
    await ledger.create(id, cmd, Date.now(), { event: 'attempt' });
    await ledger.transition(id, state, { event: 'outcome' });
    return id;
  }
  const fact = (operationId: string, kind: 'refund_failed' | 'refund_reversed' | 'chargeback', event: string) => ({
    ...input(operationId, event),
    kind,
    direction: 'credit' as const,
  });
  const undoneBy = async (id: string) => (await ledger.fieldsOf([id], ['undone_by']))[0][0];

  it('marks a SUCCEEDED refund undone by a refund_failed or refund_reversed, once, and says so; its state stays SUCCEEDED', async () => {
    const failed = await succeeded('refund');
    const recorded = await store.recordAdjustment(fact(failed, 'refund_failed', 'R1:REFUND_FAILED:true'));
    expect(recorded.undone).toBe(true);
    expect(await undoneBy(failed)).toBe(recorded.adjustment.id);
    expect((await ledger.get(failed))?.state).toBe('SUCCEEDED');
    // A repeat of the same fact marks nothing new.
    expect((await store.recordAdjustment(fact(failed, 'refund_failed', 'R1:REFUND_FAILED:true'))).undone).toBeUndefined();
    const reversed = await succeeded('refund');
    expect((await store.recordAdjustment(fact(reversed, 'refund_reversed', 'R2:REFUNDED_REVERSED:true'))).undone).toBe(true);
    expect(await undoneBy(reversed)).not.toBeNull();
  });

  it('marks nothing for another kind, another command (a refund failure naming the authorization), or a refund not SUCCEEDED', async () => {
    const refund = await succeeded('refund');
    expect((await store.recordAdjustment(fact(refund, 'chargeback', 'C1:CHARGEBACK:true'))).undone).toBeUndefined();
    const auth = await succeeded('authorize');
    expect((await store.recordAdjustment(fact(auth, 'refund_failed', 'R3:REFUND_FAILED:true'))).undone).toBeUndefined();
    const pending = await succeeded('refund', 'PENDING');
    expect((await store.recordAdjustment(fact(pending, 'refund_failed', 'R4:REFUND_FAILED:true'))).undone).toBeUndefined();
    expect([await undoneBy(refund), await undoneBy(auth), await undoneBy(pending)]).toEqual([null, null, null]);
  });
});

describe('AdjustmentStore.recordAdjustment: a fact that undoes a capture', () => {
  async function succeeded(command: 'capture' | 'sale' | 'authorize'): Promise<string> {
    const cmd = channelCommand(command);
    const id = cmd.payment.operation_reference!;
    await ledger.create(id, cmd, Date.now(), { event: 'attempt' });
    await ledger.transition(id, 'SUCCEEDED', { event: 'outcome' });
    return id;
  }
  const fact = (operationId: string, kind: 'capture_failed' | 'refund_failed', event: string) => ({
    ...input(operationId, event),
    kind,
    direction: 'debit' as const,
  });

  it("marks a SUCCEEDED capture or sale undone by a capture_failed, once (the field a refund's mark uses), and its record reads it; the state stays SUCCEEDED", async () => {
    for (const command of ['capture', 'sale'] as const) {
      const id = await succeeded(command);
      const recorded = await store.recordAdjustment(fact(id, 'capture_failed', `${id}:CAPTURE_FAILED:true`));
      expect(recorded.undone).toBe(true);
      expect((await ledger.fieldsOf([id], ['undone_by']))[0][0]).toBe(recorded.adjustment.id);
      expect(await ledger.get(id)).toMatchObject({ state: 'SUCCEEDED', undoneBy: recorded.adjustment.id });
      expect((await store.recordAdjustment(fact(id, 'capture_failed', `${id}:CAPTURE_FAILED:true`))).undone).toBeUndefined();
    }
  });

  it('a succeeded_after_failure of a capture or sale marked undone clears the mark in its own step and names what it cleared; on one not marked it clears nothing', async () => {
    for (const command of ['capture', 'sale'] as const) {
      const id = await succeeded(command);
      const undone = await store.recordAdjustment(fact(id, 'capture_failed', `${id}:CAPTURE_FAILED:true`));
      const redone = await store.recordAdjustment({ ...input(id, `${id}:CAPTURE:true:recaptured`), kind: 'succeeded_after_failure', direction: 'credit' });
      expect(redone).toMatchObject({ created: true, redoneAfter: undone.adjustment.id });
      expect(await ledger.get(id)).toMatchObject({ state: 'SUCCEEDED' });
      expect((await ledger.get(id))?.undoneBy).toBeUndefined();
    }
    const plain = await succeeded('capture');
    const unmarked = await store.recordAdjustment({
      ...input(plain, `${plain}:CAPTURE:true:recaptured`),
      kind: 'succeeded_after_failure',
      direction: 'credit',
    });
    expect(unmarked.redoneAfter).toBeUndefined();
  });

  it('a dated succeeded_after_failure older than a failure recorded already clears nothing: the mark moves to the latest later failure, the adjustment names it; a later or undated one clears it', async () => {
    const id = await succeeded('capture');
    const failure = (event: string, occurredAt: number) => store.recordAdjustment({ ...fact(id, 'capture_failed', event), occurredAt });
    const redo = (event: string, occurredAt?: number) => {
      const { occurredAt: _dropped, ...undated } = input(id, event);
      return store.recordAdjustment({ ...undated, kind: 'succeeded_after_failure', direction: 'credit', ...(occurredAt !== undefined ? { occurredAt } : {}) });
    };
    const first = await failure(`${id}:CAPTURE_FAILED:true:1`, 1000);
    const again = await failure(`${id}:CAPTURE_FAILED:true:3`, 3000);
    // Not a failure of a capture: no later word on it.
    await store.recordAdjustment({ ...input(id, `${id}:CHARGEBACK:true`), occurredAt: 5000 });
    expect(again.undone).toBeUndefined();
    expect((await ledger.get(id))?.undoneBy).toBe(first.adjustment.id);
    const older = await redo(`${id}:CAPTURE:true:recaptured:2`, 2000);
    expect(older).toMatchObject({ created: true, failedAgainAt: 3000, adjustment: { failedAgainBy: again.adjustment.id } });
    expect(older.redoneAfter).toBeUndefined();
    expect((await ledger.get(id))?.undoneBy).toBe(again.adjustment.id);
    expect(await store.get(older.adjustment.id)).toEqual(older.adjustment);
    const later = await redo(`${id}:CAPTURE:true:recaptured:4`, 4000);
    expect(later).toMatchObject({ created: true, redoneAfter: again.adjustment.id });
    expect(later.adjustment.failedAgainBy).toBeUndefined();
    expect((await ledger.get(id))?.undoneBy).toBeUndefined();
    // Undated, a success after failure still wins over a dated failure.
    const other = await succeeded('sale');
    const marked = await store.recordAdjustment({ ...fact(other, 'capture_failed', `${other}:CAPTURE_FAILED:true:9`), occurredAt: 9000 });
    const { occurredAt: _none, ...undated } = input(other, `${other}:CAPTURE:true:recaptured:`);
    expect(await store.recordAdjustment({ ...undated, kind: 'succeeded_after_failure', direction: 'credit' })).toMatchObject({
      redoneAfter: marked.adjustment.id,
    });
  });

  it('a dated failure older than a success after failure recorded already (it arrived late) marks nothing and names that success; a later or undated one marks as before', async () => {
    const id = await succeeded('capture');
    const failure = (event: string, occurredAt?: number) => {
      const { occurredAt: _dropped, ...undated } = fact(id, 'capture_failed', event);
      return store.recordAdjustment({ ...undated, ...(occurredAt !== undefined ? { occurredAt } : {}) });
    };
    const first = await failure(`${id}:CAPTURE_FAILED:true:1`, 1000);
    expect(first.undone).toBe(true);
    const redo = await store.recordAdjustment({
      ...input(id, `${id}:CAPTURE:true:recaptured:4`),
      kind: 'succeeded_after_failure',
      direction: 'credit',
      occurredAt: 4000,
    });
    expect(redo.redoneAfter).toBe(first.adjustment.id);
    // Adyen failed the capture at 1000 and at 3000 and re-captured it at 4000; the second failure arrives last.
    const late = await failure(`${id}:CAPTURE_FAILED:true:3`, 3000);
    expect(late).toMatchObject({ created: true, superseded: 'recorded', adjustment: { supersededBy: redo.adjustment.id } });
    expect(late.undone).toBeUndefined();
    expect((await ledger.get(id))?.undoneBy).toBeUndefined();
    expect(await store.get(late.adjustment.id)).toEqual(late.adjustment);
    // A repeat says the same and marks nothing.
    expect(await failure(`${id}:CAPTURE_FAILED:true:3`, 3000)).toEqual({ created: false, adjustment: late.adjustment });
    expect((await ledger.get(id))?.undoneBy).toBeUndefined();
    // A failure after the re-capture is the PSP's latest word: it marks the capture undone.
    const after = await failure(`${id}:CAPTURE_FAILED:true:5`, 5000);
    expect(after).toMatchObject({ created: true, undone: true });
    expect(after.superseded).toBeUndefined();
    expect(after.adjustment.supersededBy).toBeUndefined();
    expect((await ledger.get(id))?.undoneBy).toBe(after.adjustment.id);
    // Undated, a failure cannot be ordered with the re-capture: it marks as before.
    const other = await succeeded('sale');
    await store.recordAdjustment({ ...fact(other, 'capture_failed', `${other}:CAPTURE_FAILED:true:1`), occurredAt: 1000 });
    await store.recordAdjustment({
      ...input(other, `${other}:CAPTURE:true:recaptured:4`),
      kind: 'succeeded_after_failure',
      direction: 'credit',
      occurredAt: 4000,
    });
    const { occurredAt: _none, ...undated } = fact(other, 'capture_failed', `${other}:CAPTURE_FAILED:true`);
    expect(await store.recordAdjustment(undated)).toMatchObject({ created: true, undone: true });
  });

  it('a dated failure of the same time as a success after failure recorded already (the PSPs date in whole seconds) cannot be told older: it marks the operation undone, as an undated one does', async () => {
    const id = await succeeded('capture');
    const first = await store.recordAdjustment({ ...fact(id, 'capture_failed', `${id}:CAPTURE_FAILED:true:1`), occurredAt: 1_000_000 });
    expect(first.undone).toBe(true);
    const redo = await store.recordAdjustment({
      ...input(id, `${id}:CAPTURE:true:4`),
      kind: 'succeeded_after_failure',
      direction: 'credit',
      occurredAt: 4_000_000,
    });
    expect(redo.redoneAfter).toBe(first.adjustment.id);
    const same = await store.recordAdjustment({ ...fact(id, 'capture_failed', `${id}:CAPTURE_FAILED:true:4`), occurredAt: 4_000_000 });
    expect(same).toMatchObject({ created: true, undone: true });
    expect(same.superseded).toBeUndefined();
    expect(same.adjustment.supersededBy).toBeUndefined();
    expect((await ledger.get(id))?.undoneBy).toBe(same.adjustment.id);
  });
  it('a failure superseded by a re-capture held on the capture names that re-capture, the adjustment it is recorded as', async () => {
    const id = await succeeded('capture');
    const recapture = {
      kind: 'succeeded_after_failure' as const,
      direction: 'credit' as const,
      gateway: 'adyen',
      pspEventId: `${id}:CAPTURE:true:recaptured:4`,
      source: 'webhook' as const,
      amount: 4200,
      occurredAt: 4000,
    };
    expect(await store.holdRecapture(id, { at: 4000, fact: recapture })).toBe('held');
    const failed = await store.recordAdjustment({ ...fact(id, 'capture_failed', `${id}:CAPTURE_FAILED:true:1`), occurredAt: 1000 });
    expect(failed).toMatchObject({ created: true, superseded: 'held', adjustment: { supersededBy: adjustmentIdFor('adyen', recapture.pspEventId) } });
    expect((await ledger.get(id))?.undoneBy).toBeUndefined();
  });

  it('marks nothing for a capture_failed naming an authorization, nor for a refund_failed naming a capture', async () => {
    const auth = await succeeded('authorize');
    expect((await store.recordAdjustment(fact(auth, 'capture_failed', 'A1:CAPTURE_FAILED:true'))).undone).toBeUndefined();
    const capture = await succeeded('capture');
    expect((await store.recordAdjustment(fact(capture, 'refund_failed', 'C2:REFUND_FAILED:true'))).undone).toBeUndefined();
    expect((await ledger.get(auth))?.undoneBy).toBeUndefined();
    expect((await ledger.get(capture))?.undoneBy).toBeUndefined();
  });
});

describe('AdjustmentStore.tieToLine', () => {
  it('ties an adjustment to the first reconciliation line that asks, answers the others with that line, and leaves the adjustment as recorded', async () => {
    const id = await succeededCapture();
    const { adjustment } = await store.recordAdjustment(input(id, 'DSP-TIE:CHARGEBACK:true'));
    const [a, b] = await Promise.all([store.tieToLine(id, adjustment.id, 'line-a'), store.tieToLine(id, adjustment.id, 'line-b')]);
    expect(a).toBe(b);
    expect(['line-a', 'line-b']).toContain(a);
    expect(await store.tieToLine(id, adjustment.id, 'line-c')).toBe(a);
    expect(await store.tieToLine(id, adjustment.id, a!)).toBe(a);
    expect(await store.get(adjustment.id)).toEqual(adjustment);
    expect(await store.tieToLine(id, adjustmentIdFor('adyen', 'never-recorded'), 'line-a')).toBeNull();
  });
});

describe('AdjustmentStore.recordAdjustment: a webhook after reconciliation', () => {
  /** A chargeback reconciliation recorded from PSP line `line` (its PSP event id is the line's). */
  const fromLine = (operationId: string, line: string, pspReference?: string) => ({
    ...input(operationId, `reconciliation:${line}`),
    source: 'reconciliation' as const,
    reason: 'psp_Chargeback',
    pspReference,
  });

  it('records a chargeback webhook reconciliation recorded first from the PSP line as that adjustment: nothing new, and a repeat of the webhook neither', async () => {
    const id = await succeededCapture();
    const recorded = await store.recordAdjustment(fromLine(id, 'DSP2:Chargeback:b1', 'DSP2'));
    const webhook = { ...input(id, 'DSP2:CHARGEBACK:true'), pspReference: 'DSP2' };
    expect(await store.recordAdjustment(webhook)).toEqual({ created: false, adjustment: recorded.adjustment, sameFact: true });
    expect(await store.recordAdjustment(webhook)).toEqual({ created: false, adjustment: recorded.adjustment });
    expect(await store.forOperation(id)).toEqual([recorded.adjustment]);
    expect((await ledger.interactions(id)).filter((h) => h.event === 'adjustment')).toHaveLength(1);
  });

  it("records a sale's cancel-or-refund webhook (capture_failed) that reconciliation recorded first from the refund's line (refund_outside_bridge) as that adjustment: one fact, one event", async () => {
    const cmd = channelCommand('sale');
    const id = cmd.payment.operation_reference!;
    await ledger.create(id, cmd, Date.now(), { event: 'attempt' });
    await ledger.transition(id, 'SUCCEEDED', { event: 'outcome' });
    const money = { direction: 'debit' as const, amount: 5000, currency: 'EUR', pspReference: 'COR1' };
    const recorded = await store.recordAdjustment({
      ...fromLine(id, 'SALE1:Refunded:COR1:b1', 'COR1'),
      kind: 'refund_outside_bridge',
      ...money,
      reason: 'psp_Refunded',
    });
    const webhook = { ...input(id, 'COR1:CANCEL_OR_REFUND:true'), kind: 'capture_failed' as const, ...money, reason: 'CANCEL_OR_REFUND' };
    expect(await store.recordAdjustment(webhook)).toEqual({ created: false, adjustment: recorded.adjustment, sameFact: true });
    expect(await store.forOperation(id)).toEqual([recorded.adjustment]);
    // Another refund of the sale (its own reference) is no such fact.
    expect((await store.recordAdjustment({ ...webhook, pspEventId: 'CAPFAIL1:CAPTURE_FAILED:true', pspReference: 'SALE1' })).created).toBe(true);
  });

  it('records a re-capture webhook reconciliation recorded first (its succeeded_after_failure cleared the mark) as that adjustment: nothing new, and a repeat of the webhook neither', async () => {
    const cmd = channelCommand('capture');
    const id = cmd.payment.operation_reference!;
    await ledger.create(id, cmd, Date.now(), { event: 'attempt' });
    await ledger.transition(id, 'SUCCEEDED', { event: 'outcome' });
    const failure = (event: string, occurredAt: number) =>
      store.recordAdjustment({ ...input(id, event), kind: 'capture_failed', direction: 'debit', pspReference: 'CAP1', occurredAt });
    const success = { kind: 'succeeded_after_failure' as const, direction: 'credit' as const, pspReference: 'CAP1', reason: 'received' };
    expect((await failure('CAP1:CAPTURE_FAILED:true:1', 1000)).undone).toBe(true);
    const recorded = await store.recordAdjustment({ ...fromLine(id, 'CAP1:Captured:b1', 'CAP1'), ...success, occurredAt: 2000 });
    expect(recorded.redoneAfter).toBeDefined();
    const webhook = { ...input(id, 'CAP1:CAPTURE:true:recaptured:2'), ...success, occurredAt: 2000 };
    expect(await store.recordAdjustment(webhook)).toEqual({ created: false, adjustment: recorded.adjustment, sameFact: true });
    expect(await store.recordAdjustment(webhook)).toEqual({ created: false, adjustment: recorded.adjustment });
    expect(await store.forOperation(id)).toHaveLength(2);
  });

  it('takes for a dated re-capture webhook the line of its own re-capture, never one a failure lies between (failed, re-captured, failed again, re-captured again)', async () => {
    const cmd = channelCommand('capture');
    const id = cmd.payment.operation_reference!;
    await ledger.create(id, cmd, Date.now(), { event: 'attempt' });
    await ledger.transition(id, 'SUCCEEDED', { event: 'outcome' });
    const success = { kind: 'succeeded_after_failure' as const, direction: 'credit' as const, pspReference: 'CAP2', reason: 'received' };
    const failure = (event: string, occurredAt: number) =>
      store.recordAdjustment({ ...input(id, event), kind: 'capture_failed', direction: 'debit', pspReference: 'CAP2', occurredAt });
    await failure('CAP2:CAPTURE_FAILED:true:1', 1000);
    const first = await store.recordAdjustment({ ...fromLine(id, 'CAP2:Captured:b1', 'CAP2'), ...success, occurredAt: 2000 });
    await failure('CAP2:CAPTURE_FAILED:true:3', 3000);
    const second = await store.recordAdjustment({ ...fromLine(id, 'CAP2:Captured:b2', 'CAP2'), ...success, occurredAt: 4000 });
    expect((await ledger.get(id))?.undoneBy).toBeUndefined();
    // The second re-capture's webhook comes first: the older line, a failure apart, is not its fact.
    const late = await store.recordAdjustment({ ...input(id, 'CAP2:CAPTURE:true:recaptured:4'), ...success, occurredAt: 4000 });
    expect(late).toEqual({ created: false, adjustment: second.adjustment, sameFact: true });
    const early = await store.recordAdjustment({ ...input(id, 'CAP2:CAPTURE:true:recaptured:2'), ...success, occurredAt: 2000 });
    expect(early).toEqual({ created: false, adjustment: first.adjustment, sameFact: true });
    expect(await store.forOperation(id)).toHaveLength(4);
  });

  it('two genuine chargebacks of the same amount that reconciliation recorded first are taken one each by their webhooks; a third is recorded', async () => {
    const id = await succeededCapture();
    // Lines without the dispute's reference: only kind, direction and amount tell them apart.
    const first = await store.recordAdjustment(fromLine(id, 'line-1'));
    const second = await store.recordAdjustment(fromLine(id, 'line-2'));
    const [a, b] = await Promise.all([store.recordAdjustment(input(id, 'DSP-A:CHARGEBACK:true')), store.recordAdjustment(input(id, 'DSP-B:CHARGEBACK:true'))]);
    expect([a.created, b.created]).toEqual([false, false]);
    expect(new Set([a.adjustment.id, b.adjustment.id])).toEqual(new Set([first.adjustment.id, second.adjustment.id]));
    const third = await store.recordAdjustment(input(id, 'DSP-C:CHARGEBACK:true'));
    expect(third.created).toBe(true);
    expect(await store.forOperation(id)).toHaveLength(3);
  });

  it("never takes another dispute's line, a notice that moved no money, another amount or a second chargeback for a first one", async () => {
    const id = await succeededCapture();
    await store.recordAdjustment(fromLine(id, 'DSP3:Chargeback:b1', 'DSP3'));
    await store.recordAdjustment({ ...fromLine(id, 'DSP5:SecondChargeback:b1', 'DSP5'), kind: 'second_chargeback' });
    const outcomes = await Promise.all([
      store.recordAdjustment({ ...input(id, 'DSP4:CHARGEBACK:true'), pspReference: 'DSP4' }),
      store.recordAdjustment({ ...input(id, 'DSP3:NOTIFICATION_OF_CHARGEBACK:true'), pspReference: 'DSP3', kind: 'dispute_opened', direction: 'none' }),
      store.recordAdjustment({ ...input(id, 'DSP6:CHARGEBACK:true'), pspReference: undefined, amount: 4100 }),
      store.recordAdjustment({ ...input(id, 'DSP5:CHARGEBACK:true'), pspReference: 'DSP5' }),
    ]);
    expect(outcomes.map((o) => o.created)).toEqual([true, true, true, true]);
  });
});

describe('AdjustmentStore.recordAdjustment: a reconciliation line judged against the adjustments as read', () => {
  const fromLine = (operationId: string, line: string, expectedAdjustments: number) => ({
    ...input(operationId, `reconciliation:${line}`),
    source: 'reconciliation' as const,
    expectedAdjustments,
  });

  it('records only while the operation has as many adjustments as were read: after a webhook recorded one in between it writes nothing; a repeat of its own line is still found', async () => {
    const id = await succeededCapture();
    await store.recordAdjustment(input(id, 'DSP7:CHARGEBACK:true'));
    await expect(store.recordAdjustment(fromLine(id, 'line-7', 0))).rejects.toBeInstanceOf(AdjustmentsChangedError);
    expect((await store.forOperation(id)).map((a) => a.source)).toEqual(['webhook']);
    expect((await ledger.interactions(id)).filter((h) => h.event === 'adjustment')).toHaveLength(1);
    const recorded = await store.recordAdjustment(fromLine(id, 'line-7', 1));
    expect(recorded.created).toBe(true);
    // Another run recording the same line, having read the operation before the first did: the same adjustment.
    expect(await store.recordAdjustment(fromLine(id, 'line-7', 1))).toEqual({ created: false, adjustment: recorded.adjustment });
  });
});

describe('AdjustmentStore.recordAdjustment: one PSP transaction’s success read through two entries of one account', () => {
  /** A FAILED authorization (failed over from sima to simb, declined there). */
  async function failedAuthorization(): Promise<string> {
    const cmd = channelCommand('authorize');
    const id = cmd.payment.operation_reference!;
    await ledger.create(id, cmd, Date.now(), { event: 'attempt' });
    await ledger.transition(id, 'FAILED', { event: 'outcome' });
    return id;
  }
  const reading = (operationId: string, kind: 'duplicate_after_failover' | 'succeeded_after_failure', gateway: string, more: object = {}) => ({
    operationId,
    kind,
    gateway,
    direction: 'none' as const,
    amount: 1999,
    currency: 'EUR',
    pspReference: 'auth_1',
    pspEventId: 'evt_1',
    source: 'webhook' as const,
    accountGateways: ['sima', 'simb'],
    ...more,
  });

  it('the second reading under the other kind is not recorded: the first stands, the history notes it once, a repeat notes nothing more', async () => {
    const id = await failedAuthorization();
    const first = await store.recordAdjustment(reading(id, 'duplicate_after_failover', 'sima'), 5000);
    expect(first.created).toBe(true);
    const second = await store.recordAdjustment(reading(id, 'succeeded_after_failure', 'simb'), 6000);
    expect(second).toEqual({ created: false, adjustment: first.adjustment, duplicateOf: { noted: true } });
    const again = await store.recordAdjustment(reading(id, 'succeeded_after_failure', 'simb'), 7000);
    expect(again).toEqual({ created: false, adjustment: first.adjustment, duplicateOf: { noted: false } });
    expect(await store.forOperation(id)).toEqual([first.adjustment]);
    // A FAILED authorization is never marked done by the duplicate (only a new succeeded_after_failure would mark it).
    expect((await ledger.get(id))?.succeededAfterFailure).toBeUndefined();
    const notes = (await ledger.interactions(id)).filter((h) => h.event === 'adjustment_duplicate_psp_fact');
    expect(notes).toEqual([
      expect.objectContaining({
        adjustment_id: adjustmentIdFor('simb', 'evt_1'),
        kind: 'succeeded_after_failure',
        gateway: 'simb',
        psp_reference: 'auth_1',
        recorded_as: first.adjustment.id,
        recorded_kind: 'duplicate_after_failover',
      }),
    ]);
  });

  it('a report line of the same transaction (another event id, the same reference) is the same fact', async () => {
    const id = await failedAuthorization();
    const first = await store.recordAdjustment(reading(id, 'succeeded_after_failure', 'simb'), 5000);
    const line = await store.recordAdjustment(reading(id, 'duplicate_after_failover', 'sima', { pspEventId: 'reconciliation:line-1' }), 6000);
    expect(line.duplicateOf).toEqual({ noted: true });
    expect(line.adjustment.id).toBe(first.adjustment.id);
  });

  it('another PSP transaction (another reference), entries of different accounts, or one entry alone: both recorded, as before', async () => {
    const other = await failedAuthorization();
    await store.recordAdjustment(reading(other, 'duplicate_after_failover', 'sima'), 5000);
    expect((await store.recordAdjustment(reading(other, 'succeeded_after_failure', 'simb', { pspReference: 'auth_2' }), 6000)).created).toBe(true);

    const apart = await failedAuthorization();
    await store.recordAdjustment(reading(apart, 'duplicate_after_failover', 'sima', { accountGateways: ['sima'] }), 5000);
    expect((await store.recordAdjustment(reading(apart, 'succeeded_after_failure', 'simb', { accountGateways: ['simb'] }), 6000)).created).toBe(true);

    const alone = await failedAuthorization();
    await store.recordAdjustment(reading(alone, 'duplicate_after_failover', 'sima', { accountGateways: undefined }), 5000);
    expect((await store.recordAdjustment(reading(alone, 'succeeded_after_failure', 'simb', { accountGateways: undefined }), 6000)).created).toBe(true);
    expect(await store.forOperation(alone)).toHaveLength(2);
  });

  it('the same kind twice under two event ids is not this rule’s: both recorded (as before)', async () => {
    const id = await failedAuthorization();
    await store.recordAdjustment(reading(id, 'succeeded_after_failure', 'simb'), 5000);
    expect((await store.recordAdjustment(reading(id, 'succeeded_after_failure', 'sima', { pspEventId: 'evt_2' }), 6000)).created).toBe(true);
  });
});

describe('AdjustmentStore.recordAdjustment: one PSP transaction’s contradiction read twice under the same kind', () => {
  async function operation(command: 'authorize' | 'capture', state: 'FAILED' | 'SUCCEEDED'): Promise<string> {
    const cmd = channelCommand(command);
    const id = cmd.payment.operation_reference!;
    await ledger.create(id, cmd, Date.now(), { event: 'attempt' });
    await ledger.transition(id, state, { event: 'outcome' });
    return id;
  }
  const line = (operationId: string, more: object = {}) => ({
    operationId,
    kind: 'succeeded_after_failure' as const,
    gateway: 'cybs',
    direction: 'none' as const,
    amount: 1999,
    currency: 'EUR',
    pspReference: 'T1',
    pspEventId: 'reconciliation:line-T1',
    source: 'reconciliation' as const,
    ...more,
  });
  const webhook = (operationId: string, more: object = {}) => ({ ...line(operationId), pspEventId: 'evt_T1', source: 'webhook' as const, ...more });

  it('a webhook of the transaction a report line recorded as succeeded_after_failure, stating another amount, is a duplicate: one adjustment, the history notes it once', async () => {
    const id = await operation('authorize', 'FAILED');
    const first = await store.recordAdjustment(line(id), 5000);
    const second = await store.recordAdjustment(webhook(id, { amount: 2000 }), 6000);
    expect(second).toEqual({ created: false, adjustment: first.adjustment, duplicateOf: { noted: true } });
    expect((await store.recordAdjustment(webhook(id, { amount: 2000 }), 7000)).duplicateOf).toEqual({ noted: false });
    expect(await store.forOperation(id)).toEqual([first.adjustment]);
    const notes = (await ledger.interactions(id)).filter((h) => h.event === 'adjustment_duplicate_psp_fact');
    expect(notes).toEqual([
      expect.objectContaining({ kind: 'succeeded_after_failure', recorded_as: first.adjustment.id, recorded_kind: 'succeeded_after_failure' }),
    ]);
  });

  it('a Cybersource webhook naming the transaction id of a line recorded under its reconciliationId (the line naming both) is a duplicate', async () => {
    const id = await operation('authorize', 'FAILED');
    const first = await store.recordAdjustment(line(id, { pspReference: 'RECON1', lineReference: 'T1' }), 5000);
    const second = await store.recordAdjustment(webhook(id, { pspReference: 'T1' }), 6000);
    expect(second.duplicateOf).toEqual({ noted: true });
    expect(await store.forOperation(id)).toEqual([first.adjustment]);
  });

  it('a capture_failed webhook of the capture a report line recorded failed is a duplicate; one after a re-capture between them is a fact of its own', async () => {
    const id = await operation('capture', 'SUCCEEDED');
    const failed = { kind: 'capture_failed' as const, direction: 'debit' as const, pspReference: 'CAP9' };
    const first = await store.recordAdjustment(line(id, failed), 5000);
    expect((await store.recordAdjustment(webhook(id, failed), 6000)).duplicateOf).toEqual({ noted: true });
    const recaptured = await store.recordAdjustment(
      webhook(id, { kind: 'succeeded_after_failure', direction: 'credit', pspReference: 'CAP9', pspEventId: 'evt_re' }),
      7000,
    );
    expect(recaptured.created).toBe(true);
    expect((await store.recordAdjustment(webhook(id, { ...failed, pspEventId: 'evt_again' }), 8000)).created).toBe(true);
    expect((await store.forOperation(id)).map((a) => a.id)).toEqual([first.adjustment.id, recaptured.adjustment.id, adjustmentIdFor('cybs', 'evt_again')]);
  });

  it('another transaction (another reference), or a kind that may recur (a chargeback), is recorded', async () => {
    const id = await operation('authorize', 'FAILED');
    await store.recordAdjustment(line(id), 5000);
    expect((await store.recordAdjustment(webhook(id, { pspReference: 'T2' }), 6000)).created).toBe(true);
    const captured = await operation('capture', 'SUCCEEDED');
    const chargeback = { kind: 'chargeback' as const, direction: 'debit' as const, pspReference: 'DSP9' };
    await store.recordAdjustment(webhook(captured, { ...chargeback, pspEventId: 'cb_1' }), 5000);
    expect((await store.recordAdjustment(webhook(captured, { ...chargeback, pspEventId: 'cb_2' }), 6000)).created).toBe(true);
  });
});
