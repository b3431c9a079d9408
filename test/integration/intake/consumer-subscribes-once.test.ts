import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { startIntakeProcess } from '../../support/intake-process';
import { testConfig } from '../../support/test-config';

jest.setTimeout(60000);

describe('the command consumer on a fresh connection', () => {
  it('subscribes once per queue: the first connection\'s "ready" and start() do not both subscribe', async () => {
    const config = testConfig({ 'backpressure.priority_lane': true });
    const client = await amqpClient(config);
    const intake = await startIntakeProcess(config, captureLogger('error').logger);
    try {
      const ch = await client.model.createChannel();
      expect((await ch.checkQueue(config.amqp.commandsQueue)).consumerCount).toBe(1);
      expect((await ch.checkQueue(`${config.amqp.commandsQueue}.priority`)).consumerCount).toBe(1);
      await ch.close();
    } finally {
      await intake.stop();
      await client.deleteNamespace();
      await client.close();
    }
  });
});
