import { AdjustmentStore } from '../adjustments/adjustment-store';
import { lineEventId, recordedAs } from '../adjustments/same-fact';
import { AdjustmentsChangedError } from '../errors/adjustments-changed-error';
import { BRIDGE_DECLINES } from '../errors/bridge-declines';
import { AUTHORIZATION_CANCELLED_REASON, AUTHORIZATION_EXPIRED_REASON, AuthorizationLapse, GatewayOutcome } from '../gateways/gateway-adapter';
import { declineOf, describeDecline } from '../errors/decline';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { gatewayOf } from '../ledger/routing-record';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import type { AdjustmentRecorder } from './adjustment-recorder';

/**
 * Records the lapse a capture or cancel just FAILED on (`GatewayOutcome.authorizationLapse`) as its authorization's
 * adjustment. Never throws: the failure is recorded already.
 */
export type RecordLapse = (failed: OperationRecord, lapse: AuthorizationLapse, source: string) => Promise<void>;

const lapsesMet = counter(
  'pb_authorization_lapses_met_total',
  "Captures and cancels FAILED because the PSP let their authorization lapse (Stripe: the PaymentIntent canceled, cancellation_reason automatic, seen in the PSP's answer or status inquiry; any gateway: a capture sent after its authorization's authorization_expired adjustment was recorded, then failing, such as after Adyen's EXPIRE), by gateway, command and what became of the authorization's authorization_expired adjustment: recorded, found (the lapse webhook or a reconciliation run had recorded it), skipped (no authorization of ours, or not SUCCEEDED), error (left to the lapse webhook and reconciliation)",
  ['gateway', 'command', 'adjustment'],
);

const voidsMet = counter(
  'pb_authorization_voids_met_total',
  "Captures FAILED authorization_cancelled because they were sent after the PSP voided their authorization the OMS was told SUCCEEDED (its failed_after_success adjustment recorded: a Dashboard or Customer Area void, the PSP's own cancel, a reversal by the merchant's staff), whatever the PSP's text, by gateway and command",
  ['gateway', 'command'],
);

/** How many times the authorization's adjustments are read again when another source recorded one in between. */
const ROUNDS = 3;

/**
 * The lapse a capture or cancel met, recorded once as its authorization's `authorization_expired` adjustment (release,
 * nothing moved; the authorization leaves the expiry and orphan indexes, `AdjustmentRecorder`), and its OMS event.
 * One fact however it is heard: unless the authorization has an adjustment recording it already (`recordedAs`: the
 * lapse webhook's, or reconciliation's from the PSP's line), it is recorded under the PSP line that lists it
 * (`lineEventId(lapse.lineId)`, source `reconciliation`: the PSP's own record of the object), which is what a later
 * reconciliation run finds as that line's, and what the lapse webhook, arriving later, finds as the same fact
 * (`AdjustmentStore.recordAdjustment`: no second adjustment or event). Judged against the adjustments as read
 * (`expectedAdjustments`): one recorded in between is read again. Only of a SUCCEEDED authorization of ours (a FAILED
 * one held nothing; an open one is settled by its own outcome). Counted (`pb_authorization_lapses_met_total`) and logged.
 */
export function lapseRecording(deps: {
  adjustments: Pick<AdjustmentRecorder, 'recordAdjustment' | 'authorizationActedOn'>;
  store: Pick<AdjustmentStore, 'forOperation'>;
  ledger: Pick<Ledger, 'get'>;
  logger: Logger;
}): RecordLapse {
  return async (failed, lapse, source) => {
    const gateway = gatewayOf(failed);
    const fields = { operation_id: failed.id, command: failed.command, gateway, source, psp_reference: lapse.pspReference ?? null };
    const count = (adjustment: string): void => lapsesMet.inc({ gateway, command: failed.command, adjustment });
    try {
      const authorizationId = await deps.adjustments.authorizationActedOn(failed);
      const authorization = authorizationId === null ? null : await deps.ledger.get(authorizationId);
      if (authorization?.state !== 'SUCCEEDED') {
        count('skipped');
        deps.logger.info(`${failed.command} failed: the PSP let its authorization lapse; no SUCCEEDED authorization of ours to record the lapse on`, {
          ...fields,
          authorization_id: authorizationId,
          authorization_state: authorization?.state ?? null,
        });
        return;
      }
      const adjustment = await recordOnce(deps, authorization, lapse, gateway);
      count(adjustment.created ? 'recorded' : 'found');
      deps.logger.warn(
        `${failed.command} failed: the PSP let its authorization lapse (the hold is released): the authorization's authorization_expired adjustment`,
        {
          ...fields,
          authorization_id: authorization.id,
          adjustment_id: adjustment.id,
          adjustment: adjustment.created ? 'recorded' : 'found',
          amount: lapse.amount ?? null,
          currency: lapse.currency ?? null,
        },
      );
    } catch (err) {
      count('error');
      deps.logger.warn(
        `${failed.command} failed: the PSP let its authorization lapse, and its lapse could not be recorded now (the lapse webhook or reconciliation will)`,
        {
          ...fields,
          error: err instanceof Error ? err.message : String(err),
        },
      );
    }
  };
}

/** The authorization's adjustment recording `lapse`: the one found, else the one recorded now. */
async function recordOnce(
  deps: Parameters<typeof lapseRecording>[0],
  authorization: OperationRecord,
  lapse: AuthorizationLapse,
  gateway: string,
): Promise<{ id: string; created: boolean }> {
  const kinds = recordedAs('authorization_expired');
  for (let round = 1; ; round += 1) {
    const known = await deps.store.forOperation(authorization.id);
    const found = known.find((a) => kinds.includes(a.kind));
    if (found) return { id: found.id, created: false };
    try {
      const { adjustment, created } = await deps.adjustments.recordAdjustment(authorization, {
        kind: 'authorization_expired',
        direction: 'none',
        ...(lapse.amount !== undefined ? { amount: lapse.amount } : {}),
        ...(lapse.currency !== undefined ? { currency: lapse.currency } : {}),
        ...(lapse.reason !== undefined ? { reason: lapse.reason } : {}),
        ...(lapse.pspReference !== undefined ? { pspReference: lapse.pspReference } : {}),
        ...(lapse.occurredAt !== undefined ? { occurredAt: lapse.occurredAt } : {}),
        gateway,
        pspEventId: lineEventId(lapse.lineId),
        source: 'reconciliation',
        expectedAdjustments: known.length,
      });
      return { id: adjustment.id, created };
    } catch (err) {
      if (!(err instanceof AdjustmentsChangedError) || round >= ROUNDS) throw err;
    }
  }
}

/** How the PSP released an authorization a capture was sent after: its lapse, or its void after success. */
export type RecordedRelease = 'authorization_expired' | 'failed_after_success';

const releaseTies = counter(
  'pb_capture_release_ties_total',
  "Captures failing whose first send fell in the same second as their authorization's recorded release (its authorization_expired or failed_after_success adjustment, such as Adyen's EXPIRE, the PSP dating it in whole seconds) and recorded at or after that send, none before it: which came first cannot be told, so the failure keeps the PSP's reason, by gateway and release",
  ['gateway', 'release'],
);

/**
 * A time's whole second (epoch seconds): the precision the PSPs date their events in (Adyen's `eventDate`
 * "yyyy-MM-DDThh:mm:ssTZD", Cybersource's `eventDate`, a Stripe event's `created`).
 */
const secondOf = (ms: number): number => Math.floor(ms / 1000);

/** Within one second, which release is read as the one that took the hold: a void before a lapse. */
const TIE_ORDER: Record<RecordedRelease, number> = { failed_after_success: 0, authorization_expired: 1 };

/**
 * How the authorization capture `op` acts on was released, when its release is on record already from before the
 * capture was first sent: `authorization_expired` for its lapse (the PSP's lapse webhook, Adyen `EXPIRE` "the
 * remaining uncaptured amount expired", or a reconciliation run), `failed_after_success` for a void of it the OMS never
 * asked for (a Dashboard or Customer Area void, the PSP's own cancel). A capture sent after that failed on the release,
 * whatever the PSP's text: nothing is left to capture. One sent before it (Adyen had received it: `EXPIRE` takes only
 * what remained uncaptured) failed for its own reason, which it keeps: a technical `CAPTURE_FAILED` Adyen may still
 * re-capture, and a new authorization captured beside it would collect twice. Null when none is, or no authorization of
 * ours is found.
 *
 * Before means recorded before the capture's first attempt (else its creation), both the bridge's own times in
 * milliseconds (the release was on record when the capture was sent), or dated by the PSP in an earlier whole second
 * than that. The PSPs date their events in whole seconds, so a release recorded at or after the capture's send and
 * dated (by the PSP, else by its recording) in that very second cannot be told before or after it: it is not read as
 * before, and the failure keeps the PSP's reason (a capture wrongly kept pending on Adyen's re-capture is a late
 * collection Adyen's support resolves; a wrong `reauthorize` beside a capture Adyen re-captures collects twice). Such a
 * tie is counted (`pb_capture_release_ties_total`) and logged. Both releases before: the earlier second decides, the
 * release that took the hold; in one second, the void (`failed_after_success`: the OMS is not told to authorize again
 * an order voided).
 */
export type LapseRecorded = (capture: OperationRecord) => Promise<RecordedRelease | null>;

export function lapseRecordedOf(deps: {
  adjustments: Pick<AdjustmentRecorder, 'authorizationActedOn'>;
  store: Pick<AdjustmentStore, 'forOperation'>;
  logger: Logger;
}): LapseRecorded {
  return async (capture) => {
    const authorizationId = await deps.adjustments.authorizationActedOn(capture);
    if (authorizationId === null) return null;
    const sentAt = capture.firstAttemptAt ?? capture.createdAt;
    const second = (a: { occurredAt?: number; recordedAt: number }): number => secondOf(a.occurredAt ?? a.recordedAt);
    const releases = (await deps.store.forOperation(authorizationId)).filter(
      (a): a is typeof a & { kind: RecordedRelease } => a.kind === 'authorization_expired' || a.kind === 'failed_after_success',
    );
    const earliest = (candidates: typeof releases): RecordedRelease | null =>
      [...candidates].sort((x, y) => second(x) - second(y) || TIE_ORDER[x.kind] - TIE_ORDER[y.kind])[0]?.kind ?? null;
    if (sentAt === undefined) return earliest(releases);
    const sent = secondOf(sentAt);
    // On record before the capture was first sent (both times the bridge's own, in milliseconds): the release came
    // first, whatever second the PSP dates it in. Otherwise its PSP time's whole second must be an earlier one.
    const before = earliest(releases.filter((a) => a.recordedAt < sentAt || (a.occurredAt !== undefined && secondOf(a.occurredAt) < sent)));
    if (before !== null) return before;
    const tied = releases.find((a) => second(a) === sent);
    if (tied !== undefined) {
      const gateway = gatewayOf(capture);
      releaseTies.inc({ gateway, release: tied.kind });
      deps.logger.info(
        "capture failed in the very second its authorization's release is dated: which came first cannot be told, its failure keeps the PSP's reason",
        {
          operation_id: capture.id,
          gateway,
          authorization_id: authorizationId,
          release: tied.kind,
          adjustment_id: tied.id,
          release_at: new Date(tied.occurredAt ?? tied.recordedAt).toISOString(),
          release_time: tied.occurredAt !== undefined ? 'psp' : 'recorded',
          sent_at: new Date(sentAt).toISOString(),
        },
      );
    }
    return null;
  };
}

/**
 * A capture's FAIL once its authorization's release is recorded (`LapseRecorded`), whatever the PSP said (logged
 * beside it). Its lapse (`authorization_expired`, the default): reason `authorization_expired`, the decline telling the
 * OMS to obtain a new authorization (`reauthorize`), counted in `pb_authorization_lapses_met_total` (adjustment
 * `found`). Its void after success (`failed_after_success`): not a lapse; reason `authorization_cancelled`, the bridge
 * table's decline for a capture of a cancelled authorization (`operation_not_permitted`, `fix_request`), counted in
 * `pb_authorization_voids_met_total`.
 */
export function failedOnRecordedLapse(
  op: OperationRecord,
  failed: GatewayOutcome,
  source: string,
  logger: Logger,
  release: RecordedRelease = 'authorization_expired',
): GatewayOutcome {
  const gateway = gatewayOf(op);
  // Released before the capture was sent: nothing is left for the PSP to re-capture, so no amount stays held for it.
  const { retriedByPsp: _released, ...outcome } = failed;
  const fields = {
    operation_id: op.id,
    command: op.command,
    gateway,
    source,
    released_by: release,
    gateway_status: outcome.gatewayStatus,
    psp_reason: outcome.reason ?? null,
  };
  if (release === 'failed_after_success') {
    voidsMet.inc({ gateway, command: op.command });
    logger.warn(
      `${op.command} failed after its authorization was cancelled at the PSP (its failed_after_success adjustment is recorded): failed authorization_cancelled`,
      fields,
    );
    return { ...outcome, reason: AUTHORIZATION_CANCELLED_REASON, decline: describeDecline(BRIDGE_DECLINES, AUTHORIZATION_CANCELLED_REASON) };
  }
  lapsesMet.inc({ gateway, command: op.command, adjustment: 'found' });
  logger.warn(
    `${op.command} failed after its authorization lapsed (its authorization_expired adjustment is recorded): failed authorization_expired, reauthorize`,
    fields,
  );
  return { ...outcome, reason: AUTHORIZATION_EXPIRED_REASON, decline: declineOf('cancelled', AUTHORIZATION_EXPIRED_REASON, 'reauthorize') };
}
