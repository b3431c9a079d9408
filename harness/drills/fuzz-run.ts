import amqplib from 'amqplib';
import { signBody } from '../../src/bus/x-signature';
import { sendSignedCommand } from '../twins/bus-twin/signed-command-sender';
import { LocalStack } from '../twins/local-stack/local-stack';
import { Finding, scanFiles, scanRedis } from '../workload/card-data-scan';
import { FlowCheck } from '../workload/flow-checks';
import { buildScenarios, seededRandom } from '../workload/payment-scenarios';
import { StepRecord, runWorkload } from '../workload/workload-driver';
import { checkDrillInvariants, successRate } from './drill-invariants';
import { AmqpFuzzCase, FuzzCaseGenerator, HttpFuzzCase } from './fuzz-cases';
import { inspectDeadLetters } from './queue-inspector';
import { openResilientPublisher } from './resilient-publisher';
import { panNeedles } from './test-card-numbers';
import { HostileJson, Json } from './hostile-json';
import { WEBHOOK_SEEDS } from './psp-fuzz-seeds';
import { simulatorWebhookSignature } from '../../src/gateways/simulator/simulator-webhook';
import { ChannelKeyring, routingChannel } from '../../src/channels/channel-signature';
import { channelHeaders } from '../workload/channel-publisher';
import { Ledger } from '../../src/ledger/ledger';
import { isTerminal } from '../../src/ledger/operation-state';
import { PAN_MASK } from '../../src/logging/redact';
import { createRedis } from '../../src/redis/redis-connection';
import { scrapeMetric } from '../bench/metric-scrape';

/** Per generator kind: how many were sent and how many were answered or dead-lettered as they must be. */
export interface FuzzKindRow {
  transport: 'http' | 'amqp' | 'webhook';
  kind: string;
  sent: number;
  /**
   * HTTP: answered as expected (JSON-RPC error naming a field, 401, 413). AMQP: confirmed by the broker.
   * Webhook: answered at once with 200, 422 or 413 when signed, 401 or 413 when not; never a 5xx.
   */
  asExpected: number;
}

export interface FuzzReport {
  http: number;
  amqp: number;
  /** Hostile webhooks posted to the simulator gateway's endpoint (most signed over their very bytes). */
  webhooks: number;
  /** Dead letters expected: every AMQP case plus every signed HTTP case the intake refused. */
  expectedDeadLetters: number;
  valid: { commands: number; successRate: number };
  rows: FuzzKindRow[];
  checks: FlowCheck[];
  /** First few unexpected HTTP answers, for debugging (status and JSON-RPC message, never the body sent). */
  surprises: string[];
  elapsedS: number;
}

/**
 * Sends `count` malformed or invalid commands (seeded; about half signed or unsigned HTTP to the intake,
 * half raw AMQP publishes to the commands exchange, among them valid channel-contract messages with card
 * numbers in their free text, which must be accepted masked) while `validPayments` valid payments run
 * through the flow, then checks: every HTTP request answered as it must be, every AMQP one dead-lettered with
 * x-pb-reason (dead-letter depth = AMQP cases + signed HTTP refusals), the commands queue drained, the
 * valid traffic unaffected (drill invariants), no role process exited, and none of the planted card
 * numbers in any log file, Redis key or value, or dead-lettered message.
 *
 * @param options.concurrency fuzz requests in flight. Default 16.
 */
export async function runFuzz(
  stack: LocalStack,
  options: {
    count: number;
    seed: number;
    runId: string;
    validPayments: number;
    /** Hostile webhooks to post to `/webhooks/simulator` alongside (see `postHostileWebhooks`). Default 0. */
    webhooks?: number;
    concurrency?: number;
    log?: (line: string) => void;
  },
): Promise<FuzzReport> {
  const log = options.log ?? (() => undefined);
  const started = Date.now();
  const generator = new FuzzCaseGenerator(
    seededRandom(options.seed),
    options.runId,
    stack.config.http.bodyLimitBytes,
    stack.config.serviceBus.methods.commands,
  );
  const rows = new Map<string, FuzzKindRow>();
  const surprises: string[] = [];
  let http = 0;
  let amqp = 0;
  let expectedDeadLetters = 0;
  /** HTTP bodies above the limit answered 413: dead-lettered up to the intake's bound, the rest counted as skipped. */
  let oversized = 0;
  let fieldless = 0;
  /** Operation ids of the valid contract messages with card numbers in free text: accepted, masked. */
  const acceptedWithPans: string[] = [];

  const connection = await amqplib.connect(stack.config.amqp.url);
  const channel = await connection.createConfirmChannel();
  const publisher = openResilientPublisher(stack.config);

  const sendHttp = async (c: HttpFuzzCase): Promise<boolean> => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (c.signature === 'valid') headers['x-signature'] = signBody(c.body, stack.busSecret);
    if (c.signature === 'wrong') headers['x-signature'] = signBody(c.body, 'not-the-bus-secret');
    let status: number;
    let text: string;
    try {
      const res = await fetch(stack.intakeUrl, { method: 'POST', body: c.body, headers });
      status = res.status;
      text = await res.text();
    } catch (err) {
      if (surprises.length < 10) surprises.push(`${c.kind}: no answer (${(err as Error).message})`);
      return false;
    }
    let error: { code?: unknown; message?: unknown; data?: { field?: unknown } } | undefined;
    try {
      error = (JSON.parse(text) as { error?: typeof error }).error;
    } catch {
      error = undefined;
    }
    const namesField = typeof error?.data?.field === 'string' && error.data.field !== '';
    if (error && !namesField) fieldless += 1;
    const wanted = { 'rpc-error': 200, unauthorized: 401, 'too-large': 413 }[c.expect];
    const ok = status === wanted && error !== undefined && namesField;
    if (!ok && surprises.length < 10) surprises.push(`${c.kind}: HTTP ${status} ${String(error?.message ?? text.slice(0, 80))}`);
    return ok;
  };

  // Channels sign what they publish: fuzz messages are signed as the channel they claim (most of them), so
  // the defect reaches validation; one in ten goes unsigned (refused as unauthenticated).
  const keyring = new ChannelKeyring(stack.config.channels.credentials, stack.config.serviceBus.secret);
  let amqpSent = 0;
  const sendAmqp = (c: AmqpFuzzCase) =>
    new Promise<boolean>((resolve) => {
      // The valid contract messages are always signed: they must be accepted.
      const { routingKey, headers } = signedAsClaimed(keyring, c, (amqpSent += 1) % 10 === 0 && !c.accept);
      channel.publish(stack.config.amqp.commandsExchange, routingKey, c.body, { persistent: true, headers }, (err) => resolve(!err));
    });

  // Valid traffic alongside, from all four channels.
  const scenarios = buildScenarios(options.validPayments, { seed: options.seed + 1, runId: options.runId });
  const sendBus = (method: string, params: Record<string, unknown>, id: string) =>
    sendSignedCommand({ url: stack.intakeUrl, secret: stack.busSecret, method, params, id });
  const validRun = runWorkload(
    scenarios,
    { config: stack.config, sendBus, publisher, notifications: () => stack.busTwin.notifications },
    { concurrency: 50, stepTimeoutMs: 60_000 },
  );

  let sent = 0;
  const lanes = Array.from({ length: options.concurrency ?? 16 }, async () => {
    while (sent < options.count) {
      sent += 1;
      if (sent % 2000 === 0) log(`  ${sent}/${options.count} malformed commands sent`);
      const c = generator.next();
      const row = rows.get(`${c.transport} ${c.kind}`) ?? { transport: c.transport, kind: c.kind, sent: 0, asExpected: 0 };
      rows.set(`${c.transport} ${c.kind}`, row);
      row.sent += 1;
      let ok: boolean;
      if (c.transport === 'http') {
        http += 1;
        ok = await sendHttp(c);
        if (ok && c.deadLettered) expectedDeadLetters += 1;
        if (ok && c.expect === 'too-large') oversized += 1;
      } else {
        amqp += 1;
        ok = await sendAmqp(c);
        if (ok && c.accept) acceptedWithPans.push(c.accept.operationId);
        else if (ok) expectedDeadLetters += 1;
      }
      if (ok) row.asExpected += 1;
    }
  });
  await Promise.all(lanes);
  const hooks = await postHostileWebhooks(stack, { count: options.webhooks ?? 0, seed: options.seed, runId: options.runId, rows, surprises });
  log(`  ${http} HTTP and ${amqp} AMQP malformed commands sent, ${hooks.sent} hostile webhooks posted; waiting for the valid traffic`);
  const records: StepRecord[] = await validRun;
  await channel.close().catch(() => undefined);
  await connection.close().catch(() => undefined);
  await publisher.close();
  await new Promise((r) => setTimeout(r, 1500));
  // Every 413 is dead-lettered (BODY_TOO_LARGE, none of its body) but for those past the intake's bound on them,
  // which its metric counts: a time-based bound, so the exact number is read rather than predicted.
  let oversizedSkipped = 0;
  for (const target of stack.metricsTargets) oversizedSkipped += (await scrapeMetric(target, 'pb_intake_oversized_dead_letters_skipped_total')) ?? 0;
  expectedDeadLetters += oversized - oversizedSkipped;
  // A refusal identical to one already recorded (the same raw body, headers and reason: a resend, to the intake) is
  // acked as a duplicate of that dead letter, not recorded again (pb_dead_letters_duplicate_total): the generator
  // repeats some malformed bodies byte for byte, so this number too is read rather than predicted.
  let duplicates = 0;
  for (const target of stack.metricsTargets) duplicates += (await scrapeMetric(target, 'pb_dead_letters_duplicate_total')) ?? 0;
  expectedDeadLetters -= duplicates;

  const checks = await checkDrillInvariants({ stack, records, expectDeadLetters: expectedDeadLetters });
  const unexpected = [...rows.values()].reduce((n, r) => n + r.sent - r.asExpected, 0);
  checks.unshift({
    name: 'every malformed command answered or dead-lettered as it must be',
    ok: unexpected === 0,
    detail:
      unexpected === 0
        ? `${http} HTTP answered (JSON-RPC error naming a field / 401 / 413), ${amqp} AMQP confirmed`
        : `${unexpected} not, e.g. ${surprises[0] ?? '?'}`,
  });
  checks.push({ name: 'every JSON-RPC error names a field', ok: fieldless === 0, detail: `${fieldless} without error.data.field` });
  if (hooks.sent > 0) {
    checks.push({
      name: 'every hostile webhook answered at once, never a 5xx',
      ok: hooks.unexpected === 0,
      detail:
        hooks.unexpected === 0
          ? Object.entries(hooks.statuses)
              .map(([status, n]) => `${n} × ${status}`)
              .join(', ')
          : `${hooks.unexpected} of ${hooks.sent} not, e.g. ${surprises.find((s) => s.startsWith('webhook')) ?? '?'}`,
    });
  }

  const needles = panNeedles();
  const dead = await inspectDeadLetters(stack.config, needles);
  checks.push({
    name: 'every dead letter carries x-pb-reason',
    ok: dead.withReason === dead.count,
    detail: `${dead.withReason} of ${dead.count} (${Object.entries(dead.byCode)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')})`,
  });
  const roles = [stack.web, ...stack.workers];
  const exited = roles.filter((p) => p.child.exitCode !== null || p.child.signalCode !== null);
  checks.push({
    name: 'no role process crashed',
    ok: exited.length === 0,
    detail: exited.length === 0 ? `${roles.length} alive` : exited.map((p) => p.name).join(', '),
  });
  const redis = createRedis(stack.config.redis, 'commands');
  let inRedis: { keys: number; findings: Finding[] };
  try {
    checks.push(await checkMaskedAndAccepted(new Ledger(redis, stack.config.redis.keyPrefix), acceptedWithPans));
    inRedis = await scanRedis(redis, stack.config.redis.keyPrefix, needles);
  } finally {
    redis.disconnect();
  }
  const inLogs = scanFiles(stack.dir, needles);
  const leaks = [...inLogs.findings, ...inRedis.findings, ...dead.findings];
  checks.push({
    name: 'no card number in logs, Redis or dead letters',
    ok: leaks.length === 0,
    detail:
      leaks.length === 0
        ? `${inLogs.files} log files (${Math.round(inLogs.bytes / 1024)} KiB), ${inRedis.keys} Redis keys, ${dead.count} dead letters scanned for ${needles.length} PAN forms`
        : `${leaks.length} hits, e.g. ${leaks[0].where} holds ${leaks[0].needle}`,
  });
  return {
    http,
    amqp,
    webhooks: hooks.sent,
    expectedDeadLetters,
    valid: { commands: records.length, successRate: successRate(records) },
    rows: [...rows.values()].sort((a, b) => a.transport.localeCompare(b.transport) || a.kind.localeCompare(b.kind)),
    checks,
    surprises,
    elapsedS: (Date.now() - started) / 1000,
  };
}

/**
 * Every valid contract message with card numbers in its free text was accepted: its operation is in the
 * ledger (how many are terminal is reported) and what was stored holds the mask where the numbers were (the scans after this one
 * check that no form of any number is left anywhere).
 */
async function checkMaskedAndAccepted(ledger: Ledger, operationIds: readonly string[]): Promise<FlowCheck> {
  const missing: string[] = [];
  const unmasked: string[] = [];
  let terminal = 0;
  for (const id of operationIds) {
    const record = await ledger.get(id);
    if (!record) missing.push(id);
    else {
      if (isTerminal(record.state)) terminal += 1;
      if (!JSON.stringify(record.payment).includes(PAN_MASK)) unmasked.push(id);
    }
  }
  return {
    name: 'contract messages with card numbers in free text accepted, masked',
    ok: operationIds.length > 0 && missing.length === 0 && unmasked.length === 0,
    detail:
      missing.length + unmasked.length === 0
        ? `${operationIds.length} accepted with the text masked, ${terminal} terminal`
        : `${missing.length} not recorded (e.g. ${missing[0] ?? '-'}), ${unmasked.length} without the mask`,
  };
}

/**
 * The routing key and headers a fuzz message goes out with: routed and signed as the channel its body
 * claims (a `<channel>.payment.<command>` routing key gets that channel as its first word), or as its
 * routing key's channel when the body claims none; no signature when `unsigned`.
 */
function signedAsClaimed(keyring: ChannelKeyring, c: AmqpFuzzCase, unsigned: boolean): { routingKey: string; headers: Record<string, string> } {
  let claimed: unknown;
  try {
    claimed = (JSON.parse(c.body.toString('utf8')) as { channel?: unknown }).channel;
  } catch {
    claimed = undefined;
  }
  const parts = c.routingKey.split('.');
  const routingKey =
    typeof claimed === 'string' && keyring.currentKey(claimed) && parts.length === 3 && parts[1] === 'payment'
      ? `${claimed}.${parts[1]}.${parts[2]}`
      : c.routingKey;
  return { routingKey, headers: unsigned ? {} : channelHeaders(keyring, routingChannel(routingKey), c.body) };
}

/**
 * Posts `count` hostile webhooks to the stack's `/webhooks/simulator` (seeded: `HostileJson` variants of the
 * simulator's events, their ids this run's), nine in ten signed over their very bytes with the gateway's secret
 * as the simulator signs (so every defect reaches the parser, the item check, the queue and the outcome worker),
 * one in ten signed with another secret. Each must be answered at once: signed, 200 (read, or items skipped),
 * 422 (no notification at all) or 413 (above `http.body_limit_bytes`); unsigned, 401 or 413; never a 5xx or
 * no answer. The card numbers planted in them are looked for afterwards with the others.
 */
export async function postHostileWebhooks(
  stack: LocalStack,
  options: { count: number; seed: number; runId: string; rows: Map<string, FuzzKindRow>; surprises: string[]; concurrency?: number },
): Promise<{ sent: number; unexpected: number; statuses: Record<string, number> }> {
  const hostile = new HostileJson(seededRandom(options.seed + 2));
  const secret = stack.config.gateways.simulator.webhookSecret;
  const url = stack.intakeUrl.replace(/\/bus$/, '/webhooks/simulator');
  const limit = stack.config.http.bodyLimitBytes;
  const discardLimit = stack.config.http.discardLimitBytes;
  const statuses: Record<string, number> = {};
  let sent = 0;
  let unexpected = 0;
  const one = async (n: number): Promise<void> => {
    const seed = JSON.parse(JSON.stringify(hostile.pick(WEBHOOK_SEEDS.simulator))) as { id: string; data: { object: Record<string, unknown> } };
    seed.id = `evt_fz_${options.runId}_${n}`;
    Object.assign(seed.data.object, { id: `auth_fz_${options.runId}_${n}`, reference: `op-fz-${options.runId}-wh${n}` });
    const made = hostile.variant(seed as unknown as Json);
    const signed = hostile.random() < 0.9;
    const t = Math.floor(Date.now() / 1000);
    const signature = simulatorWebhookSignature(made.body, t, signed ? secret : `${secret}-not`);
    const kind = signed ? `signed: ${made.kind}` : 'wrongly signed';
    const row = options.rows.get(`webhook ${kind}`) ?? { transport: 'webhook' as const, kind, sent: 0, asExpected: 0 };
    options.rows.set(`webhook ${kind}`, row);
    row.sent += 1;
    let status: string;
    try {
      const res = await fetch(url, {
        method: 'POST',
        body: made.body,
        headers: { 'content-type': 'application/json', 'simulator-signature': `t=${t},v1=${signature}` },
        signal: AbortSignal.timeout(10_000),
      });
      status = String(res.status);
      await res.arrayBuffer();
    } catch (err) {
      // The route answers 413 at once and discards the rest of the body up to http.discard_limit_bytes before it
      // closes: only a body past that bound may see the close before the answer. No answer in 10 s is a hang.
      status = (err as Error).name === 'TimeoutError' ? 'no answer in 10 s' : 'closed after the 413';
      if (status !== 'closed after the 413' && options.surprises.length < 10) options.surprises.push(`webhook ${kind}: ${status}`);
    }
    statuses[status] = (statuses[status] ?? 0) + 1;
    const bytes = Buffer.byteLength(made.body);
    const allowed = bytes > limit + discardLimit ? ['413', 'closed after the 413'] : bytes > limit ? ['413'] : signed ? ['200', '422'] : ['401'];
    if (allowed.includes(status)) row.asExpected += 1;
    else {
      unexpected += 1;
      if (options.surprises.length < 10) options.surprises.push(`webhook ${kind}: ${status} (${made.body.length} bytes)`);
    }
  };
  const lanes = Array.from({ length: options.concurrency ?? 8 }, async () => {
    while (sent < options.count) {
      sent += 1;
      await one(sent);
    }
  });
  await Promise.all(lanes);
  return { sent, unexpected, statuses };
}
