import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { runCheckConfig } from '../../../src/cli/check-config';

const FILE = [
  'parameters:',
  "  service_bus.url: 'https://bus.example.com'",
  "  service_bus.endpoint_name: 'pb'",
  "  service_bus.secret: '%env(PBT_BUS_SECRET)%'",
  "  service_bus.public_url: 'https://payments.example.com/bus'",
  "  mom_client.client_id: 'pb'",
  "  mom_client.client_secret: '%env(PBT_MOM_SECRET)%'",
  "  mom_client.oauth_server_url: 'https://bus.example.com'",
  "  amqp.url: 'amqp://pb:%env(PBT_AMQP_PASS)%@127.0.0.1'",
  "  redis.url: 'redis://127.0.0.1'",
  '',
].join('\n');

describe('payment-bridge check-config', () => {
  let dir: string;
  let path: string;
  const saved = { ...process.env };
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pb-check-config-'));
    path = join(dir, 'parameters.yml');
    writeFileSync(path, FILE);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => {
    for (const k of ['PBT_BUS_SECRET', 'PBT_MOM_SECRET', 'PBT_AMQP_PASS']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });

  function run(opts: { show?: boolean; json?: boolean }, file = path): { code: number; text: string } {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    const code = runCheckConfig(file, opts, out);
    return { code, text: Buffer.concat(chunks).toString('utf8') };
  }

  it('reports every missing environment variable in one run and exits 78', () => {
    const { code, text } = run({});
    expect(code).toBe(78);
    expect(text).toContain('3 problem(s)');
    for (const name of ['PBT_BUS_SECRET', 'PBT_MOM_SECRET', 'PBT_AMQP_PASS']) expect(text).toContain(name);
  });

  it('--json --show prints ok, warnings and the configuration with its secrets masked', () => {
    process.env.PBT_BUS_SECRET = 'bus-secret-0123456789';
    process.env.PBT_MOM_SECRET = 'mom-secret-0123456789';
    process.env.PBT_AMQP_PASS = 'amqp-pass-0123456789';
    const { code, text } = run({ json: true, show: true });
    expect(code).toBe(0);
    const report = JSON.parse(text) as { ok: boolean; problems: string[]; config: { amqp: { url: string } } };
    expect(report.ok).toBe(true);
    expect(report.problems).toEqual([]);
    expect(report.config.amqp.url).toBe('amqp://pb:****@127.0.0.1');
    for (const secret of ['bus-secret-0123456789', 'mom-secret-0123456789', 'amqp-pass-0123456789']) expect(text).not.toContain(secret);
  });

  it('names the key of an amount limit that names no currencies, and says to name them', () => {
    process.env.PBT_BUS_SECRET = 'bus-secret-0123456789';
    process.env.PBT_MOM_SECRET = 'mom-secret-0123456789';
    process.env.PBT_AMQP_PASS = 'amqp-pass-0123456789';
    const bounded = join(dir, 'bounded.yml');
    writeFileSync(bounded, `${FILE}  channels.profiles:\n    - { channel: pos, max_amount: 500000 }\n`);
    const { code, text } = run({}, bounded);
    expect(code).toBe(78);
    expect(text).toContain('1 problem(s)');
    expect(text).toMatch(
      /ERROR channels\.profiles\[0\]\.max_amount: \(500000\) is in minor units.*name the currencies the bound is meant for in channels\.profiles\[0\]\.currencies/,
    );
  });
});
