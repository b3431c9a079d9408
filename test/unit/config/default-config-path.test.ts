import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../../src/errors';
import { DEFAULT_CONFIG_PATH, loadConfig } from '../../../src/config/load-config';

const MINIMAL = [
  'parameters:',
  "  service_bus.url: 'http://127.0.0.1:9000'",
  "  service_bus.endpoint_name: 'payment-bridge'",
  "  service_bus.secret: 'a-bus-secret-of-16+'",
  "  service_bus.public_url: 'http://127.0.0.1:8080/bus'",
  "  mom_client.client_id: 'mom'",
  "  mom_client.client_secret: 'mom-secret'",
  "  mom_client.oauth_server_url: 'http://127.0.0.1:9000'",
  "  amqp.url: 'amqp://guest:guest@127.0.0.1:5672'",
  "  redis.url: 'redis://127.0.0.1:6379'",
  '  security.allow_insecure_http: true',
  '',
].join('\n');

describe('default configuration path', () => {
  const cwd = process.cwd();
  const saved = process.env.PB_CONFIG;
  afterEach(() => {
    process.chdir(cwd);
    if (saved === undefined) delete process.env.PB_CONFIG;
    else process.env.PB_CONFIG = saved;
  });

  it('is config/parameters.yml under the working directory when neither --config nor PB_CONFIG is given', () => {
    expect(DEFAULT_CONFIG_PATH).toBe('config/parameters.yml');
    const dir = mkdtempSync(join(tmpdir(), 'pb-config-'));
    mkdirSync(join(dir, 'config'));
    writeFileSync(join(dir, 'config', 'parameters.yml'), MINIMAL.replace('payment-bridge', 'from-config-dir'));
    writeFileSync(join(dir, 'parameters.yml'), MINIMAL.replace('payment-bridge', 'from-top-level'));
    delete process.env.PB_CONFIG;
    process.chdir(dir);
    expect(loadConfig().serviceBus.endpointName).toBe('from-config-dir');
  });

  it('names the default path when the file is missing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pb-config-'));
    delete process.env.PB_CONFIG;
    process.chdir(dir);
    let error: unknown;
    try {
      loadConfig();
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain('config/parameters.yml');
  });
});
