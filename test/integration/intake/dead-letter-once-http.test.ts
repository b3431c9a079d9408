/**
 * An HTTP intake refusal answered 503 because part of its dead letter could not be written (here the triage copy
 * of a high-impact refusal: its queue gone) is one dead letter when the bus sends it again, with its triage copy:
 * never a second record. Real RabbitMQ and Redis (the web process), own namespace.
 */
import axios from 'axios';
import { triageQueueOf } from '../../../src/amqp/topology';
import { signBody } from '../../../src/bus/x-signature';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { startWebProcess } from '../../../src/processes/web-process';
import { unlinkMatching } from '../../../src/redis/key-scan';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { busCall, payment } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

const CAPTURE = 'magento.payments.payments_management.capture';

jest.setTimeout(30000);

describe('an intake refusal answered 503 and sent again by the bus', () => {
  it('is one dead letter with its triage copy, and the same refusal answered again is a duplicate of it', async () => {
    const config = testConfig({ 'backpressure.priority_lane': false });
    const { logger, lines } = captureLogger('info');
    const client = await amqpClient(config);
    const web = await startWebProcess(config, logger);
    const redis = testRedis(config);
    const admin = await client.model.createChannel();
    const post = (body: unknown) => {
      const raw = JSON.stringify(body);
      return axios.post(web.intakeUrl, raw, {
        headers: { 'x-signature': signBody(raw, config.serviceBus.secret), 'content-type': 'application/json' },
        validateStatus: () => true,
      });
    };
    const duplicates = () => metricValue('pb_dead_letters_duplicate_total', { reason: 'invalid_params' });
    try {
      await eventually(async () => (await post(busCall(CAPTURE, payment()))).status === 200);
      const duplicatesBefore = await duplicates();
      // A capture is high-impact (channels.triage.commands): its dead letter has a copy in the triage queue.
      await admin.deleteQueue(triageQueueOf(config.amqp));
      const bad = busCall(CAPTURE, payment({ amount: 10.5 }), 'bad-triage-gone');
      const first = await post(bad);
      expect(first.status).toBe(503);
      // The bus sends it again: the publisher's fresh channel has declared the triage queue again.
      const again = await post(bad);
      expect(again.status).toBe(200);
      expect(again.data.error).toMatchObject({ code: -32602, data: { field: 'payment.amount' } });
      expect(await client.queueDepth(config.amqp.deadLetterQueue)).toBe(1);
      expect(await client.queueDepth(triageQueueOf(config.amqp))).toBe(1);
      // Sent a third time (its answer lost): the same refusal, no second record.
      const third = await post(bad);
      expect(third.status).toBe(200);
      expect(third.data.error).toMatchObject({ code: -32602, data: { field: 'payment.amount' } });
      expect(await client.queueDepth(config.amqp.deadLetterQueue)).toBe(1);
      expect((await duplicates()) - duplicatesBefore).toBe(1);
      expect(lines.some((l) => l.includes('dead letter already written for this message'))).toBe(true);
    } finally {
      await admin.close().catch(() => undefined);
      await unlinkMatching(redis, `${config.redis.keyPrefix}*`).catch(() => undefined);
      redis.disconnect();
      await web.stop();
      await client.deleteNamespace();
      await client.close();
    }
  });
});
