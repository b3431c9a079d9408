/**
 * The operator console's inputs under seeded mutations: the dashboard's query string, a query string on the
 * lookup's address (which takes none: the search box posts) and every action form, the lookup's included
 * (with a valid session and CSRF token, so each value reaches the handler), with values of every odd kind
 * (huge, repeated, malformed percent escapes, lone surrogates, NUL, card numbers). Each must be answered at
 * once below 500, the console must go on serving the dashboard, and no card number sent may come out in a
 * page, a log line, Redis (the audit log included) or a metric label.
 */
import { metricsRegistry } from '../../../src/metrics/metrics-registry';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { RedisClient } from '../../../src/redis/redis-connection';
import { Config } from '../../../src/config/config';
import { scanRedis } from '../../../harness/workload/card-data-scan';
import { PAN_STYLES, TEST_PANS, formatPan, panNeedles } from '../../../harness/drills/test-card-numbers';
import { seededRandom } from '../../../harness/workload/payment-scenarios';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { consoleLogin, sessionCookie } from '../../support/console-login';
import { CONSOLE_PASSWORD } from '../../support/console-stack';
import { testConfig } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

const SEED = Number(process.env.PB_FUZZ_SEED ?? 20_261_131);
const CASES = Number(process.env.PB_FUZZ_CASES ?? 200);
const FORMS = [
  'dead-letters/replay',
  'events/resend',
  'events/dismiss',
  'webhooks/retry',
  'risk-reviews/decide',
  'split-tenders/resume',
  'operations/recheck',
  'recaptures/dismiss',
  'held-retries/release',
  'lookup',
];
const FIELDS = ['id', 'mode', 'decision', 'csrf', 'reason', 'note', 'q'];

const random = seededRandom(SEED);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
const pan = () => formatPan(pick(TEST_PANS), pick(PAN_STYLES));

/** A form or query value, already URL-encoded (some escapes are malformed on purpose). */
function oddValue(): string {
  return pick([
    () => encodeURIComponent(pan()),
    () => encodeURIComponent(`order ${pan()}`),
    () => 'x'.repeat(pick([300, 5000, 100_000])),
    () => '%',
    () => '%zz',
    () => '%E0%A4%A',
    () => '%ED%A0%80', // a lone surrogate, UTF-8 encoded
    () => '%00',
    () => '%EF%BB%BF',
    () => encodeURIComponent('\u202e😀'),
    () => encodeURIComponent('<script>alert(1)</script>'),
    () => '',
    () => encodeURIComponent('op-1:interactions'),
    () => encodeURIComponent('dl-000000000000000000000000'),
    () => pick(['execute', 'dry_run', 'approve', 'reject', 'time', 'impact', '1', '0', '-1', '1e400', '999']),
  ])();
}

function oddQuery(names: readonly string[]): string {
  const parts: string[] = [];
  const count = 1 + Math.floor(random() * 4);
  for (let i = 0; i < count; i += 1) parts.push(`${pick([...names, encodeURIComponent(pan()), '%zz', ''])}=${oddValue()}`);
  // The same name many times over.
  if (random() < 0.2) for (let i = 0; i < pick([50, 600]); i += 1) parts.push(`id=${oddValue()}`);
  return parts.join('&');
}

describe('poison fuzz of the operator console: odd query strings and form bodies', () => {
  let config: Config;
  let web: WebProcess;
  let redis: RedisClient;
  let base: string;
  let cookie: string;
  let csrf: string;
  const logs = captureLogger('info');
  const pages: string[] = [];
  const processErrors: string[] = [];
  const onRejection = (reason: unknown) => processErrors.push(`unhandledRejection: ${String(reason)}`);

  beforeAll(async () => {
    process.on('unhandledRejection', onRejection);
    config = testConfig({ 'console.enabled': true, 'console.port': 0, 'console.password': CONSOLE_PASSWORD });
    web = await startWebProcess(config, logs.logger);
    redis = testRedis(config);
    base = web.consoleUrl as string;
    cookie = sessionCookie(await consoleLogin(base, CONSOLE_PASSWORD));
    const dashboard = await (await fetch(base, { headers: { cookie } })).text();
    csrf = encodeURIComponent(/name="csrf" value="([^"]+)"/.exec(dashboard)?.[1] ?? '');
  });

  afterAll(async () => {
    process.off('unhandledRejection', onRejection);
    await web.stop();
    redis.disconnect();
    const client = await amqpClient(config);
    await client.deleteNamespace();
    await client.close();
  });

  it(`answers each of ${CASES} seeded requests at once, below 500`, async () => {
    expect(csrf).not.toBe('');
    const problems: string[] = [];
    for (let i = 0; i < CASES; i += 1) {
      const r = random();
      let url: string;
      let init: RequestInit;
      if (r < 0.35) {
        url = `${base}/?${oddQuery(['dl', 'per', 'before', 'after'])}`;
        init = { headers: { cookie } };
      } else if (r < 0.55) {
        url = `${base}/lookup?${oddQuery(['q'])}`;
        init = { headers: { cookie } };
      } else {
        url = `${base}/${pick(FORMS)}`;
        init = {
          method: 'POST',
          redirect: 'manual',
          headers: { cookie, 'content-type': pick(['application/x-www-form-urlencoded', 'text/plain', 'application/json']) },
          body: `csrf=${csrf}&${oddQuery(FIELDS)}`,
        };
      }
      try {
        const res = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
        const text = await res.text();
        pages.push(text);
        if (process.env.PB_FUZZ_SUMMARY) console.log(res.status, url.slice(base.length, base.length + 30));
        if (res.status >= 500) problems.push(`#${i} ${url.slice(base.length, base.length + 60)}: HTTP ${res.status}`);
      } catch (err) {
        problems.push(`#${i} ${url.slice(base.length, base.length + 60)}: no answer (${(err as Error).message})`);
      }
    }
    expect(problems).toEqual([]);
  }, 120_000);

  it('goes on serving the dashboard to the same session, with no process error and no error logged', async () => {
    const res = await fetch(base, { headers: { cookie } });
    expect(res.status).toBe(200);
    expect(processErrors).toEqual([]);
    expect(logs.lines.filter((l) => l.includes('"level":"error"')).map((l) => l.slice(0, 300))).toEqual([]);
  });

  it('left no card number in a page, a log line, Redis (audit log, sessions) or a metric label', async () => {
    const needles = panNeedles();
    const found = (text: string) => needles.filter((p) => text.includes(p)).map((p) => `…${p.slice(-4)}`);
    const leaks: string[] = [];
    for (const page of pages) for (const f of found(page)) leaks.push(`page: ${f}`);
    for (const line of logs.lines) for (const f of found(line)) leaks.push(`log: ${f}`);
    for (const f of found(await metricsRegistry.metrics())) leaks.push(`metrics: ${f}`);
    for (const f of (await scanRedis(redis, config.redis.keyPrefix, needles)).findings) leaks.push(`${f.where.slice(0, 100)}: ${f.needle}`);
    expect(leaks).toEqual([]);
  });
});
