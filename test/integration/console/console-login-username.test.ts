import { Config } from '../../../src/config/config';
import { silentLogger } from '../../../src/logging/logger';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { amqpClient } from '../../support/amqp-helpers';
import { consoleLogin } from '../../support/console-login';
import { testConfig } from '../../support/test-config';

/** The console compares the whole user name typed: a name that only begins with the configured one is refused. */

const PASSWORD = 'console-username-test-password-0123';
// The longest user name the configuration takes (64 characters).
const USERNAME = `op-${'a'.repeat(61)}`;

describe('console login user name', () => {
  let config: Config;
  let web: WebProcess;

  beforeAll(async () => {
    config = testConfig({ 'console.enabled': true, 'console.port': 0, 'console.password': PASSWORD, 'console.username': USERNAME });
    web = await startWebProcess(config, silentLogger());
  });

  afterAll(async () => {
    await web.stop();
    const client = await amqpClient(config);
    await client.deleteNamespace();
    await client.close();
  });

  it('refuses a longer name that begins with the configured one, and takes the configured one', async () => {
    const base = web.consoleUrl as string;
    expect(USERNAME).toHaveLength(64);
    expect((await consoleLogin(base, PASSWORD, {}, `${USERNAME}x`)).status).toBe(401);
    expect((await consoleLogin(base, PASSWORD, {}, USERNAME)).status).toBe(303);
  });
});
