import { CommandType } from '../../../src/contracts/payment-command';
import { GatewayOutcome, ModificationReading } from '../../../src/gateways/gateway-adapter';
import { DependentSummary } from '../../../src/ledger/ledger';
import { OperationRecord, draftRecord } from '../../../src/ledger/record-fields';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { GatewayOutcomeJobData } from '../../../src/webhooks/gateway-outcomes-queue';
import { noteOpenModification, openModificationOf } from '../../../src/webhooks/open-modification';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';

/** An operation in `state`; one past RECEIVED was sent once (an attempt made). */
function record(command: CommandType, state: OperationRecord['state'], gateway = 'stripe', amount = 1000): OperationRecord {
  const c = channelCommand(command, {}, { gateway, amount, currency: 'EUR' });
  return { ...draftRecord(c.payment.operation_reference!, c, Date.now()), state, attempts: state === 'RECEIVED' ? 0 : 1 };
}

/** A ledger holding `records`, every one but the first registered on the first (the authorization). */
function ledgerOf(records: OperationRecord[]): { get(id: string): Promise<OperationRecord | null>; dependentsOf(id: string): Promise<DependentSummary[]> } {
  const [auth, ...dependents] = records;
  return {
    get: async (id) => records.find((r) => r.id === id) ?? null,
    dependentsOf: async (id) =>
      id === auth.id ? dependents.map((d, i) => ({ id: d.id, command: d.command, state: d.state, amount: d.payment.amount, registered: i + 1 })) : [],
  };
}

const captured: GatewayOutcome = { status: 'SUCCESS', gatewayStatus: 'succeeded', gatewayReference: 'pi_1', amount: 400, currency: 'EUR' };
const cancelled: GatewayOutcome = { status: 'SUCCESS', gatewayStatus: 'canceled', gatewayReference: 'pi_1', amount: 1000, currency: 'EUR' };

function job(named: OperationRecord, modification: ModificationReading, more: Partial<GatewayOutcomeJobData> = {}): GatewayOutcomeJobData {
  return {
    gateway: 'stripe',
    eventId: 'evt_1',
    operationId: named.id,
    gatewayReference: 'pi_1',
    account: '',
    outcome: { status: 'SUCCESS', gatewayStatus: modification.outcome.gatewayStatus, gatewayReference: 'pi_1', amount: 1000, currency: 'EUR' },
    modification,
    ...more,
  };
}

describe('openModificationOf: the open capture or cancel a fact about the payment settles', () => {
  const { logger, lines } = captureLogger('info');

  it('the capture the reading names, open (UNKNOWN), takes the reading as its outcome; the job names it and carries no reading', async () => {
    const auth = record('authorize', 'SUCCEEDED');
    const capture = record('capture', 'UNKNOWN', 'stripe', 400);
    const found = await openModificationOf(auth, job(auth, { command: 'capture', operationId: capture.id, outcome: captured }), {
      ledger: ledgerOf([auth, capture]),
      logger,
    });
    expect(found?.op.id).toBe(capture.id);
    expect(found?.data).toMatchObject({ operationId: capture.id, outcome: captured, eventId: 'evt_1', account: '' });
    expect(found?.data.modification).toBeUndefined();

    const before = await metricValue('pb_webhook_open_modification_matches_total', { gateway: 'stripe', command: 'capture', outcome: 'applied' });
    noteOpenModification(logger, auth, found!);
    expect(await metricValue('pb_webhook_open_modification_matches_total', { gateway: 'stripe', command: 'capture', outcome: 'applied' })).toBe(before + 1);
    expect(lines.some((l) => l.includes('open modification done') && l.includes(capture.id) && l.includes('"confirmed_amount":400'))).toBe(true);
  });

  it('settles PENDING and UNRESOLVED ones too, never one SENT (its answer is coming) or SUCCEEDED; one FAILED is found as such', async () => {
    const auth = record('authorize', 'SUCCEEDED');
    for (const [state, kind] of [
      ['PENDING', 'open'],
      ['UNRESOLVED', 'open'],
      ['SENT', undefined],
      ['SUCCEEDED', undefined],
      ['RECEIVED', undefined],
      ['FAILED', 'failed'],
    ] as const) {
      const cancel = record('cancel', state);
      const found = await openModificationOf(auth, job(auth, { command: 'cancel', outcome: cancelled }), { ledger: ledgerOf([auth, cancel]), logger });
      expect([state, found?.op.id, found?.kind]).toEqual([state, kind ? cancel.id : undefined, kind]);
    }
  });

  it('the capture the reading names, recorded FAILED: found as failed (a success after failure), with the reading as its outcome; not counted applied, an info line', async () => {
    const auth = record('authorize', 'SUCCEEDED');
    const capture = record('capture', 'FAILED', 'stripe', 400);
    const other = record('capture', 'UNKNOWN', 'stripe', 400);
    const found = await openModificationOf(auth, job(auth, { command: 'capture', operationId: capture.id, outcome: captured }), {
      ledger: ledgerOf([auth, capture, other]),
      logger,
    });
    expect(found).toMatchObject({ kind: 'failed', op: { id: capture.id }, data: { operationId: capture.id, outcome: captured } });

    const before = await metricValue('pb_webhook_open_modification_matches_total', { gateway: 'stripe', command: 'capture', outcome: 'applied' });
    noteOpenModification(logger, auth, found!);
    expect(await metricValue('pb_webhook_open_modification_matches_total', { gateway: 'stripe', command: 'capture', outcome: 'applied' })).toBe(before);
    expect(lines.some((l) => l.includes('done by an operation recorded FAILED') && l.includes(capture.id))).toBe(true);
    // Routed to another gateway than the webhook's: not taken.
    const elsewhere = record('capture', 'FAILED', 'stripe_eu', 400);
    const reading: ModificationReading = { command: 'capture', operationId: elsewhere.id, outcome: captured };
    expect(await openModificationOf(auth, job(auth, reading), { ledger: ledgerOf([auth, elsewhere]), logger })).toBeNull();
  });

  it('a FAILED cancel is found only when none that did not fail may have done it, and only one FAILED after it was sent: several are ambiguous', async () => {
    const auth = record('authorize', 'SUCCEEDED');
    const reading: ModificationReading = { command: 'cancel', outcome: cancelled };
    const unknown = record('cancel', 'UNKNOWN');
    expect(await openModificationOf(auth, job(auth, reading), { ledger: ledgerOf([auth, record('cancel', 'FAILED'), unknown]), logger })).toMatchObject({
      kind: 'open',
      op: { id: unknown.id },
    });
    // One SUCCEEDED did it: the FAILED one did not.
    expect(
      await openModificationOf(auth, job(auth, reading), { ledger: ledgerOf([auth, record('cancel', 'FAILED'), record('cancel', 'SUCCEEDED')]), logger }),
    ).toBeNull();

    const before = await metricValue('pb_webhook_open_modification_matches_total', { gateway: 'stripe', command: 'cancel', outcome: 'ambiguous' });
    const two = ledgerOf([auth, record('cancel', 'FAILED'), record('cancel', 'FAILED')]);
    expect(await openModificationOf(auth, job(auth, reading), { ledger: two, logger })).toBeNull();
    expect(await metricValue('pb_webhook_open_modification_matches_total', { gateway: 'stripe', command: 'cancel', outcome: 'ambiguous' })).toBe(before + 1);
    expect(lines.some((l) => l.includes('more than one operation recorded FAILED asked for'))).toBe(true);

    // One refused before any call (no attempt: no route, an amount refused) did nothing at the PSP.
    const never = { ...record('cancel', 'FAILED'), attempts: 0 };
    expect(await openModificationOf(auth, job(auth, reading), { ledger: ledgerOf([auth, never]), logger })).toBeNull();
    const sentOne = record('cancel', 'FAILED');
    expect((await openModificationOf(auth, job(auth, reading), { ledger: ledgerOf([auth, never, sentOne]), logger }))?.op.id).toBe(sentOne.id);

    // A reading that is no success is no success after failure.
    const refusal: ModificationReading = { command: 'cancel', outcome: { ...cancelled, status: 'FAIL' } };
    expect(await openModificationOf(auth, job(auth, refusal), { ledger: ledgerOf([auth, record('cancel', 'FAILED')]), logger })).toBeNull();
  });

  it('a capture the reading does not name, or of another command, is not taken', async () => {
    const auth = record('authorize', 'SUCCEEDED');
    const capture = record('capture', 'UNKNOWN');
    const cancel = record('cancel', 'UNKNOWN');
    const ledger = ledgerOf([auth, capture, cancel]);
    expect(
      await openModificationOf(auth, job(auth, { command: 'capture', operationId: 'opref-someone-else', outcome: captured }), { ledger, logger }),
    ).toBeNull();
    // The cancel reading goes to the cancel, the capture is left alone.
    expect((await openModificationOf(auth, job(auth, { command: 'cancel', outcome: cancelled }), { ledger, logger }))?.op.id).toBe(cancel.id);
  });

  it('two cancels that may have done it (both sent): none is chosen, counted ambiguous, an info line; one that already SUCCEEDED is the one the fact is about', async () => {
    const auth = record('authorize', 'SUCCEEDED');
    const before = await metricValue('pb_webhook_open_modification_matches_total', { gateway: 'stripe', command: 'cancel', outcome: 'ambiguous' });
    const two = ledgerOf([auth, record('cancel', 'UNKNOWN'), record('cancel', 'UNKNOWN')]);
    expect(await openModificationOf(auth, job(auth, { command: 'cancel', outcome: cancelled }), { ledger: two, logger })).toBeNull();
    expect(await metricValue('pb_webhook_open_modification_matches_total', { gateway: 'stripe', command: 'cancel', outcome: 'ambiguous' })).toBe(before + 1);
    expect(lines.some((l) => l.includes('more than one operation asked for: left to the poller'))).toBe(true);

    const done = ledgerOf([auth, record('cancel', 'SUCCEEDED'), record('cancel', 'UNKNOWN')]);
    expect(await openModificationOf(auth, job(auth, { command: 'cancel', outcome: cancelled }), { ledger: done, logger })).toBeNull();
    // One refused (FAILED) or never sent (RECEIVED) did not do it: the other is the one.
    const unknown = record('cancel', 'UNKNOWN');
    const one = ledgerOf([auth, record('cancel', 'FAILED'), record('cancel', 'RECEIVED'), unknown]);
    expect((await openModificationOf(auth, job(auth, { command: 'cancel', outcome: cancelled }), { ledger: one, logger }))?.op.id).toBe(unknown.id);
  });

  it('only a modification routed to the gateway the webhook came on, of an authorization named, for a job without a late fact', async () => {
    const auth = record('authorize', 'SUCCEEDED');
    const elsewhere = record('cancel', 'UNKNOWN', 'stripe_eu');
    const reading: ModificationReading = { command: 'cancel', outcome: cancelled };
    expect(await openModificationOf(auth, job(auth, reading), { ledger: ledgerOf([auth, elsewhere]), logger })).toBeNull();

    const cancel = record('cancel', 'UNKNOWN');
    const sale = record('sale', 'SUCCEEDED');
    expect(await openModificationOf(sale, job(sale, reading), { ledger: ledgerOf([sale, cancel]), logger })).toBeNull();
    const lapse = { kind: 'authorization_expired' as const, direction: 'none' as const, failsOpenOperation: true };
    expect(await openModificationOf(auth, job(auth, reading, { adjustment: lapse }), { ledger: ledgerOf([auth, cancel]), logger })).toBeNull();
    const { modification: _none, ...plain } = job(auth, reading);
    expect(await openModificationOf(auth, plain, { ledger: ledgerOf([auth, cancel]), logger })).toBeNull();
  });

  describe('a final reading (the PSP object never moves again: Stripe, the authorization lapsed)', () => {
    const expired: GatewayOutcome = { status: 'FAIL', gatewayStatus: 'canceled', gatewayReference: 'pi_1', reason: 'authorization_expired' };
    const finalFail: ModificationReading = { command: 'capture', outcome: expired, final: true };

    it('settles an open capture in every open state, SENT too (whatever answer comes can only agree); never a terminal or unsent one', async () => {
      const auth = record('authorize', 'SUCCEEDED');
      for (const [state, found] of [
        ['UNKNOWN', true],
        ['PENDING', true],
        ['UNRESOLVED', true],
        ['SENT', true],
        ['RECEIVED', false],
        ['SUCCEEDED', false],
        ['FAILED', false],
      ] as const) {
        const capture = record('capture', state);
        const open = await openModificationOf(auth, job(auth, finalFail), { ledger: ledgerOf([auth, capture]), logger });
        expect([state, open?.op.id, open?.kind, open?.data.outcome]).toEqual(
          found ? [state, capture.id, 'open', expired] : [state, undefined, undefined, undefined],
        );
      }
    });

    it('a capture that SUCCEEDED is left as it is: counted contradicted, a warning naming it', async () => {
      const auth = record('authorize', 'SUCCEEDED');
      const capture = record('capture', 'SUCCEEDED');
      const labels = { gateway: 'stripe', command: 'capture', outcome: 'contradicted' };
      const before = await metricValue('pb_webhook_open_modification_matches_total', labels);
      expect(await openModificationOf(auth, job(auth, finalFail), { ledger: ledgerOf([auth, capture]), logger })).toBeNull();
      expect(await metricValue('pb_webhook_open_modification_matches_total', labels)).toBe(before + 1);
      expect(lines.some((l) => l.includes('final failure') && l.includes(capture.id) && l.includes('"level":"warn"'))).toBe(true);
    });

    it('of another gateway: not taken', async () => {
      const auth = record('authorize', 'SUCCEEDED');
      const elsewhere = record('capture', 'UNKNOWN', 'stripe_eu');
      expect(await openModificationOf(auth, job(auth, finalFail), { ledger: ledgerOf([auth, elsewhere]), logger })).toBeNull();
    });
  });
});
