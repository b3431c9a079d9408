import calculateSlot from 'cluster-key-slot';
import { LuaScript, watchScriptKeys } from '../../src/redis/lua-script';

/** One script run whose keys were not all in one Redis Cluster slot. */
export interface SlotViolation {
  /** The script's first line after its prelude (enough to find it). */
  script: string;
  keys: string[];
  slots: number[];
}

/** The Redis Cluster slot of `key` (hash tags honoured), as ioredis' Cluster client routes it. */
export function slotOf(key: string): number {
  return calculateSlot(key);
}

/** The distinct slots of `keys`. */
export function slotsOf(keys: readonly string[]): number[] {
  return [...new Set(keys.map(slotOf))];
}

/**
 * Checks the keys of every Lua script run through `LuaScript` from now on: all in one slot, as Redis Cluster
 * requires of a script. A run that breaks it throws (the script is not sent) and is recorded in the list
 * returned, which the suite's setup checks after each test file (test/support/single-slot-setup.ts).
 */
export function installSingleSlotCheck(): SlotViolation[] {
  const violations: SlotViolation[] = [];
  watchScriptKeys((script: LuaScript<string, string>, keys: readonly string[]) => {
    const slots = slotsOf(keys);
    if (slots.length <= 1) return;
    const body = script.lua
      .split('\n')
      .find(
        (line) =>
          line.trim() !== '' &&
          !line.startsWith('local K =') &&
          !line.startsWith('local A =') &&
          !line.startsWith('local function XK') &&
          !line.startsWith('local A_REST'),
      );
    const violation = { script: body ?? '', keys: [...keys], slots };
    violations.push(violation);
    throw new Error(`CROSSSLOT: a Lua script's keys span ${slots.length} Redis Cluster slots: ${keys.join(', ')}`);
  });
  return violations;
}
