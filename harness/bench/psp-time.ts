import { RedisClient } from '../../src/redis/redis-connection';
import { Ledger } from '../../src/ledger/ledger';

/**
 * The PSP's share of each command's end-to-end time, as the worker saw it: the `elapsed_ms` of the gateway
 * call whose answer decided the operation (the `outcome` entry from `response` in its ledger history,
 * as precise as the worker measured it). Subtracting it command by command gives the bridge's own added latency
 * exactly, where subtracting one PSP median from every command would blur both tails.
 * Reads the histories in pipelines of `chunk` (default 1 000). References without such an entry are absent.
 */
export async function pspTimesMs(redis: RedisClient, keyPrefix: string, references: readonly string[], chunk = 1000): Promise<Map<string, number>> {
  const times = new Map<string, number>();
  // The ledger finds each operation's shard (src/redis/key-layout.ts); the reads are sent together.
  const ledger = new Ledger(redis, keyPrefix);
  for (let start = 0; start < references.length; start += chunk) {
    const part = references.slice(start, start + chunk);
    const results = await Promise.all(part.map((reference) => ledger.interactions(reference).catch(() => null)));
    part.forEach((reference, i) => {
      for (const entry of results[i] ?? []) {
        if (entry.event === 'outcome' && entry.source === 'response' && typeof entry.elapsed_ms === 'number') times.set(reference, entry.elapsed_ms);
      }
    });
  }
  return times;
}

/** End-to-end latency minus the command's own PSP time, for the commands whose PSP time is known. */
export function addedLatenciesMs(references: readonly string[], latenciesMs: readonly number[], pspMs: ReadonlyMap<string, number>): number[] {
  const added: number[] = [];
  references.forEach((reference, i) => {
    const psp = pspMs.get(reference);
    if (psp !== undefined) added.push(latenciesMs[i] - psp);
  });
  return added;
}
