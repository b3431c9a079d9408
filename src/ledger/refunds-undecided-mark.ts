import type { RefundedBeyondCaptured } from '../adjustments/adjustment';
import { parseRefundedBeyond } from '../adjustments/adjustment-store';
import { LuaScript, luaInputs } from '../redis/lua-script';

/**
 * Field on a capture's record: a late refund fact's (or a void's) reading that was `undecided` counted this capture,
 * then in flight, as what might cover the refunds (its value: that fact's adjustment id, or the void's cancel id). The transition reads it in the read it makes
 * anyway (ledger-scripts.ts), so the capture's move to FAILED says whether the payment must be read again, without a
 * read of its own for any other capture.
 */
export const REFUNDS_UNDECIDED_FIELD = 'refunds_undecided_by';

/**
 * Field on a capture's record: what reading its payment again found once the capture failed for good (`fit`,
 * `undecided`, or the figures as JSON), kept once so a repeat of the outcome raises no second alarm.
 */
export const REFUNDS_REREAD_FIELD = 'refunds_reread';

/**
 * Field on a cancel's record: what reading its payment again found once its success was recorded, the cancel having
 * voided a capture or sale (`cancel_effect` `voided`, marked `undone_by` it): `fit`, `undecided`, or the figures as JSON.
 * Kept once, so a repeat of the outcome reads nothing and raises no second alarm (refunded-beyond-alarm.ts, `rereadAfterVoid`).
 */
export const REFUNDS_REREAD_AFTER_VOID_FIELD = 'refunds_reread_after_void';

/**
 * Field on a payment's record (its authorization, or its sale): who says refunds beyond this captured standing, `figures`
 * (the currency, what stands captured and what was refunded: what was said), set once (HSETNX) to the id of the first
 * late refund fact (its adjustment) or void (its cancel) whose reading found them and claimed them. A refund fact and a
 * void landing together both read after both writes and find the same figures: the claim decides which one raises the
 * alarm and says it on its event; the other logs who said it (refunded-beyond-alarm.ts, `claimRefundedBeyond`).
 */
export function refundedBeyondSaidField(figures: RefundedBeyondCaptured): string {
  return `${REFUNDED_BEYOND_SAID_PREFIX}${figures.currency}:${figures.capturedAmount}:${figures.refundedAmount}`;
}

/** How every {@link refundedBeyondSaidField} begins: a payment's claims are the fields of its record with it. */
export const REFUNDED_BEYOND_SAID_PREFIX = 'refunded_beyond_said:';

/**
 * The figures a {@link refundedBeyondSaidField} names (the excess: refunded less captured); undefined when `field` is not
 * one or its amounts are not integers (never throws).
 */
export function figuresOfSaidField(field: string): RefundedBeyondCaptured | undefined {
  if (!field.startsWith(REFUNDED_BEYOND_SAID_PREFIX)) return undefined;
  const [currency, captured, refunded, ...rest] = field.slice(REFUNDED_BEYOND_SAID_PREFIX.length).split(':');
  const capturedAmount = Number(captured);
  const refundedAmount = Number(refunded);
  if (!currency || rest.length > 0 || !/^-?\d+$/.test(captured ?? '') || !/^-?\d+$/.test(refunded ?? '')) return undefined;
  if (!Number.isSafeInteger(capturedAmount) || !Number.isSafeInteger(refundedAmount)) return undefined;
  return { currency, capturedAmount, refundedAmount, excessAmount: refundedAmount - capturedAmount };
}

/**
 * Field on a payment's record: the trace of claim `saidField` ({@link refundedBeyondSaidField}) given up when its
 * holder's alarm was withdrawn ({@link WITHDRAW_REFUND_ALARMS_SCRIPT}), holding that holder. The claim itself is removed
 * so the same figures found again raise a new alarm; the trace says a fact that kept those figures without the claim lost
 * it then (and said nothing), so it is not taken for one said before claims were kept (refunded-beyond-alarm.ts,
 * `saidByFact`, `withdrawAfterLateCapture`).
 */
export function givenUpClaimField(saidField: string): string {
  return `refunded_beyond_given_up:${saidField.slice(REFUNDED_BEYOND_SAID_PREFIX.length)}`;
}

/**
 * Field on a cancel's record (also a record field, `voidReadingClaims`): set (`1`) by a reading of its void's success
 * before that reading claims figures on its payment (refunded-beyond-alarm.ts, `readBeforeVoidMove`), so only a cancel
 * one of whose readings may have claimed looks for claims of its id no event says (`sayClaimsOffEvent`): the outcome
 * heard again, or a job settling the cancel, of any other cancel reads nothing more.
 */
export const VOID_READING_CLAIMS_FIELD = 'refunds_void_reading_claims';

/**
 * Field on a cancel's record, one per claim (`saidField`, a {@link refundedBeyondSaidField} of its payment held by the
 * cancel's id) that no event of it says: set once by whoever says that claim's alarm (the error line and metric), so a
 * repeat says nothing again. Such a claim was taken by a reading of the cancel's success whose move did not apply (another
 * recorder of the same success moved it first, with an earlier reading): refunded-beyond-alarm.ts, `sayClaimsOffEvent`.
 */
export function claimSaidOffEventField(saidField: string): string {
  return `refunds_claim_said_off_event:${saidField.slice(REFUNDED_BEYOND_SAID_PREFIX.length)}`;
}

/**
 * Claims {@link refundedBeyondSaidField} `field` of payment `op` for `by` (HSETNX), unless `by` is among the alarms
 * withdrawn on that record ({@link REFUNDS_ALARM_WITHDRAWN_FIELD}, `withdrawn_field`): a repeat of a fact or void whose
 * alarm was withdrawn (its claim given up) must not take the claim back, or the same figures found again later would
 * be said by nobody. Returns the holder (`by` when claimed now or before), '' when `by`'s alarm was withdrawn, or -1
 * when there is no such operation (nothing written).
 */
export const CLAIM_REFUNDED_BEYOND_SCRIPT = new LuaScript(
  luaInputs(['op'], ['field', 'by', 'withdrawn_field']),
  `
local held = redis.call('HGET', K.op, A.field)
if held then return held end
if redis.call('EXISTS', K.op) == 0 then return -1 end
local stored = redis.call('HGET', K.op, A.withdrawn_field)
if stored then
  local ok, v = pcall(cjson.decode, stored)
  if ok and type(v) == 'table' and type(v.withdrawn) == 'table' then
    for _, w in ipairs(v.withdrawn) do
      if w == A.by then return '' end
    end
  end
end
redis.call('HSET', K.op, A.field, A.by)
return A.by
`,
);

/**
 * A stored {@link REFUNDS_REREAD_AFTER_VOID_FIELD} read: `fit`, `undecided`, or the refunded-beyond figures with
 * `saidBy` when not this cancel but another fact or move (its id) says them (its event carries them); undefined when
 * absent or unreadable (never throws).
 */
export function parseRereadAfterVoid(stored: string | undefined): 'fit' | 'undecided' | { figures: RefundedBeyondCaptured; saidBy?: string } | undefined {
  if (stored === undefined) return undefined;
  if (stored === 'fit' || stored === 'undecided') return stored;
  const figures = parseRefundedBeyond(stored);
  if (figures === undefined) return undefined;
  // Read as figures above, so an object: the one field they leave out.
  const { saidBy } = JSON.parse(stored) as { saidBy?: unknown };
  return typeof saidBy === 'string' ? { figures, saidBy } : { figures };
}

/**
 * Field on a capture's or sale's record: a refunded-beyond alarm raised when it failed (its FAILED re-read,
 * `REFUNDS_REREAD_FIELD`, or a `capture_failed` adjustment's reading) no longer holds, the PSP having said it succeeded
 * after all (JSON: the latest such fact's adjustment id `by`, the new `reading` `fit` or `undecided`, every alarm
 * `withdrawn` so far, `at` epoch ms). Each alarm is withdrawn once ({@link WITHDRAW_REFUND_ALARMS_SCRIPT}), so a repeat
 * of the fact says nothing again, and a later failure's alarm is still withdrawn by a later success
 * (refunded-beyond-alarm.ts, `withdrawAfterLateCapture`).
 */
export const REFUNDS_ALARM_WITHDRAWN_FIELD = 'refunds_alarm_withdrawn';

/**
 * Keeps on capture or sale `op` ({@link REFUNDS_ALARM_WITHDRAWN_FIELD}) the withdrawal of those of `alarms` (a JSON
 * array of ids: `refunds_reread`, `capture_failed` adjustment ids) not withdrawn already: once per alarm, so a repeat of
 * the success fact withdraws nothing again, while a later failure's alarm, redone by a later success, is withdrawn
 * too. The field then holds the latest withdrawal (`by`, `reading`, `at`) and every alarm withdrawn so far. `claims`
 * (a JSON array of `[field, holder, trace]`: {@link refundedBeyondSaidField}s of a payment's record, and their
 * {@link givenUpClaimField}) whose holder is withdrawn now and still holds it are removed in the same step, so the same
 * figures found again later raise a new alarm, their trace set to the holder. Returns the
 * ids withdrawn now (a JSON array, empty when none), or -1 when there is no such operation.
 */
export const WITHDRAW_REFUND_ALARMS_SCRIPT = new LuaScript(
  luaInputs(['op'], ['field', 'alarms', 'by', 'reading', 'at', 'claims']),
  `
if redis.call('EXISTS', K.op) == 0 then return -1 end
local withdrawn = {}
local done = {}
local stored = redis.call('HGET', K.op, A.field)
if stored then
  local ok, v = pcall(cjson.decode, stored)
  if ok and type(v) == 'table' and type(v.withdrawn) == 'table' then
    for _, w in ipairs(v.withdrawn) do
      if type(w) == 'string' and not done[w] then
        done[w] = true
        withdrawn[#withdrawn + 1] = w
      end
    end
  end
end
local fresh = {}
for _, a in ipairs(cjson.decode(A.alarms)) do
  if not done[a] then
    done[a] = true
    fresh[#fresh + 1] = a
    withdrawn[#withdrawn + 1] = a
  end
end
if #fresh == 0 then return '[]' end
redis.call('HSET', K.op, A.field, cjson.encode({ by = A.by, reading = A.reading, withdrawn = withdrawn, at = tonumber(A.at) }))
-- The claims of the alarms withdrawn now, still theirs, are given up: the same figures found again later are a new alarm.
local now = {}
for _, a in ipairs(fresh) do now[a] = true end
for _, c in ipairs(cjson.decode(A.claims)) do
  if now[c[2]] and redis.call('HGET', K.op, c[1]) == c[2] then
    redis.call('HDEL', K.op, c[1])
    if c[3] then redis.call('HSET', K.op, c[3], c[2]) end
  end
end
return cjson.encode(fresh)
`,
);

/**
 * Field on a marked capture's record: the PSP refund references the late facts of refunds of ours that marked it named
 * (a JSON array), so reading the payment again counts such a refund once when a `refund_outside_bridge` reported it too
 * while ours held no reference, as those facts' own readings did (`refundedBeyondCapturedReadingOf`'s `factReference`).
 */
export const REFUNDS_UNDECIDED_REFS_FIELD = 'refunds_undecided_refs';

/**
 * Marks capture `op` with {@link REFUNDS_UNDECIDED_FIELD} (= `adjustment`, the first kept) only while it is not
 * settled (not SUCCEEDED or FAILED), or FAILED and held for its PSP's own retry (`held_field` set, no `late_field`: the
 * reading counts it in flight; an operator's release of it reads the payment again, `releaseHeldForPspRetry`): returns 1
 * when it is marked (now or before), 0 when it settled already (its outcome's transition will not look: the caller reads
 * the payment again itself), -1 when there is no such operation.
 * A non-empty `reference` (the fact's PSP refund) joins {@link REFUNDS_UNDECIDED_REFS_FIELD}, whichever fact marked first.
 */
export const MARK_REFUNDS_UNDECIDED_SCRIPT = new LuaScript(
  luaInputs(['op'], ['field', 'adjustment', 'refs_field', 'reference', 'held_field', 'late_field']),
  `
local current = redis.call('HMGET', K.op, 'state', A.held_field, A.late_field)
local state = current[1]
if not state then return -1 end
local held = state == 'FAILED' and current[2] and current[2] ~= '' and not current[3]
if (state == 'SUCCEEDED' or state == 'FAILED') and not held then return 0 end
redis.call('HSETNX', K.op, A.field, A.adjustment)
if A.reference ~= '' then
  local stored = redis.call('HGET', K.op, A.refs_field)
  local refs = {}
  if stored then refs = cjson.decode(stored) end
  for _, r in ipairs(refs) do
    if r == A.reference then return 1 end
  end
  refs[#refs + 1] = A.reference
  redis.call('HSET', K.op, A.refs_field, cjson.encode(refs))
end
return 1
`,
);
