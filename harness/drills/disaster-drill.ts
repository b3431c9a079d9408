import { ShardKeys, shardKeysOf } from '../../src/redis/key-layout';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { RedisClient } from '../../src/redis/redis-connection';
import { Config } from '../../src/config/config';
import { COMMAND_TYPES, CommandType } from '../../src/contracts/payment-command';
import { exportToFile } from '../../src/data-lifecycle/export-file';
import { importOperations } from '../../src/data-lifecycle/import';
import { Ledger } from '../../src/ledger/ledger';
import { silentLogger } from '../../src/logging/logger';
import { reconcile } from '../../src/reconciliation-run/reconcile';
import { LineVerdict } from '../../src/reconciliation/reconciliation-class';
import { movesMoney } from '../../src/reconciliation/classifier';
import { ActionOutcome } from '../../src/reconciliation-run/reconciliation-runner';
import { sendSignedCommand } from '../twins/bus-twin/signed-command-sender';
import { startLocalStack } from '../twins/local-stack/local-stack';
import { FlowCheck } from '../workload/flow-checks';
import { seededRandom } from '../workload/payment-scenarios';
import { ObservedNotification, StepRecord, runWorkload } from '../workload/workload-driver';
import { DRILL_PARAMETERS } from './drill-parameters';
import { successRate } from './drill-invariants';
import { DrillResult, scenariosForCommands } from './drill-runner';
import { openResilientPublisher } from './resilient-publisher';
import { createRedis } from '../../src/redis/redis-connection';
import { unlinkMatching } from '../../src/redis/key-scan';

/** Deletes every key of the namespace (what a FLUSHALL does to it), by SCAN pages: returns how many. */
async function flushNamespace(redis: RedisClient, prefix: string): Promise<number> {
  return unlinkMatching(redis, `${prefix}*`);
}

/** The terminal notification the bus received (first one) for each operation that moves money, by operation id. */
function toldByOperation(notifications: readonly ObservedNotification[]): Map<string, string> {
  const told = new Map<string, string>();
  for (const n of notifications) {
    const p = n.params.payment as Record<string, unknown> | undefined;
    const eventId = typeof p?.event_id === 'string' ? p.event_id : '';
    if (!eventId.endsWith('.SUCCEEDED') && !eventId.endsWith('.FAILED')) continue;
    // Only what moves money has a line in the PSP's records (a tokenize or a validate has none).
    const command = p?.gateway_command;
    if (!(COMMAND_TYPES as readonly unknown[]).includes(command) || !movesMoney(command as CommandType)) continue;
    const id = String(p?.operation_reference);
    if (!told.has(id)) told.set(id, String(p?.status));
  }
  return told;
}

/**
 * Drill 8, the disaster: Redis loses the ledger under load, and the bridge is brought back from its last
 * export plus the PSP's own records (docs/OPERATIONS.md, "Restore").
 *  1. A first part of the workload (40 % of the commands) runs to the end; the ledger is exported (the
 *     backup an operator schedules: `payment-bridge export`), timed.
 *  2. The rest of the workload runs; half way through it every key of the drill's namespace is deleted
 *     (FLUSHALL of the namespace: ledger, outbox, queues), while commands are in flight; the workload goes on
 *     against the empty Redis to its end, then the bridge's processes are stopped (the operator's first move).
 *  3. Restore: the export is imported into a fresh namespace (`import` refuses a non-empty one), then the
 *     simulator's records since the drill started are reconciled against it (`reconcile`): operations
 *     live at export time are settled from the PSP's truth, the ones created after the export are found
 *     `missing_in_ledger` and reported for a person, each with what the OMS was already told.
 * Checks: every operation the PSP moved money for is accounted for (restored from the export, settled or
 * adjusted by reconciliation, or in the report with the OMS's view of it), every command the OMS was told
 * succeeded is in the restored ledger or the report, and the restored ledger answers for what was exported.
 * Figures: RPO (time and operations between the export and the loss), RTO (import + reconcile).
 */
export async function runDisasterDrill(options: { commands: number; seed: number; log?: (line: string) => void }): Promise<DrillResult> {
  const log = options.log ?? (() => undefined);
  const runId = randomBytes(3).toString('hex');
  const namespace = `chaos${runId}`;
  const stack = await startLocalStack({
    namespace,
    workers: 2,
    simulator: { seed: options.seed, faults: { latencyMs: { min: 2, max: 20 } } },
    parameters: { ...DRILL_PARAMETERS, ...(process.env.PB_DRILL_LOG_LEVEL ? { 'log.level': process.env.PB_DRILL_LOG_LEVEL } : {}) },
  });
  const started = Date.now();
  const notes: string[] = [];
  const note = (line: string) => {
    const stamped = `+${((Date.now() - started) / 1000).toFixed(1)} s ${line}`;
    notes.push(stamped);
    log(`  ${stamped}`);
  };
  const redis = createRedis(stack.config.redis, 'commands');
  const prefix = stack.config.redis.keyPrefix;
  const publisher = openResilientPublisher(stack.config);
  let keep = false;
  try {
    const scenarios = scenariosForCommands(options.commands, options.seed, runId);
    const cut = Math.max(1, Math.floor(scenarios.length * 0.4));
    const targets = {
      config: stack.config,
      sendBus: (method: string, params: Record<string, unknown>, id: string) =>
        sendSignedCommand({ url: stack.intakeUrl, secret: stack.busSecret, method, params, id }),
      publisher,
      notifications: () => stack.busTwin.notifications,
    };
    const base = { concurrency: 100, resendRate: 0.02, random: seededRandom(options.seed + 1) };
    const before = await runWorkload(scenarios.slice(0, cut), targets, { ...base, stepTimeoutMs: 90_000 });
    note(`part 1: ${before.length} commands, success ${successRate(before).toFixed(2)} %`);

    // 1. The backup.
    const backup = join(stack.dir, 'backup.ndjson');
    const exportedAt = Date.now();
    const exported = await exportToFile(redis, prefix, backup, { from: 0, to: exportedAt });
    note(`export: ${exported.operations} operations, ${exported.bytes} bytes in ${exported.durationMs} ms (${backup})`);

    // 2. The loss, half way through the rest of the workload.
    const rest = scenarios.slice(cut);
    let reported = 0;
    let lossAt = 0;
    let opsAtLoss = 0;
    let loss: Promise<void> | null = null;
    const restCommands = rest.reduce((n, s) => n + s.steps.length, 0);
    const after = await runWorkload(rest, targets, {
      ...base,
      // Commands in flight at the loss never get an answer from the bridge: the drill does not wait long for them.
      stepTimeoutMs: 20_000,
      onStep: () => {
        reported += 1;
        if (loss === null && reported >= restCommands / 2) {
          loss = (async () => {
            opsAtLoss = await sumOverShards(prefix, (keys) => redis.zcard(keys.created));
            lossAt = Date.now();
            const deleted = await flushNamespace(redis, prefix);
            note(`DISASTER: the namespace's ${deleted} keys deleted under load (the ledger held ${opsAtLoss} operations)`);
          })();
        }
      },
    });
    await loss;
    note(`part 2: ${after.length} commands, success ${successRate(after).toFixed(2)} % (in flight at the loss: no answer)`);
    const stopAt = Date.now();
    await Promise.all([stack.web, ...stack.workers].map((p) => p.kill('SIGTERM')));
    note(`bridge stopped ${Date.now() - stopAt} ms`);

    // 3. Restore into a fresh namespace, then reconcile against the PSP.
    const restoredPrefix = `${prefix}restored:`;
    const restoreStart = Date.now();
    const imported = await importOperations(redis, restoredPrefix, createReadStream(backup));
    const importMs = Date.now() - restoreStart;
    note(`import: ${imported.operations} operations into "${restoredPrefix}" in ${importMs} ms (complete: ${String(imported.complete)})`);
    const restoredConfig = { ...stack.config, redis: { ...stack.config.redis, keyPrefix: restoredPrefix } } as Config;
    const verdicts: { verdict: LineVerdict; outcome: ActionOutcome }[] = [];
    const reconcileStart = Date.now();
    const result = await reconcile(restoredConfig, {
      gateway: 'simulator',
      window: { from: started - 60_000, to: Date.now() + 1000 },
      logger: silentLogger(),
      redis,
      sink: { verdict: (verdict, outcome) => void verdicts.push({ verdict, outcome }) },
    });
    const reconcileMs = Date.now() - reconcileStart;
    const s = result.summary;
    note(`reconcile: ${s.lines} PSP lines in ${reconcileMs} ms, ${s.settled} settled, ${s.adjusted} adjusted, classes ${JSON.stringify(s.classes)}`);

    // Accounting: every operation the PSP moved money for.
    const told = toldByOperation(stack.busTwin.notifications);
    const restored = new Ledger(redis, restoredPrefix);
    const moved = new Map<string, string>();
    const categories: Record<string, number> = {};
    for (const { verdict, outcome } of verdicts) {
      const record = verdict.record;
      if (!record || record.status !== 'succeeded') continue;
      const id = record.operationId ?? verdict.ledger?.operationId ?? record.lineId;
      let category: string;
      if (verdict.class === 'matched') category = 'restored from the export, PSP agrees';
      else if (outcome === 'settled') category = 'restored live, settled by reconciliation (OMS event queued)';
      else if (outcome === 'adjusted' || outcome === 'already_adjusted') category = 'restored, adjusted by reconciliation (OMS event queued)';
      else if (verdict.class === 'missing_in_ledger')
        category = told.has(id) ? `after the export, OMS already told (${told.get(id)}): in the report` : 'after the export, OMS NOT told: in the report';
      else category = `${verdict.class}: in the report`;
      if (!moved.has(id)) categories[category] = (categories[category] ?? 0) + 1;
      moved.set(id, category);
    }
    const toldSuccess = [...told.entries()].filter(([, st]) => st === 'SUCCESS').map(([id]) => id);
    const unaccounted: string[] = [];
    for (const id of toldSuccess) if (!moved.has(id) && !(await restored.get(id))) unaccounted.push(id);
    const restoredCount = await sumOverShards(restoredPrefix, (keys) => redis.zcard(keys.created));
    const missingRestored = restoredCount === exported.operations ? 0 : exported.operations - restoredCount;
    const queuedEvents = await sumOverShards(restoredPrefix, (keys) => redis.zcard(keys.unsentEvents));

    const checks: FlowCheck[] = [
      {
        name: 'the export restores completely',
        ok: imported.complete && imported.operations === exported.operations && missingRestored === 0,
        detail: `${imported.operations} of ${exported.operations} operations, every index rebuilt`,
      },
      { name: 'reconciliation ran to the end', ok: s.result === 'done', detail: `${s.result}, ${s.lines} PSP lines` },
      {
        name: 'every operation that moved money accounted for',
        ok: unaccounted.length === 0,
        detail:
          unaccounted.length === 0
            ? `${moved.size} PSP money movements: ${Object.entries(categories)
                .map(([k, v]) => `${v} ${k}`)
                .join('; ')}`
            : `${unaccounted.length} told SUCCESS to the OMS and neither restored nor reported, e.g. ${unaccounted[0]}`,
      },
    ];
    const ok = checks.every((c) => c.ok);
    keep = !ok;
    const rpoOps = Math.max(0, opsAtLoss - exported.operations);
    const figures = [
      `RPO: ${((lossAt - exportedAt) / 1000).toFixed(1)} s between the last export and the loss; ${rpoOps} operations created meanwhile were not in the export (recovered from the PSP's records by reconciliation, as reported lines)`,
      `RTO: ${((importMs + reconcileMs) / 1000).toFixed(1)} s from the start of the restore to a reconciled ledger (import ${importMs} ms for ${imported.operations} operations, reconcile ${reconcileMs} ms for ${s.lines} PSP lines); export ${exported.durationMs} ms`,
      `OMS: ${told.size} operations had a terminal event at the bus before the restore (${toldSuccess.length} SUCCESS); reconciliation queued ${queuedEvents} event(s) for it (sent when the bridge runs on the restored namespace)`,
    ];
    for (const f of figures) log(`  ${f}`);
    const records: StepRecord[] = [...before, ...after];
    return {
      name: 'disaster: Redis data lost under load, restore from export + reconcile',
      commands: records.length,
      successRate: successRate(records),
      recoveries: [],
      elapsedS: (Date.now() - started) / 1000,
      checks,
      notes,
      figures,
      ok,
      logDir: stack.dir,
    };
  } finally {
    await publisher.close();
    redis.disconnect();
    await stack.stop({ purge: !keep }).catch((err: Error) => log(`  stopping the stack failed: ${err.message}`));
  }
}

/** A count summed over the ledger's shards (src/redis/key-layout.ts). */
async function sumOverShards(prefix: string, count: (keys: ShardKeys) => Promise<number>): Promise<number> {
  return (await Promise.all(shardKeysOf(prefix).map(count))).reduce((a, b) => a + b, 0);
}
