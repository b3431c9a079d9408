import { LuaScript, luaInputs } from '../redis/lua-script';

/**
 * Field on a capture's record: a late refund fact whose reading was `undecided` counted this capture, then in flight,
 * as what might cover the refunds (its value: that fact's adjustment id). The transition reads it in the read it makes
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
 * Marks capture `op` with {@link REFUNDS_UNDECIDED_FIELD} (= `adjustment`, the first kept) only while it is not
 * settled (not SUCCEEDED or FAILED): returns 1 when it is marked (now or before), 0 when it settled already (its
 * outcome's transition will not look: the caller reads the payment again itself), -1 when there is no such operation.
 */
export const MARK_REFUNDS_UNDECIDED_SCRIPT = new LuaScript(
  luaInputs(['op'], ['field', 'adjustment']),
  `
local state = redis.call('HGET', K.op, 'state')
if not state then return -1 end
if state == 'SUCCEEDED' or state == 'FAILED' then return 0 end
redis.call('HSETNX', K.op, A.field, A.adjustment)
return 1
`,
);
