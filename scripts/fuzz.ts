/**
 * `npm run fuzz`: malformed and invalid commands against the whole flow. On a fresh local
 * stack (one `web`, two `worker` processes), sends PB_FUZZ_COMMANDS seeded malformed commands — signed
 * JSON-RPC to the intake with every kind of defect, unsigned and garbage bodies, bodies near and above
 * http.body_limit_bytes, and raw AMQP publishes of arbitrary bytes — with Luhn-valid test card numbers
 * planted in free-text fields, while valid payments run alongside. Then checks every answer, the
 * dead-letter queue, the valid traffic, the processes, and scans logs, Redis and dead letters for the card
 * numbers. Alongside, PB_FUZZ_WEBHOOKS hostile webhooks, signed over their very bytes, go to the simulator
 * gateway's endpoint. Before the stack starts, PB_FUZZ_PSP_CASES hostile PSP inputs (answers, status inquiries,
 * verified webhooks of every gateway, reconciliation pages and report lines) are read in process by each
 * gateway's own code (harness/drills/psp-input-fuzz.ts), then PB_FUZZ_BUS_CASES hostile answers of the bus and its
 * OAuth server (token, register, notification answers) by the bus client's readers (harness/drills/bus-answer-fuzz.ts).
 * Prints summary tables; exit code 1 on any failure.
 *
 * Options (environment): PB_FUZZ_COMMANDS (default 10 000), PB_FUZZ_VALID_PAYMENTS (default 500),
 * PB_FUZZ_WEBHOOKS (default 1 000), PB_FUZZ_PSP_CASES (default 4 000), PB_FUZZ_BUS_CASES (default 3 000),
 * PB_FUZZ_SEED (default 42).
 */
import { randomBytes } from 'node:crypto';
import { DRILL_PARAMETERS } from '../harness/drills/drill-parameters';
import { runFuzz } from '../harness/drills/fuzz-run';
import { startLocalStack } from '../harness/twins/local-stack/local-stack';
import { formatTable } from '../harness/workload/text-table';
import { PspFuzzReport, runPspInputFuzz } from '../harness/drills/psp-input-fuzz';
import { BusFuzzReport, runBusAnswerFuzz } from '../harness/drills/bus-answer-fuzz';

const say = (line = '') => process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  const count = Number(process.env.PB_FUZZ_COMMANDS ?? 10_000);
  const validPayments = Number(process.env.PB_FUZZ_VALID_PAYMENTS ?? 500);
  const seed = Number(process.env.PB_FUZZ_SEED ?? 42);
  const webhooks = Number(process.env.PB_FUZZ_WEBHOOKS ?? 1000);
  const pspCases = Number(process.env.PB_FUZZ_PSP_CASES ?? 4000);
  const busCases = Number(process.env.PB_FUZZ_BUS_CASES ?? 3000);
  const runId = randomBytes(3).toString('hex');
  say(`payment-bridge fuzz: ${pspCases} hostile PSP inputs read in process, seed ${seed}`);
  const psp = await runPspInputFuzz({ seed, cases: pspCases, log: say });
  sayPspReport(psp);
  say(`payment-bridge fuzz: ${busCases} hostile bus and OAuth answers read in process, seed ${seed}`);
  const bus = runBusAnswerFuzz({ seed, cases: busCases, log: say });
  sayBusReport(bus);
  say(`payment-bridge fuzz: ${count} malformed commands (HTTP and AMQP) alongside ${validPayments} valid payments, seed ${seed}`);
  const stack = await startLocalStack({ namespace: `fuzz${runId}`, workers: 2, simulator: { seed }, parameters: { ...DRILL_PARAMETERS } });
  say(`  intake ${stack.intakeUrl}, body limit ${stack.config.http.bodyLimitBytes} bytes; logs in ${stack.dir}`);
  try {
    const report = await runFuzz(stack, { count, seed, runId, validPayments, webhooks, log: say });
    say('');
    say(
      formatTable(
        ['transport', 'malformed command', 'sent', 'as expected'],
        report.rows.map((r) => [r.transport, r.kind, String(r.sent), String(r.asExpected)]),
      ),
    );
    say('');
    say(
      formatTable(
        ['figure', 'value'],
        [
          ['malformed commands', `${report.http + report.amqp} (${report.http} HTTP, ${report.amqp} AMQP) in ${report.elapsedS.toFixed(1)} s`],
          ['hostile webhooks (simulator endpoint)', String(report.webhooks)],
          ['hostile PSP inputs read in process', `${psp.cases} in ${(psp.elapsedMs / 1000).toFixed(1)} s, slowest ${psp.slowest.ms.toFixed(0)} ms`],
          [
            'hostile bus answers read in process',
            `${bus.cases} in ${(bus.elapsedMs / 1000).toFixed(1)} s, slowest ${bus.slowest.ms.toFixed(0)} ms (${bus.slowest.what})`,
          ],
          ['dead letters expected', String(report.expectedDeadLetters)],
          ['valid commands alongside', `${report.valid.commands}, ${report.valid.successRate.toFixed(2)} % as planned`],
        ],
      ),
    );
    say('');
    say(
      formatTable(
        ['check', 'held', 'detail'],
        [
          [
            'hostile PSP inputs: taxonomy errors only, no card number out, bounded texts, lines and items kept apart',
            psp.violations.length === 0 ? 'yes' : 'NO',
            psp.violations.length === 0
              ? `${psp.cases} read or refused as they must be`
              : `${psp.violations.length}, e.g. #${psp.violations[0].n} ${psp.violations[0].surface} ${psp.violations[0].gateway} ${psp.violations[0].kind} at ${psp.violations[0].path || 'the body'}: ${psp.violations[0].problem}`,
          ],
          [
            'hostile bus answers: the readers’ errors only, no card number nor our token out, bounded texts, token and lifetime usable',
            bus.violations.length === 0 ? 'yes' : 'NO',
            bus.violations.length === 0
              ? `${bus.cases} read or refused as they must be`
              : `${bus.violations.length}, e.g. #${bus.violations[0].n} ${bus.violations[0].answer} ${bus.violations[0].kind} at ${bus.violations[0].path || 'the body'}, HTTP ${bus.violations[0].status}: ${bus.violations[0].problem}`,
          ],
          ...report.checks.map((c) => [c.name, c.ok ? 'yes' : 'NO', c.detail]),
        ],
      ),
    );
    for (const s of report.surprises) say(`  unexpected: ${s}`);
    const failed = report.checks.filter((c) => !c.ok).length + (psp.violations.length > 0 ? 1 : 0) + (bus.violations.length > 0 ? 1 : 0);
    say('');
    say(failed === 0 ? 'fuzz OK: every check held' : `fuzz FAILED: ${failed} check(s) broken (logs in ${stack.dir})`);
    return failed === 0 ? 0 : 1;
  } finally {
    await stack.stop({ purge: true });
  }
}

/** The in-process PSP input fuzz's table: cases per surface and gateway, read or refused. */
function sayPspReport(psp: PspFuzzReport): void {
  say('');
  say(
    formatTable(
      ['PSP input', 'gateway', 'cases', 'read', 'refused (taxonomy error)'],
      psp.rows.map((r) => [r.surface, r.gateway, String(r.cases), String(r.read), String(r.refused)]),
    ),
  );
  for (const v of psp.violations.slice(0, 10)) say(`  PSP input #${v.n} ${v.surface} ${v.gateway} ${v.kind} at ${v.path || 'the body'}: ${v.problem}`);
  say('');
}

/** The in-process bus answer fuzz's table: cases per answer, read or refused. */
function sayBusReport(bus: BusFuzzReport): void {
  say('');
  say(
    formatTable(
      ['bus answer', 'cases', 'read', 'refused (the reader’s error)'],
      bus.rows.map((r) => [r.answer, String(r.cases), String(r.read), String(r.refused)]),
    ),
  );
  for (const v of bus.violations.slice(0, 10)) say(`  bus answer #${v.n} ${v.answer} ${v.kind} at ${v.path || 'the body'}, HTTP ${v.status}: ${v.problem}`);
  say('');
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`fuzz failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
