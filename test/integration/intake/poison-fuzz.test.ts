import { ConfirmChannel, GetMessage } from 'amqplib';
import { signBody } from '../../../src/bus/x-signature';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { Config } from '../../../src/config/config';
import { ChannelKeyring, channelSignatureHeaders, routingChannel } from '../../../src/channels/channel-signature';
import { triageQueueOf } from '../../../src/amqp/topology';
import { metricsRegistry } from '../../../src/metrics/metrics-registry';
import { RedisClient } from '../../../src/redis/redis-connection';
import { scanRedis } from '../../../harness/workload/card-data-scan';
import { panNeedles } from '../../../harness/drills/test-card-numbers';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { IntakeFuzzCase, IntakeFuzzCases } from '../../support/intake-fuzz-cases';
import { IntakeProcess, startIntakeProcess } from '../../support/intake-process';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

/*
 * The command intake's edges under seeded mutations (test/support/intake-fuzz-cases.ts): every command type
 * and channel contract published on the commands exchange, signed over the mutated bytes so each defect
 * reaches validation, and bus calls posted to the HTTP intake. One case at a time, so every decision and
 * dead letter is the case's own. Explore with `PB_FUZZ_SEED`, `PB_FUZZ_CASES`, `PB_FUZZ_BUS_CASES`.
 */

/** Fixed: a failure names a case (`#n`) that the same seed replays (`PB_FUZZ_SEED` explores others). */
const SEED = Number(process.env.PB_FUZZ_SEED ?? 20_261_129);
const CASES = Number(process.env.PB_FUZZ_CASES ?? 320);
/** Bus calls posted to the HTTP intake. */
const BUS_CASES = Number(process.env.PB_FUZZ_BUS_CASES ?? 120);
/** Longest a case may take to end in one decision before it counts as wedged. */
const CASE_DEADLINE_MS = 5000;

/** What happened to one case. */
interface Outcome {
  c: IntakeFuzzCase;
  decision: 'accepted' | 'duplicate' | 'dead-lettered' | 'requeued' | 'demoted' | 'none';
  letters: GetMessage[];
  ms: number;
}

describe('poison fuzz of the command intake: seeded malformed commands never wedge, crash or leak a card number', () => {
  let config: Config;
  let worker: IntakeProcess;
  let web: WebProcess;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  let channel: ConfirmChannel;
  let redis: RedisClient;
  let keyring: ChannelKeyring;
  const logs = captureLogger('info');
  const processErrors: string[] = [];
  const onRejection = (reason: unknown) => processErrors.push(`unhandledRejection: ${String(reason)}`);
  const onException = (err: Error) => processErrors.push(`uncaughtException: ${err.message}`);
  const outcomes: Outcome[] = [];
  /** Every dead letter and triage copy read, for the card-number scan. */
  const read: GetMessage[] = [];
  /** The intake's answers to the bus calls, for the card-number scan. */
  const answers: string[] = [];

  beforeAll(async () => {
    process.on('unhandledRejection', onRejection);
    process.on('uncaughtException', onException);
    config = testConfig();
    client = await amqpClient(config);
    channel = await client.model.createConfirmChannel();
    redis = testRedis(config);
    keyring = new ChannelKeyring(config.channels.credentials, config.serviceBus.secret);
    worker = await startIntakeProcess(config, logs.logger);
    web = await startWebProcess(config, logs.logger);
    await eventually(async () => (await fetch(`${web.server.url}/readyz`)).status === 200);
  });

  afterAll(async () => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
    await web.stop();
    await worker.stop();
    await channel.close().catch(() => undefined);
    await client.deleteNamespace();
    await client.close();
    redis.disconnect();
  });

  /** Publishes a case as its channel would (signed over the exact bytes unless the case brings its own headers). */
  async function publish(c: IntakeFuzzCase): Promise<void> {
    const key = keyring.currentKey(routingChannel(c.routingKey));
    const signature = c.headers === 'sign' ? (key ? channelSignatureHeaders(c.body, key) : {}) : c.headers;
    channel.publish(config.amqp.commandsExchange, c.routingKey, c.body, {
      persistent: true,
      ...(c.contentType === null ? {} : { contentType: c.contentType ?? 'application/json' }),
      ...(c.contentEncoding !== undefined ? { contentEncoding: c.contentEncoding } : {}),
      headers: { ...(c.extraHeaders ?? {}), ...signature },
    });
    await channel.waitForConfirms();
  }

  function decisions(): number {
    const s = worker.consumer.stats;
    return s.accepted + s.duplicates + s.deadLettered + s.requeued + s.demoted;
  }

  async function drain(queue: string): Promise<GetMessage[]> {
    const out: GetMessage[] = [];
    for (;;) {
      const msg = await channel.get(queue, { noAck: true });
      if (!msg) return out;
      out.push(msg);
    }
  }

  /** One case at a time: each one's decision and dead letters are its own. */
  async function runCase(c: IntakeFuzzCase): Promise<Outcome> {
    const stats = { ...worker.consumer.stats };
    const before = decisions();
    const started = Date.now();
    await publish(c);
    while (decisions() === before && Date.now() - started < CASE_DEADLINE_MS) await new Promise((r) => setTimeout(r, 1));
    const s = worker.consumer.stats;
    const decision: Outcome['decision'] =
      s.accepted > stats.accepted
        ? 'accepted'
        : s.duplicates > stats.duplicates
          ? 'duplicate'
          : s.deadLettered > stats.deadLettered
            ? 'dead-lettered'
            : s.requeued > stats.requeued
              ? 'requeued'
              : s.demoted > stats.demoted
                ? 'demoted'
                : 'none';
    // The dead letter (and its triage copy) is confirmed before the ack that counted the decision.
    const letters = await drain(config.amqp.deadLetterQueue);
    read.push(...letters, ...(await drain(triageQueueOf(config.amqp))));
    return { c, decision, letters, ms: Date.now() - started };
  }

  it(`ends each of ${CASES} seeded cases in one decision within ${CASE_DEADLINE_MS} ms: refused ones in exactly one dead letter naming a field`, async () => {
    const generator = new IntakeFuzzCases(SEED, `fz${Date.now().toString(36)}`);
    const problems: string[] = [];
    for (const c of generator.cases(CASES)) {
      const o = await runCase(c);
      outcomes.push(o);
      const label = `#${c.n} ${c.base} ${c.kind}`;
      if (o.decision === 'none') {
        problems.push(`${label}: no decision within ${CASE_DEADLINE_MS} ms (wedged)`);
        break; // what follows would be attributed to the wrong case
      }
      if (o.decision === 'requeued' || o.decision === 'demoted' || o.decision === 'duplicate') problems.push(`${label}: ${o.decision}`);
      if (c.expect === 'refuse' && o.decision !== 'dead-lettered') problems.push(`${label}: ${o.decision}, must be refused`);
      const expectedLetters = o.decision === 'dead-lettered' ? 1 : 0;
      if (o.letters.length !== expectedLetters) problems.push(`${label}: ${o.letters.length} dead letters for ${o.decision}`);
      for (const letter of o.letters) {
        const h = letter.properties.headers ?? {};
        const field = h['x-pb-field'];
        if (h['x-pb-code'] === 'UNEXPECTED_ERROR') problems.push(`${label}: dead-lettered as an unexpected error (${String(h['x-pb-reason'])})`);
        if (typeof field !== 'string' || field === '' || field.length > 256)
          problems.push(`${label}: dead letter field ${typeof field === 'string' ? `of ${field.length} characters` : String(field)}`);
        if (typeof h['x-pb-reason'] !== 'string' || h['x-pb-reason'] === '') problems.push(`${label}: dead letter without a reason`);
      }
    }
    expect(problems).toEqual([]);
  }, 120_000);

  /** Posts a bus call signed with the bus secret; an accepted one is followed to the worker's decision. */
  async function runHttpCase(c: IntakeFuzzCase): Promise<{ problems: string[]; refused: boolean }> {
    const label = `#${c.n} ${c.base} ${c.kind}`;
    const problems: string[] = [];
    const before = decisions();
    const accepted = worker.consumer.stats.accepted;
    const res = await fetch(web.intakeUrl, {
      method: 'POST',
      body: c.body,
      headers: { 'content-type': 'application/json', 'x-signature': signBody(c.body, config.serviceBus.secret) },
    });
    const text = await res.text();
    answers.push(text);
    let answer: { result?: unknown; error?: { data?: { field?: unknown } } } = {};
    try {
      answer = JSON.parse(text) as typeof answer;
    } catch {
      // a 204 has no body
    }
    const refused = answer.error !== undefined || res.status === 204;
    if (answer.result !== undefined) {
      const started = Date.now();
      while (decisions() === before && Date.now() - started < CASE_DEADLINE_MS) await new Promise((r) => setTimeout(r, 1));
      if (worker.consumer.stats.accepted === accepted) problems.push(`${label}: accepted by the intake, not by the worker`);
    } else if (![200, 204, 413].includes(res.status) || !refused) problems.push(`${label}: HTTP ${res.status} ${text.slice(0, 120)}`);
    const field = answer.error?.data?.field;
    if (answer.error && (typeof field !== 'string' || field === '' || field.length > 300))
      problems.push(`${label}: answer's field ${typeof field === 'string' ? `of ${field.length} characters` : String(field)}`);
    if (c.expect === 'refuse' && !refused) problems.push(`${label}: accepted, must be refused`);
    const letters = await drain(config.amqp.deadLetterQueue);
    read.push(...letters, ...(await drain(triageQueueOf(config.amqp))));
    // A 413 (above http.body_limit_bytes) is dead-lettered too: its reason and size, none of its body.
    const expectedLetters = refused ? 1 : 0;
    if (letters.length !== expectedLetters) problems.push(`${label}: ${letters.length} dead letters for HTTP ${res.status}`);
    for (const letter of letters) {
      const h = letter.properties.headers ?? {};
      if (h['x-pb-code'] === 'UNEXPECTED_ERROR') problems.push(`${label}: dead-lettered as an unexpected error`);
      if (typeof h['x-pb-field'] !== 'string' || h['x-pb-field'] === '' || h['x-pb-field'].length > 300)
        problems.push(`${label}: dead letter without a bounded field`);
    }
    return { problems, refused };
  }

  it(`answers each of ${BUS_CASES} seeded bus calls posted to the HTTP intake: refused ones with a JSON-RPC error naming a field and one dead letter`, async () => {
    const generator = new IntakeFuzzCases(SEED + 2, `fzb${Date.now().toString(36)}`);
    const problems: string[] = [];
    let refusals = 0;
    for (const c of generator.busCases(BUS_CASES, config.serviceBus.methods.commands)) {
      const o = await runHttpCase(c);
      problems.push(...o.problems);
      if (o.refused) refusals += 1;
    }
    expect(problems).toEqual([]);
    expect(refusals).toBeGreaterThan(BUS_CASES / 2);
  }, 120_000);

  it('dead-letters redelivered poison once each (the redelivered flag set) and accepts a redelivered valid command behind it', async () => {
    const generator = new IntakeFuzzCases(SEED + 3, `fzr${Date.now().toString(36)}`);
    const bad = generator.cases(12).filter((c) => c.expect === 'refuse' && c.headers === 'sign');
    const good = generator.canonical('refund');
    // No consumer while the messages are taken and handed back: each comes again marked redelivered.
    await worker.stop();
    for (const c of bad) await publish(c);
    await publish({
      n: 0,
      kind: 'valid',
      base: 'refund',
      transport: 'amqp',
      routingKey: 'web.payment.refund',
      body: Buffer.from(JSON.stringify(good)),
      headers: 'sign',
      expect: 'either',
    });
    const taken: GetMessage[] = [];
    for (let msg = await channel.get(config.amqp.commandsQueue); msg; msg = await channel.get(config.amqp.commandsQueue)) taken.push(msg);
    expect(taken).toHaveLength(bad.length + 1);
    channel.nackAll(true);
    worker = await startIntakeProcess(config, logs.logger);
    await eventually(async () => (await worker.ledger.get(good.payment.operation_reference!)) !== null);
    await eventually(() => worker.consumer.stats.deadLettered === bad.length);
    const letters = await drain(config.amqp.deadLetterQueue);
    read.push(...letters, ...(await drain(triageQueueOf(config.amqp))));
    expect(letters).toHaveLength(bad.length);
    expect(letters.every((l) => typeof l.properties.headers?.['x-pb-field'] === 'string' && l.properties.headers['x-pb-code'] !== 'UNEXPECTED_ERROR')).toBe(
      true,
    );
    expect(worker.consumer.stats).toMatchObject({ accepted: 1, requeued: 0 });
  });

  it('keeps consuming after the batch: a valid command published behind it is accepted', async () => {
    const generator = new IntakeFuzzCases(SEED + 1, `fzok${Date.now().toString(36)}`);
    const good = generator.canonical('capture');
    const o = await runCase({
      n: 0,
      kind: 'valid',
      base: 'capture',
      transport: 'amqp',
      routingKey: 'web.payment.capture',
      body: Buffer.from(JSON.stringify(good)),
      headers: 'sign',
      expect: 'either',
    });
    expect(o.decision).toBe('accepted');
    await eventually(async () => (await worker.ledger.get(good.payment.operation_reference!)) !== null);
  });

  it('raised no process error, logged no error line and left the commands queue empty', async () => {
    expect(processErrors).toEqual([]);
    expect(logs.lines.filter((l) => l.includes('"level":"error"')).map((l) => l.slice(0, 300))).toEqual([]);
    expect(await client.queueDepth(config.amqp.commandsQueue)).toBe(0);
  });

  it('left no card number in the logs, Redis (ledger, queued jobs, events), dead letters, triage copies or metric labels', async () => {
    const needles = panNeedles();
    const found = (text: string) => needles.filter((p) => text.includes(p)).map((p) => `…${p.slice(-4)}`);
    const leaks: string[] = [];
    for (const line of logs.lines) for (const f of found(line)) leaks.push(`log: ${f}`);
    for (const letter of read) {
      for (const f of found(letter.content.toString('utf8'))) leaks.push(`dead letter body: ${f}`);
      for (const f of found(JSON.stringify(letter.properties.headers ?? {}))) leaks.push(`dead letter headers: ${f}`);
    }
    for (const answer of answers) for (const f of found(answer)) leaks.push(`intake answer: ${f}`);
    for (const f of found(await metricsRegistry.metrics())) leaks.push(`metrics: ${f}`);
    const redisScan = await scanRedis(redis, config.redis.keyPrefix, needles);
    for (const f of redisScan.findings) leaks.push(`${f.where}: ${f.needle}`);
    expect(leaks).toEqual([]);
    // The scan saw what the batch wrote: ledger records and dead letters.
    expect(redisScan.keys).toBeGreaterThan(0);
    expect(read.length).toBeGreaterThan(0);
  });

  it('covered every mutation class and both outcomes', () => {
    // `PB_FUZZ_SUMMARY=1`: what each mutation class got and how long it took (for exploring other seeds).
    if (process.env.PB_FUZZ_SUMMARY) {
      const rows = new Map<string, { n: number; ms: number; max: number; out: Record<string, number> }>();
      for (const o of outcomes) {
        const r = rows.get(o.c.kind) ?? { n: 0, ms: 0, max: 0, out: {} };
        r.n += 1;
        r.ms += o.ms;
        r.max = Math.max(r.max, o.ms);
        const k = o.letters[0] ? `${o.decision}:${String(o.letters[0].properties.headers?.['x-pb-code'])}` : o.decision;
        r.out[k] = (r.out[k] ?? 0) + 1;
        rows.set(o.c.kind, r);
      }
      console.log([...rows].map(([k, r]) => `${k}\t${r.n}\t${Math.round(r.ms / r.n)}ms max ${r.max}\t${JSON.stringify(r.out)}`).join('\n'));
    }
    const kinds = new Set(outcomes.map((o) => o.c.kind));
    expect(kinds.size).toBeGreaterThanOrEqual(25);
    expect(outcomes.some((o) => o.decision === 'accepted')).toBe(true);
    expect(outcomes.filter((o) => o.decision === 'dead-lettered').length).toBeGreaterThan(CASES / 2);
  });
});
