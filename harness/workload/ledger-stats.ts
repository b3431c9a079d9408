import { Ledger } from '../../src/ledger/ledger';

/** What the ledger says about how a set of operations got to their outcome. */
export interface LedgerStats {
  /** Gateway attempts beyond the first, over all operations. */
  retries: number;
  /** Operations that went UNKNOWN (timeout or reset after sending) and were resolved. */
  unknownResolved: number;
  /** Outcomes learnt by a status inquiry (UNKNOWN resolution or the poller) rather than the answer. */
  byInquiry: number;
  /** Outcomes learnt from a PSP webhook. */
  byWebhook: number;
}

/**
 * Reads each operation and its history from the ledger (`parallelism` at a time, default 50) and counts
 * retries, resolved UNKNOWNs and where outcomes came from.
 */
export async function ledgerStats(ledger: Ledger, ids: readonly string[], parallelism = 50): Promise<LedgerStats> {
  const stats: LedgerStats = { retries: 0, unknownResolved: 0, byInquiry: 0, byWebhook: 0 };
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallelism, ids.length) }, async () => {
      for (let i = next++; i < ids.length; i = next++) {
        const [op, history] = await Promise.all([ledger.get(ids[i]), ledger.interactions(ids[i])]);
        if (!op) continue;
        stats.retries += Math.max(0, op.attempts - 1);
        const wentUnknown = history.some((h) => h.kind === 'outcome_unknown');
        // The deciding outcome is the last one (an async authorization is PENDING first, then decided).
        const outcome = [...history].reverse().find((h) => h.event === 'outcome');
        if (wentUnknown && (op.state === 'SUCCEEDED' || op.state === 'FAILED')) stats.unknownResolved += 1;
        if (outcome?.source === 'inquiry' || outcome?.source === 'poller') stats.byInquiry += 1;
        if (outcome?.source === 'webhook') stats.byWebhook += 1;
      }
    }),
  );
  return stats;
}
