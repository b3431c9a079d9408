import { CheckResult } from './check-result';

const HEADER: CheckResult = { check: 'CHECK', target: 'TARGET', status: 'OK', detail: 'DETAIL' };

/** The report as an aligned text table (check, target, result, detail) with a summary line. Pure. */
export function formatReport(results: readonly CheckResult[]): string {
  const rows = [HEADER, ...results];
  const width = (pick: (r: CheckResult) => string): number => Math.max(...rows.map((r) => pick(r).length));
  const wCheck = width((r) => r.check);
  const wTarget = width((r) => r.target);
  const wStatus = Math.max(
    'RESULT'.length,
    width((r) => r.status),
  );
  const line = (check: string, tgt: string, status: string, detail: string): string =>
    `${check.padEnd(wCheck)}  ${tgt.padEnd(wTarget)}  ${status.padEnd(wStatus)}  ${detail}`.trimEnd();
  const out = [line('CHECK', 'TARGET', 'RESULT', 'DETAIL')];
  for (const r of results) {
    out.push(line(r.check, r.target, r.status, r.detail));
    if (r.fix) out.push(line('', '', '', `fix: ${r.fix}`));
  }
  const count = (s: string): number => results.filter((r) => r.status === s).length;
  out.push('');
  out.push(`${count('OK')} ok, ${count('WARN')} warning(s), ${count('FAIL')} failure(s), ${count('SKIP')} not checked`);
  return `${out.join('\n')}\n`;
}
