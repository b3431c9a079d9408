/**
 * One line of the doctor's report. `SKIP`: nothing harmless exists to check (reported, never failing);
 * only `FAIL` makes the exit code non-zero.
 */
export type CheckStatus = 'OK' | 'WARN' | 'FAIL' | 'SKIP';

export interface CheckResult {
  /** What was checked: `config`, `dns`, `tcp`, `tls-version`, `certificate`, `cert-expiry`, `hostname`, `credentials`. */
  check: string;
  /** Which dependency, e.g. `gateway stripe`, `bus`, `oauth`. */
  target: string;
  status: CheckStatus;
  /** One line for an operator; never a secret. */
  detail: string;
  /** What to change to make a FAIL pass, naming the configuration key; every FAIL carries one. */
  fix?: string;
}

/** 1 when any check failed, else 0. */
export function exitCodeOf(results: readonly CheckResult[]): number {
  return results.some((r) => r.status === 'FAIL') ? 1 : 0;
}
