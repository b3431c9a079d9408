import { AdjustmentRecord, AdjustmentKind } from '../../../src/adjustments/adjustment';
import { AdjustmentInput } from '../../../src/adjustments/adjustment-store';
import { failedOnRecordedLapse, lapseRecordedOf, lapseRecording } from '../../../src/delivery/authorization-lapse';
import { AdjustmentsChangedError } from '../../../src/errors/adjustments-changed-error';
import { AuthorizationLapse } from '../../../src/gateways/gateway-adapter';
import { pspIsoTimeMs } from '../../../src/gateways/psp-time';
import { OperationRecord } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';

const capture = { id: 'cap-1', command: 'capture', state: 'FAILED', payment: { gateway: 'stripe', gateway_key: 'auth-1' } } as unknown as OperationRecord;
const authorization = { id: 'auth-1', command: 'authorize', state: 'SUCCEEDED', payment: { gateway: 'stripe' } } as unknown as OperationRecord;
const lapse: AuthorizationLapse = {
  lineId: 'pi_1:authorization_expired',
  pspReference: 'pi_1',
  amount: 2599,
  currency: 'EUR',
  occurredAt: 1_692_700_000_000,
  reason: 'automatic',
};

const adjustment = (kind: AdjustmentKind, id = `adj_${kind}`): AdjustmentRecord =>
  ({ id, operationId: 'auth-1', gateway: 'stripe', kind, direction: 'none', pspEventId: 'evt', source: 'webhook', recordedAt: 1 }) as AdjustmentRecord;

/** A lapse recorder over an authorization in `state` holding `held`, whose store changes under it `changes` times. */
function recording(state: string, held: AdjustmentRecord[], changes = 0) {
  const recorded: Array<Omit<AdjustmentInput, 'operationId'>> = [];
  let left = changes;
  const deps = {
    adjustments: {
      authorizationActedOn: jest.fn(async () => 'auth-1'),
      recordAdjustment: jest.fn(async (_op: OperationRecord, input: Omit<AdjustmentInput, 'operationId'>) => {
        if (left > 0) {
          left -= 1;
          throw new AdjustmentsChangedError('changed');
        }
        recorded.push(input);
        return { created: true, adjustment: { ...adjustment('authorization_expired', 'adj_new'), pspEventId: input.pspEventId } };
      }),
    },
    store: { forOperation: jest.fn(async () => held) },
    ledger: { get: jest.fn(async () => ({ ...authorization, state }) as OperationRecord) },
    logger: captureLogger('info').logger,
  };
  return { record: lapseRecording(deps), recorded, deps };
}

const met = (adjustment: string): Promise<number> => metricValue('pb_authorization_lapses_met_total', { gateway: 'stripe', command: 'capture', adjustment });

describe("a capture that met its authorization's lapse records the lapse on the authorization, once", () => {
  it("records authorization_expired under reconciliation's line of the lapse, judged against the adjustments as read", async () => {
    const before = await met('recorded');
    const { record, recorded } = recording('SUCCEEDED', [adjustment('chargeback')]);
    await record(capture, lapse, 'response');
    expect(recorded).toEqual([
      {
        kind: 'authorization_expired',
        direction: 'none',
        amount: 2599,
        currency: 'EUR',
        reason: 'automatic',
        pspReference: 'pi_1',
        occurredAt: 1_692_700_000_000,
        gateway: 'stripe',
        pspEventId: 'reconciliation:pi_1:authorization_expired',
        source: 'reconciliation',
        expectedAdjustments: 1,
      },
    ]);
    expect(await met('recorded')).toBe(before + 1);
  });

  it.each(['authorization_expired', 'failed_after_success'] as const)(
    'finds the lapse recorded already as %p (its webhook, a run): records nothing',
    async (kind) => {
      const before = await met('found');
      const { record, recorded } = recording('SUCCEEDED', [adjustment(kind)]);
      await record(capture, lapse, 'inquiry');
      expect(recorded).toEqual([]);
      expect(await met('found')).toBe(before + 1);
    },
  );

  it('reads the adjustments again when another source recorded one in between, and finds it', async () => {
    const { record, recorded, deps } = recording('SUCCEEDED', [], 1);
    deps.store.forOperation.mockResolvedValueOnce([]).mockResolvedValueOnce([adjustment('authorization_expired')]);
    await record(capture, lapse, 'response');
    expect(recorded).toEqual([]);
    expect(deps.adjustments.recordAdjustment).toHaveBeenCalledTimes(1);
  });

  it.each(['FAILED', 'UNKNOWN'])('records nothing on an authorization %p (nothing held, or settled by its own outcome)', async (state) => {
    const before = await met('skipped');
    const { record, recorded } = recording(state, []);
    await record(capture, lapse, 'response');
    expect(recorded).toEqual([]);
    expect(await met('skipped')).toBe(before + 1);
  });

  it('never throws: the failure is recorded; the lapse is left to its webhook and reconciliation', async () => {
    const before = await met('error');
    const { record } = recording('SUCCEEDED', [], 5);
    await expect(record(capture, lapse, 'response')).resolves.toBeUndefined();
    expect(await met('error')).toBe(before + 1);
  });
});

describe('a capture failing after its authorization lapse was recorded (Adyen EXPIRE, any PSP)', () => {
  const of = (held: AdjustmentRecord[], authorizationId: string | null = 'auth-1', logger = captureLogger('info').logger) =>
    lapseRecordedOf({ adjustments: { authorizationActedOn: async () => authorizationId }, store: { forOperation: async () => held }, logger });

  it('reads the lapse as recorded when the authorization holds an authorization_expired adjustment; not for other kinds, nor without an authorization of ours', async () => {
    expect(await of([adjustment('authorization_expired')])(capture)).toBe('authorization_expired');
    expect(await of([adjustment('chargeback')])(capture)).toBeNull();
    expect(await of([])(capture)).toBeNull();
    expect(await of([adjustment('authorization_expired')], null)(capture)).toBeNull();
  });

  it('reads a failed_after_success (the PSP voided an authorization the OMS was told succeeded: a Dashboard or Customer Area void) as that void, not as a lapse', async () => {
    expect(await of([adjustment('failed_after_success')])(capture)).toBe('failed_after_success');
    // Both on record: the first one released the hold; the second found nothing held.
    const voided = { ...adjustment('failed_after_success'), occurredAt: 1_000 };
    const lapsed = { ...adjustment('authorization_expired'), occurredAt: 2_000 };
    expect(await of([lapsed, voided])(capture)).toBe('failed_after_success');
    expect(await of([{ ...voided, occurredAt: 3_000 }, lapsed])(capture)).toBe('authorization_expired');
  });

  it('a capture sent before the lapse (Adyen had received it: EXPIRE took only what remained uncaptured) failing later keeps its own reason: its failure is not the lapse (a technical one Adyen may re-capture)', async () => {
    const sentAt = 1_692_700_000_000;
    const inFlight = { ...capture, createdAt: sentAt - 5_000, firstAttemptAt: sentAt } as OperationRecord;
    const later = { ...adjustment('authorization_expired'), occurredAt: sentAt + 60_000, recordedAt: sentAt + 61_000 };
    expect(await of([later])(inFlight)).toBeNull();
    // Recorded by the bridge after the capture was sent, the PSP saying no time: the same.
    const { occurredAt: _at, ...undated } = later;
    expect(await of([undated])(inFlight)).toBeNull();
    // Sent after the lapse: nothing was left to capture.
    const earlier = { ...adjustment('authorization_expired'), occurredAt: sentAt - 60_000, recordedAt: sentAt - 59_000 };
    expect(await of([earlier])(inFlight)).toBe('authorization_expired');
  });

  describe("a release dated in the capture's own second (the PSPs date in whole seconds: which came first cannot be told) is not read as before it", () => {
    // 2024-01-01T11:00:00.000Z: the second Adyen writes 2024-01-01T12:00:00+01:00.
    const second = Date.UTC(2024, 0, 1, 11, 0, 0);
    const sentAt = (ms: number) => ({ ...capture, createdAt: ms - 5_000, firstAttemptAt: ms }) as OperationRecord;
    const lapsedAt = (occurredAt: number | undefined, recordedAt: number): AdjustmentRecord =>
      ({ ...adjustment('authorization_expired'), ...(occurredAt !== undefined ? { occurredAt } : {}), recordedAt }) as AdjustmentRecord;
    const ties = (release: string): Promise<number> => metricValue('pb_capture_release_ties_total', { gateway: 'stripe', release });

    it('the same millisecond: the PSP reason kept; counted and logged as a tie', async () => {
      const { logger, lines } = captureLogger('info');
      const before = await ties('authorization_expired');
      expect(await of([lapsedAt(second + 400, second + 900)], 'auth-1', logger)(sentAt(second + 400))).toBeNull();
      expect(await ties('authorization_expired')).toBe(before + 1);
      expect(lines.some((l) => l.includes('which came first cannot be told') && l.includes('cap-1') && l.includes('"release_time":"psp"'))).toBe(true);
    });

    it("Adyen's second-precision eventDate (yyyy-MM-DDThh:mm:ssTZD) read at the second's start, the capture sent later in that second: the PSP reason kept", async () => {
      const eventDate = pspIsoTimeMs('2024-01-01T12:00:00+01:00')!;
      expect(eventDate).toBe(second);
      for (const ms of [0, 1, 400, 999]) expect(await of([lapsedAt(eventDate, second + 2_000)])(sentAt(second + ms))).toBeNull();
      // Sent a whole second later: the lapse came first, whatever its milliseconds.
      expect(await of([lapsedAt(eventDate, second + 2_000)])(sentAt(second + 1_000))).toBe('authorization_expired');
      expect(await of([lapsedAt(second + 999, second + 2_000)])(sentAt(second + 1_000))).toBe('authorization_expired');
    });

    it('a release later in the same second, or in a later one: the PSP reason kept; only the same second is a tie', async () => {
      const before = await ties('authorization_expired');
      expect(await of([lapsedAt(second + 900, second + 950)])(sentAt(second + 100))).toBeNull();
      expect(await ties('authorization_expired')).toBe(before + 1);
      expect(await of([lapsedAt(second + 1_000, second + 1_050)])(sentAt(second + 999))).toBeNull();
      expect(await ties('authorization_expired')).toBe(before + 1);
    });

    it("no PSP time: when it was recorded, in milliseconds (the bridge's own clock on both sides): the same millisecond or later is not before", async () => {
      expect(await of([lapsedAt(undefined, second + 400)])(sentAt(second + 400))).toBeNull();
      expect(await of([lapsedAt(undefined, second + 900)])(sentAt(second + 100))).toBeNull();
      // On record 800 ms before the capture was sent, in the same second: the release came first.
      expect(await of([lapsedAt(undefined, second + 100)])(sentAt(second + 900))).toBe('authorization_expired');
      expect(await of([lapsedAt(undefined, second - 1)])(sentAt(second))).toBe('authorization_expired');
      // Never attempted: its creation.
      const created = { ...capture, createdAt: second + 400 } as OperationRecord;
      expect(await of([lapsedAt(undefined, second + 400)])(created)).toBeNull();
      expect(await of([lapsedAt(undefined, second - 600)])(created)).toBe('authorization_expired');
    });

    it("dated by the PSP in the capture's second but on record before the capture was sent (the PSP's clock ahead, or its second's start): before", async () => {
      const eventDate = pspIsoTimeMs('2024-01-01T12:00:00+01:00')!;
      // EXPIRE dated 12:00:00 (+01:00), recorded at .300, the capture first sent at .800: it found the lapse on record.
      expect(await of([lapsedAt(eventDate, second + 300)])(sentAt(second + 800))).toBe('authorization_expired');
      // Dated a second after the send by a PSP clock ahead of ours, yet recorded before it.
      expect(await of([lapsedAt(second + 1_500, second + 300)])(sentAt(second + 800))).toBe('authorization_expired');
      // Recorded after the send: the tie stands.
      expect(await of([lapsedAt(eventDate, second + 801)])(sentAt(second + 800))).toBeNull();
    });

    it('a void and a lapse dated in one earlier second: the void, whichever is listed first, not reauthorize', async () => {
      const voided = { ...adjustment('failed_after_success'), occurredAt: second + 700, recordedAt: second + 800 } as AdjustmentRecord;
      const lapsed = lapsedAt(second + 100, second + 200);
      expect(await of([lapsed, voided])(sentAt(second + 5_000))).toBe('failed_after_success');
      expect(await of([voided, lapsed])(sentAt(second + 5_000))).toBe('failed_after_success');
      // In different seconds, the earlier one took the hold.
      expect(await of([voided, lapsedAt(second - 1, second)])(sentAt(second + 5_000))).toBe('authorization_expired');
    });
  });

  it("fails the capture authorization_expired, reauthorize, whatever the PSP said; counted found; the PSP's text on a warning", async () => {
    const { logger, lines } = captureLogger('info');
    const adyenCapture = { ...capture, payment: { gateway: 'adyen', gateway_key: 'auth-1' } } as unknown as OperationRecord;
    const labels = { gateway: 'adyen', command: 'capture', adjustment: 'found' };
    const before = await metricValue('pb_authorization_lapses_met_total', labels);
    const read = failedOnRecordedLapse(
      adyenCapture,
      { status: 'FAIL', gatewayStatus: 'CAPTURE', reason: 'Insufficient balance on payment' },
      'webhook',
      logger,
    );
    expect(read).toEqual({
      status: 'FAIL',
      gatewayStatus: 'CAPTURE',
      reason: 'authorization_expired',
      decline: expect.objectContaining({ category: 'cancelled', gateway_code: 'authorization_expired', suggested_action: 'reauthorize' }),
    });
    expect(await metricValue('pb_authorization_lapses_met_total', labels)).toBe(before + 1);
    expect(lines.some((l) => l.includes('"level":"warn"') && l.includes('Insufficient balance on payment') && l.includes('cap-1'))).toBe(true);
  });

  it("fails a capture sent after its authorization's void authorization_cancelled, as a capture of a cancelled authorization fails (operation_not_permitted, fix_request): not a lapse, no reauthorize; counted as a void met, not a lapse", async () => {
    const { logger, lines } = captureLogger('info');
    const labels = { gateway: 'stripe', command: 'capture' };
    const lapses = await metricValue('pb_authorization_lapses_met_total', labels);
    const voids = await metricValue('pb_authorization_voids_met_total', labels);
    const read = failedOnRecordedLapse(
      capture,
      { status: 'FAIL', gatewayStatus: 'canceled', reason: 'payment_intent_unexpected_state' },
      'response',
      logger,
      'failed_after_success',
    );
    expect(read).toEqual({
      status: 'FAIL',
      gatewayStatus: 'canceled',
      reason: 'authorization_cancelled',
      decline: expect.objectContaining({ category: 'operation_not_permitted', gateway_code: 'authorization_cancelled', suggested_action: 'fix_request' }),
    });
    expect(await metricValue('pb_authorization_voids_met_total', labels)).toBe(voids + 1);
    expect(await metricValue('pb_authorization_lapses_met_total', labels)).toBe(lapses);
    expect(lines.some((l) => l.includes('"level":"warn"') && l.includes('payment_intent_unexpected_state') && l.includes('failed_after_success'))).toBe(true);
  });
});
