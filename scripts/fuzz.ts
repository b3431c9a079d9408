/**
 * `npm run fuzz`: malformed and invalid commands against the whole flow. On a fresh local
 * stack (one `web`, two `worker` processes), sends PB_FUZZ_COMMANDS seeded malformed commands — signed
 * JSON-RPC to the intake with every kind of defect, unsigned and garbage bodies, bodies near and above
 * http.body_limit_bytes, and raw AMQP publishes of arbitrary bytes — with Luhn-valid test card numbers
 * planted in free-text fields, while valid payments run alongside. Then checks every answer, the
 * dead-letter queue, the valid traffic, the processes, and scans logs, Redis and dead letters for the card
 * numbers. Prints a summary table; exit code 1 on any failure.
 *
 * Options (environment): PB_FUZZ_COMMANDS (default 10 000), PB_FUZZ_VALID_PAYMENTS (default 500),
 * PB_FUZZ_SEED (default 42).
 */
import { randomBytes } from 'node:crypto';
import { DRILL_PARAMETERS } from '../harness/drills/drill-parameters';
import { runFuzz } from '../harness/drills/fuzz-run';
import { startLocalStack } from '../harness/twins/local-stack/local-stack';
import { formatTable } from '../harness/workload/text-table';

const say = (line = '') => process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  const count = Number(process.env.PB_FUZZ_COMMANDS ?? 10_000);
  const validPayments = Number(process.env.PB_FUZZ_VALID_PAYMENTS ?? 500);
  const seed = Number(process.env.PB_FUZZ_SEED ?? 42);
  const runId = randomBytes(3).toString('hex');
  say(`payment-bridge fuzz: ${count} malformed commands (HTTP and AMQP) alongside ${validPayments} valid payments, seed ${seed}`);
  const stack = await startLocalStack({ namespace: `fuzz${runId}`, workers: 2, simulator: { seed }, parameters: { ...DRILL_PARAMETERS } });
  say(`  intake ${stack.intakeUrl}, body limit ${stack.config.http.bodyLimitBytes} bytes; logs in ${stack.dir}`);
  try {
    const report = await runFuzz(stack, { count, seed, runId, validPayments, log: say });
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
          ['dead letters expected', String(report.expectedDeadLetters)],
          ['valid commands alongside', `${report.valid.commands}, ${report.valid.successRate.toFixed(2)} % as planned`],
        ],
      ),
    );
    say('');
    say(
      formatTable(
        ['check', 'held', 'detail'],
        report.checks.map((c) => [c.name, c.ok ? 'yes' : 'NO', c.detail]),
      ),
    );
    for (const s of report.surprises) say(`  unexpected: ${s}`);
    const failed = report.checks.filter((c) => !c.ok).length;
    say('');
    say(failed === 0 ? 'fuzz OK: every check held' : `fuzz FAILED: ${failed} check(s) broken (logs in ${stack.dir})`);
    return failed === 0 ? 0 : 1;
  } finally {
    await stack.stop({ purge: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`fuzz failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
