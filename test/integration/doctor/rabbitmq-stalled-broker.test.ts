/**
 * The doctor's RabbitMQ checks against a broker that accepts the connection and then stops answering (real
 * RabbitMQ behind a proxy that stops forwarding at a chosen AMQP call): every call is bounded by the check's
 * timeout, so the doctor reports a FAIL naming the call and returns rather than hanging.
 */
import { checkRabbitMq } from '../../../src/doctor/rabbitmq-checks';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { AMQP_METHOD, AmqpStallProxy, startAmqpStallProxy } from '../../support/amqp-stall-proxy';
import { testConfig } from '../../support/test-config';

const BOUND_MS = 300;

describe('doctor RabbitMQ checks with a broker that stops answering (real RabbitMQ)', () => {
  let proxy: AmqpStallProxy;

  beforeEach(async () => {
    proxy = await startAmqpStallProxy();
  });

  afterEach(async () => {
    await proxy.close();
  });

  it('a queue check not answered is a FAIL naming the call within its bound, counted, and the doctor returns', async () => {
    const config = testConfig({ 'amqp.url': proxy.url });
    const before = await metricValue('pb_amqp_call_timeouts_total', { what: 'doctor' });
    proxy.stallAt(AMQP_METHOD.queueDeclare);
    const started = Date.now();
    const hung = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 5000).unref());
    const results = await Promise.race([checkRabbitMq(config, BOUND_MS), hung]);
    expect(results).not.toBe('hung');
    // The read's bound, then its channel's close (not answered either: the connection is dropped).
    expect(Date.now() - started).toBeLessThan(2 * BOUND_MS + 1000);
    expect(proxy.stalled).toBe(1);
    const queueRows = (results as Exclude<typeof results, 'hung'>).filter((r) => r.check === 'queue');
    expect(queueRows[0]).toMatchObject({ status: 'FAIL' });
    expect(JSON.stringify(queueRows[0])).toContain(`rabbitmq: timed out counting ${config.amqp.commandsQueue} after ${BOUND_MS} ms`);
    expect(await metricValue('pb_amqp_call_timeouts_total', { what: 'doctor' })).toBe(before + 1);
  });
});
