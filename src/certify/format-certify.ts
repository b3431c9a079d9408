import { CertifyReport } from './certify';

/** The certify report as an aligned table (flow, result, request, PSP reference, detail) and a verdict line. Pure. */
export function formatCertifyReport(report: CertifyReport): string {
  const rows = report.steps.map((s) => [s.flow, s.status, s.request ?? '-', s.reference ?? '-', [s.outcome, s.detail].filter(Boolean).join(': ')]);
  const header = ['FLOW', 'RESULT', 'REQUEST', 'PSP REFERENCE', 'DETAIL'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  const count = (status: string): number => report.steps.filter((s) => s.status === status).length;
  return [
    `certify ${report.gateway} (${report.type})`,
    '',
    line(header),
    ...rows.map(line),
    '',
    `${report.passed ? 'PASSED' : 'FAILED'}: ${count('PASS')} passed, ${count('FAIL')} failed, ${count('SKIP')} skipped`,
    '',
  ].join('\n');
}
