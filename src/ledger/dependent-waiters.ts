import type { Payment } from '../contracts/payment-command';
import { LuaScript, luaInputs } from '../redis/lua-script';
import type { OperationState } from './operation-state';

/**
 * The record field that says dependents wait for this operation to move (`S op:<id>:waiters` holds them). The
 * transition script reads it with the fields it reads anyway and reports it when a move applies, so a move of
 * an operation nobody waits for costs nothing more; only a flagged one has its waiters read and woken.
 */
export const WAITERS_FLAG = 'dependents_waiting';

/** An operation a transition moved while dependents waited for it (`Ledger.waitFor`): what a {@link DependentWaker} is given. */
export interface WaitedMove {
  /** The operation that moved (an authorization, or a capture, cancel or refund its siblings wait for). */
  id: string;
  /** Its payment, when the mover holds it: where its waiters live. Absent: its shard is found by its id. */
  payment?: Payment;
  /** The state it moved to. */
  to: OperationState;
  /** What moved it: the history entry's `source` (response, webhook, inquiry, poller…), else its `event`. */
  source: string;
}

/**
 * Makes the dependents waiting for an operation that moved run now: takes them (`Ledger.takeWaiters`) and
 * promotes each one's delivery. Given to the ledger once per process (`Ledger.wakeDependentsWith`), which calls
 * it after every move that found dependents waiting, whoever made the move. Never throws: a wake that fails
 * leaves the dependent to its own backed-off re-check.
 */
export type DependentWaker = (moved: WaitedMove) => Promise<void>;

/**
 * Registers a dependent among the waiters of the operation it waits for, only while that operation is still in
 * the state the dependent saw (`state`): checked in the same atomic step as the transition script reads the flag,
 * so a move either comes after (and sees the dependent) or before (and this says so: the dependent looks again
 * at once). The set expires after `ttl` seconds (every re-check of a waiter registers it again). Returns 1 when
 * registered, 0 when the operation is in another state (or gone).
 */
export const WAIT_FOR_SCRIPT = new LuaScript(
  luaInputs(['op', 'waiters'], ['dependent', 'state', 'ttl', 'flag']),
  `
if redis.call('HGET', K.op, 'state') ~= A.state then return 0 end
redis.call('SADD', K.waiters, A.dependent)
redis.call('EXPIRE', K.waiters, A.ttl)
redis.call('HSET', K.op, A.flag, '1')
return 1
`,
);

/**
 * Takes the waiters of an operation: returns them, deletes the set and clears the flag, in one step (a dependent
 * registering after it is left for the next move, or its own re-check). Never creates the record.
 */
export const TAKE_WAITERS_SCRIPT = new LuaScript(
  luaInputs(['op', 'waiters'], ['flag']),
  `
local ids = redis.call('SMEMBERS', K.waiters)
redis.call('DEL', K.waiters)
redis.call('HDEL', K.op, A.flag)
return ids
`,
);
