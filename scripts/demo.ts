/**
 * `npm run demo`: the whole payment flow on local twins, with faults and outages, and a readable summary.
 *
 * The bus twin and the PSP simulator run in this process; the bridge runs as its real Procfile roles (one
 * `web`, two `worker` child processes) on the local RabbitMQ and Redis. About 2 000 commands arrive from
 * four channels (the bus over signed HTTP; web checkout, POS and a marketplace over AMQP) while the
 * simulator injects latency, 5xx, 429, resets, timeouts and commit-then-timeout faults and sends
 * duplicate and out-of-order webhooks. Midway a worker is killed with SIGKILL, the PSP goes down for a few
 * seconds and so does the bus delegate. The summary checks the invariants and the exit code says whether
 * they held (0) or not (1).
 *
 * Options (environment): PB_DEMO_PAYMENTS (default 900 payments ≈ 2 100 commands), PB_DEMO_SEED (42).
 */
import { randomBytes } from 'node:crypto';
import amqplib from 'amqplib';
import { SingleBar, Presets } from 'cli-progress';
import { signBody } from '../src/bus/x-signature';
import { sendSignedCommand } from '../harness/twins/bus-twin/signed-command-sender';
import { LocalStack, freePort, startLocalStack } from '../harness/twins/local-stack/local-stack';
import { kpisFromMetrics } from '../harness/workload/metrics-kpis';
import { scanFiles, scanRedis } from '../harness/workload/card-data-scan';
import { ChannelPublisher } from '../harness/workload/channel-publisher';
import { FlowCheck, checkFlow, latencySummary } from '../harness/workload/flow-checks';
import { buildScenarios, commandCount, seededRandom } from '../harness/workload/payment-scenarios';
import { describeRelease, runningProcesses, runningReleases } from '../src/fleet/running-processes';
import { Ledger } from '../src/ledger/ledger';
import { LedgerStats, ledgerStats } from '../harness/workload/ledger-stats';
import { StepRecord, runWorkload } from '../harness/workload/workload-driver';
import { formatTable } from '../harness/workload/text-table';
import { preciseNow } from '../harness/workload/precise-clock';
import { DEMO_SCENES } from './demo-scenes';
import { SceneContext } from './demo-scenes/scene';
import { mergeSceneParameters } from './demo-scenes/scene-helpers';
import { createRedis } from '../src/redis/redis-connection';

const TEST_PANS = ['4111111111111111', '5555555555554444', '378282246310005'];
const say = (line = '') => process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  const payments = Number(process.env.PB_DEMO_PAYMENTS ?? 900);
  const seed = Number(process.env.PB_DEMO_SEED ?? 42);
  const runId = randomBytes(3).toString('hex');
  const namespace = `demo${runId}`;
  say('payment-bridge demo: OMS ⇄ service bus ⇄ payment-bridge ⇄ PSP, all on local twins');
  say('starting the bus twin, the PSP simulator, 1 web and 2 worker processes…');
  const consolePort = await freePort();
  const consolePassword = randomBytes(12).toString('base64url');
  const stack = await startLocalStack({
    namespace,
    workers: 2,
    monitoring: true,
    simulator: {
      seed,
      faults: {
        latencyMs: { min: 2, max: 25 },
        error5xxRate: 0.05,
        rateLimitRate: 0.01,
        resetRate: 0.005,
        timeoutRate: 0.002,
        commitThenTimeoutRate: 0.02,
        duplicateWebhookRate: 0.2,
        outOfOrderWebhooks: true,
      },
    },
    parameters: {
      'log.level': 'info',
      'delivery.backoff_base_ms': 200,
      'delivery.backoff_max_ms': 3000,
      'delivery.breaker_open_ms': 500,
      'events.backoff_base_ms': 200,
      'events.backoff_max_ms': 2000,
      'poller.schedule_ms': [1000, 2000, 4000, 8000, 30000],
      'poller.in_process_interval_ms': 1000,
      ...mergeSceneParameters(DEMO_SCENES.map((scene) => scene.parameters)),
      'console.enabled': true,
      'console.port': consolePort,
      'console.password': consolePassword,
    },
  });
  say(`  bus twin ${stack.busTwin.url} · simulator ${stack.simulator.url} · intake ${stack.intakeUrl}`);
  say(`  registered as ${stack.config.serviceBus.endpointName}; logs in ${stack.dir}`);
  try {
    return await run(stack, payments, seed, runId);
  } finally {
    // The operator console of the demo's web process: live until the stack stops (PB_DEMO_HOLD_S keeps it up longer).
    const holdS = Number(process.env.PB_DEMO_HOLD_S ?? 0);
    say(
      `operator console: http://127.0.0.1:${consolePort}${stack.config.console.path} (user ${stack.config.console.username}, password ${consolePassword})${holdS > 0 ? `, up for ${holdS} s` : '; set PB_DEMO_HOLD_S=600 to keep it up after the run'}`,
    );
    if (holdS > 0) await sleep(holdS * 1000);
    await stack.stop({ purge: true });
  }
}

async function run(stack: LocalStack, payments: number, seed: number, runId: string): Promise<number> {
  const publisher = await ChannelPublisher.open(stack.config);
  const sendBus = (method: string, params: Record<string, unknown>, id: string) =>
    sendSignedCommand({ url: stack.intakeUrl, secret: stack.busSecret, method, params, id });

  // Bad input first: each must be refused with a reason, none may block the rest.
  const bad = await sendBadInput(stack, publisher, sendBus);
  say(`sent ${bad.total} bad commands (bad signature, malformed, a card number in a free-text field)`);

  const scenarios = buildScenarios(payments, { seed, runId });
  const total = commandCount(scenarios);
  say(`playing ${payments} payments, ${total} commands, from 4 channels…`);
  const bar = new SingleBar(
    { format: '  {bar} {value}/{total} commands reported · {rate}/s · {note}', hideCursor: true, clearOnComplete: false },
    Presets.shades_classic,
  );
  bar.start(total, 0, { rate: 0, note: '' });
  const started = Date.now();
  const disruptions: string[] = [];
  let done = 0;
  let phase = 0;
  let pspUpAt = 0;
  let recoveryMs: number | null = null;
  const onStep = (record: StepRecord) => {
    done += 1;
    if (pspUpAt > 0 && recoveryMs === null && record.status === 'SUCCESS' && (record.reportedAt ?? 0) > pspUpAt)
      recoveryMs = (record.reportedAt ?? 0) - pspUpAt;
    bar.update(done, { rate: Math.round(done / ((Date.now() - started) / 1000)), note: disruptions[disruptions.length - 1] ?? '' });
    if (phase === 0 && done >= total * 0.25) {
      phase = 1;
      void (async () => {
        const victim = stack.workers[0];
        await victim.kill('SIGKILL');
        disruptions.push('worker-1 killed (SIGKILL) mid-batch');
        await stack.startWorker();
        disruptions.push('worker-3 started');
      })();
    } else if (phase === 1 && done >= total * 0.5) {
      phase = 2;
      void (async () => {
        stack.simulator.setDown('503');
        disruptions.push('PSP down (503) for 3 s');
        await sleep(3000);
        stack.simulator.setDown(false);
        pspUpAt = preciseNow();
        disruptions.push('PSP back');
      })();
    } else if (phase === 2 && done >= total * 0.7) {
      phase = 3;
      void (async () => {
        stack.busTwin.setDelegateDown(true);
        disruptions.push('bus delegate down (503) for 2 s');
        await sleep(2000);
        stack.busTwin.setDelegateDown(false);
        disruptions.push('bus delegate back');
      })();
    }
  };
  const records = await runWorkload(
    scenarios,
    { config: stack.config, sendBus, publisher, notifications: () => stack.busTwin.notifications },
    { concurrency: 150, stepTimeoutMs: 90_000, onStep, resendRate: 0.05, random: seededRandom(seed + 1) },
  );
  const elapsedS = (Date.now() - started) / 1000;
  bar.stop();
  await publisher.close();
  // Late duplicates and the refund notices settle after the last outcome; give them a moment.
  await sleep(1500);

  const counters = await stack.simulator.counters();
  const checks: FlowCheck[] = checkFlow({ records, notifications: stack.busTwin.notifications, maxEffectsPerKey: counters.maxEffectsPerKey });
  const deadLetters = await countDeadLetters(stack);
  checks.push({
    name: 'bad commands refused, with reasons',
    ok: bad.refusedAtIntake + deadLetters.count >= bad.total && deadLetters.withReason === deadLetters.count,
    detail: `${bad.refusedAtIntake} answered with an error, ${deadLetters.count} dead-lettered (${deadLetters.withReason} with x-pb-reason)`,
  });
  const redis = createRedis(stack.config.redis, 'commands');
  const fromLedger = await ledgerStats(
    new Ledger(redis, stack.config.redis.keyPrefix),
    records.filter((r) => r.acceptedAt !== undefined).map((r) => r.operationId),
  );
  const inRedis = await scanRedis(redis, stack.config.redis.keyPrefix, TEST_PANS);
  const fleet = runningReleases(await runningProcesses(redis, stack.config.redis.keyPrefix));
  redis.disconnect();
  checks.push({
    name: 'every running process on one release',
    ok: fleet.length === 1,
    detail: fleet.map(describeRelease).join('; ') || 'no heartbeat found',
  });
  const inLogs = scanFiles(stack.dir, TEST_PANS);
  const leaks = [...inRedis.findings, ...inLogs.findings, ...deadLetters.findings];
  checks.push({
    name: 'no card number in logs, Redis or dead letters',
    ok: leaks.length === 0,
    detail:
      leaks.length === 0
        ? `${inLogs.files} log files (${Math.round(inLogs.bytes / 1024)} KiB), ${inRedis.keys} Redis keys, ${deadLetters.count} dead letters scanned`
        : `${leaks[0].where} holds ${leaks[0].needle}`,
  });

  const scenes = await playScenes({ stack, publisher: await ChannelPublisher.open(stack.config), sendBus, runId });
  checks.push(...scenes.checks);

  printSummary({
    records,
    elapsedS,
    counters,
    recoveryMs,
    disruptions,
    notifications: stack.busTwin.notifications.length,
    fromLedger,
    deadLetters: deadLetters.count,
  });
  if (scenes.rows.length > 0) {
    say('');
    say(formatTable(['money truth', 'what happened'], scenes.rows));
  }
  say('');
  say(
    formatTable(
      ['invariant', 'held', 'detail'],
      checks.map((c) => [c.name, c.ok ? 'yes' : 'NO', c.detail]),
    ),
  );
  await printMetricsKpis(stack);
  const failed = checks.filter((c) => !c.ok);
  say('');
  say(failed.length === 0 ? 'demo OK: every invariant held' : `demo FAILED: ${failed.length} invariant(s) broken (logs in ${stack.dir})`);
  return failed.length === 0 ? 0 : 1;
}

/** Plays every demo scene in turn; a scene that throws is a broken invariant, not a crashed demo. */
async function playScenes(ctx: SceneContext): Promise<{ rows: string[][]; checks: FlowCheck[] }> {
  const rows: string[][] = [];
  const checks: FlowCheck[] = [];
  try {
    for (const scene of DEMO_SCENES) {
      say(`scene: ${scene.title}…`);
      try {
        const result = await scene.run(ctx);
        rows.push([scene.title, result.summary]);
        checks.push(...result.checks);
      } catch (err) {
        rows.push([scene.title, `failed: ${(err as Error).message}`]);
        checks.push({ name: `scene "${scene.title}" ran`, ok: false, detail: (err as Error).message });
      }
    }
  } finally {
    await ctx.publisher.close();
  }
  return { rows, checks };
}

function printSummary(s: {
  records: StepRecord[];
  elapsedS: number;
  counters: { requests: number; replays: number; totalEffects: number; maxEffectsPerKey: number; webhooksSent: number };
  recoveryMs: number | null;
  disruptions: string[];
  notifications: number;
  fromLedger: LedgerStats;
  deadLetters: number;
}): void {
  const byChannel = new Map<string, number>();
  for (const r of s.records) byChannel.set(r.channel, (byChannel.get(r.channel) ?? 0) + 1);
  const byCommand = new Map<string, { ok: number; fail: number }>();
  for (const r of s.records) {
    const c = byCommand.get(r.command) ?? { ok: 0, fail: 0 };
    if (r.status === 'SUCCESS') c.ok += 1;
    else if (r.status === 'FAIL') c.fail += 1;
    byCommand.set(r.command, c);
  }
  const reported = s.records.filter((r) => r.reportedAt !== undefined && r.acceptedAt !== undefined);
  const latency = latencySummary(reported.map((r) => (r.reportedAt ?? 0) - (r.acceptedAt ?? 0)));
  const succeeded = s.records.filter((r) => r.status === 'SUCCESS').length;
  say('');
  say(
    formatTable(
      ['channel', 'commands'],
      [...byChannel.entries()].map(([k, v]) => [k, String(v)]),
    ),
  );
  say('');
  say(
    formatTable(
      ['command', 'SUCCESS', 'FAIL'],
      [...byCommand.entries()].map(([k, v]) => [k, String(v.ok), String(v.fail)]),
    ),
  );
  say('');
  say(
    formatTable(
      ['KPI', 'value'],
      [
        ['commands reported', `${reported.length} in ${s.elapsedS.toFixed(1)} s (${Math.round(reported.length / s.elapsedS)}/s)`],
        [
          'success rate (planned declines excluded)',
          `${((100 * succeeded) / Math.max(1, s.records.filter((r) => r.expect === 'SUCCESS').length)).toFixed(2)} %`,
        ],
        [
          'latency accepted → reported (avg / p50 / p95 / p99)',
          `${[latency.avg, latency.p50, latency.p95, latency.p99].map((v) => v.toFixed(1)).join(' / ')} ms`,
        ],
        ['gateway retries (5xx, 429, resets, outages)', String(s.fromLedger.retries)],
        ['UNKNOWN outcomes resolved by status inquiry', `${s.fromLedger.unknownResolved} (${s.fromLedger.byInquiry} outcomes learnt by inquiry)`],
        ['outcomes learnt from webhooks', String(s.fromLedger.byWebhook)],
        [
          'duplicate commands (re-sent by the bus)',
          `${s.records.filter((r) => r.resent).length}, each dropped by operation id (invariants below: one effect, one outcome)`,
        ],
        ['dead letters (bad input only)', String(s.deadLetters)],
        ['recovery after the PSP outage', s.recoveryMs === null ? 'n/a' : `${s.recoveryMs.toFixed(1)} ms to the first success`],
        ['intake retries (503 / unreachable)', String(s.records.reduce((n, r) => n + r.intakeRetries, 0))],
        ['notifications received by the bus', String(s.notifications)],
        ['PSP requests / idempotent replays', `${s.counters.requests} / ${s.counters.replays}`],
        ['PSP money effects / max per idempotency key', `${s.counters.totalEffects} / ${s.counters.maxEffectsPerKey}`],
        ['PSP webhooks sent (with duplicates)', String(s.counters.webhooksSent)],
        ['disruptions', s.disruptions.filter((d) => !d.endsWith('back') && !d.endsWith('started')).join('; ')],
      ],
    ),
  );
}

/** Bad input of every kind; returns how many were refused at intake (the rest must be dead-lettered). */
async function sendBadInput(
  stack: LocalStack,
  publisher: ChannelPublisher,
  sendBus: (method: string, params: Record<string, unknown>, id: string) => Promise<{ status: number; body: unknown }>,
): Promise<{ total: number; refusedAtIntake: number }> {
  const capture = stack.config.serviceBus.methods.commands.capture;
  const base = { gateway: 'simulator', gateway_account: 'acme-eu', gateway_key: 'auth_x', amount: 1000, currency: 'EUR', order_id: 'ORD-BAD' };
  let refused = 0;
  let total = 0;
  // A forged command (signed with the wrong secret): 401, never queued.
  const body = JSON.stringify({ jsonrpc: '2.0', id: 'forged', method: capture, params: { payment: base } });
  const forged = await fetch(stack.intakeUrl, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', 'x-signature': signBody(body, 'not-the-secret-at-all') },
  });
  total += 1;
  if (forged.status === 401) refused += 1;
  // Malformed bus commands: JSON-RPC -32602 naming the field.
  for (const [i, payment] of [
    { ...base, currency: 'EURO' },
    { ...base, amount: -5 },
    { ...base, amount: 12.5 },
    { ...base, gateway_key: '' },
    { ...base, custom_attributes: { note: `card ${TEST_PANS[0]}` } },
  ].entries()) {
    const answer = await sendBus(capture, { payment }, `bad-${i}`);
    total += 1;
    if ((answer.body as { error?: unknown } | null)?.error) refused += 1;
  }
  // Malformed channel messages: dead-lettered by the consumer with the reason in headers.
  const channelBad: Record<string, unknown>[] = [
    { version: 1, command: 'authorize', channel: 'web', received_at: new Date().toISOString(), payment: { ...base, amount: 0 } },
    { version: 1, command: 'teleport', channel: 'pos', received_at: new Date().toISOString(), payment: base },
    {
      version: 1,
      command: 'sale',
      channel: 'marketplace',
      received_at: new Date().toISOString(),
      payment: { ...base, method_details: { card: { holder_name: TEST_PANS[1] } } },
    },
    { version: 1, command: 'authorize', channel: 'web', received_at: 'yesterday', payment: { ...base, lines: [{ description: `pan ${TEST_PANS[2]}` }] } },
  ];
  for (const message of channelBad) {
    await publisher.publish(message, String(message.channel), 'bad');
    total += 1;
  }
  return { total, refusedAtIntake: refused };
}

/** Reads the dead-letter queue (without consuming it for good) and scans it for card numbers. */
async function countDeadLetters(stack: LocalStack): Promise<{ count: number; withReason: number; findings: { where: string; needle: string }[] }> {
  const connection = await amqplib.connect(stack.config.amqp.url);
  const channel = await connection.createChannel();
  let count = 0;
  let withReason = 0;
  const findings: { where: string; needle: string }[] = [];
  for (let msg = await channel.get(stack.config.amqp.deadLetterQueue); msg; msg = await channel.get(stack.config.amqp.deadLetterQueue)) {
    count += 1;
    if (msg.properties.headers?.['x-pb-reason']) withReason += 1;
    const text = msg.content.toString('utf8') + JSON.stringify(msg.properties.headers ?? {});
    for (const pan of TEST_PANS) if (text.includes(pan)) findings.push({ where: `dead letter ${count}`, needle: `…${pan.slice(-4)}` });
  }
  await channel.close();
  await connection.close();
  return { count, withReason, findings };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`demo failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);

/** The KPIs again as Prometheus sees them: each one's PromQL and the figure read from the live /metrics now. */
async function printMetricsKpis(stack: LocalStack): Promise<void> {
  const { rows, scraped } = await kpisFromMetrics(stack.metricsTargets);
  say('');
  say(
    `KPIs from /metrics (${scraped} of ${stack.metricsTargets.length} endpoints: ${stack.metricsTargets.join(', ')}; a killed worker's counts went with it, a Prometheus keeps them):`,
  );
  say(
    formatTable(
      ['KPI', 'PromQL', 'now, from /metrics'],
      rows.map((r) => [r.kpi, r.promql, r.value]),
    ),
  );
  say('alert rules: config/prometheus/alerts.yml · dashboard: config/grafana/payment-bridge.json');
}
