/**
 * A web stop whose wait for the requests under way ends by its own bound (`amqp.publish_timeout_ms`), not by the
 * shutdown budget (the default: 30 s of deadline, 5 s of publish timeout): an intake publish that began after the
 * stop (its body came late) is still waiting for its confirm from a silent broker then, and is given up (503). The
 * summary warn line names the publishes given up, as when the budget cut the wait (real RabbitMQ and Redis, own
 * namespace; a TCP proxy that stops forwarding).
 */
import axios from 'axios';
import net from 'node:net';
import { ShutdownBudget } from '../../../src/amqp/shutdown-budget';
import { signBody } from '../../../src/bus/x-signature';
import { Config } from '../../../src/config/config';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { busCall, payment } from '../../support/fixtures';
import { TcpProxy, eventually, startTcpProxy } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';

jest.setTimeout(60_000);

const CAPTURE = 'magento.payments.payments_management.capture';
const BOUND_MS = 1500;
/** Far more than the stop's steps: none of them is cut by the budget. */
const DEADLINE_MS = 30_000;

describe('a web stop whose wait for the requests ends by its own bound (real RabbitMQ, Redis)', () => {
  let proxy: TcpProxy;
  let config: Config;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  let web: WebProcess | undefined;

  beforeAll(async () => {
    proxy = await startTcpProxy(Number(new URL(process.env.PB_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672').port || 5672));
    config = testConfig({
      'amqp.url': proxy.url('amqp', 'guest:guest'),
      'amqp.publish_timeout_ms': BOUND_MS,
      'amqp.reconnect_ms': 50,
      'shutdown.deadline_ms': DEADLINE_MS,
    });
    client = await amqpClient(config);
  });

  afterAll(async () => {
    proxy.release();
    await web?.stop().catch(() => undefined);
    await proxy.close();
    await client.deleteNamespace();
    await client.close();
  });

  function signed(body: unknown): { raw: string; signature: string } {
    const raw = JSON.stringify(body);
    return { raw, signature: signBody(raw, config.serviceBus.secret) };
  }

  it('names the publishes it gave up in its warn line', async () => {
    const logs = captureLogger('info');
    const w = await startWebProcess(config, logs.logger);
    web = w;
    await eventually(async () => {
      const { raw, signature } = signed(busCall(CAPTURE, payment()));
      const res = await axios.post(w.intakeUrl, raw, { headers: { 'x-signature': signature, 'content-type': 'application/json' }, validateStatus: () => true });
      return res.status === 200;
    }, 10_000);
    proxy.hold();
    // Headers and half the body before the stop, the rest after: its publish begins once the stop has.
    const { raw, signature } = signed(busCall(CAPTURE, payment(), 'late-body'));
    const url = new URL(w.intakeUrl);
    // The listener emits 'request' once it has read a request's headers: from then on it is under way.
    const underWay = new Promise<void>((resolve) => w.server.server.once('request', () => resolve()));
    const socket = net.connect({ host: url.hostname, port: Number(url.port) });
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    socket.on('error', () => undefined);
    const closed = new Promise((r) => socket.once('close', r));
    await new Promise((r) => socket.once('connect', r));
    const half = Math.floor(raw.length / 2);
    socket.write(
      `POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\ncontent-type: application/json\r\nx-signature: ${signature}\r\ncontent-length: ${Buffer.byteLength(raw)}\r\n\r\n${raw.slice(0, half)}`,
    );
    // Waited for, not slept on: a loaded machine may run a due timer before it reads the socket, and the stop would
    // find nothing under way.
    await underWay;
    const stopping = w.stop(ShutdownBudget.of(DEADLINE_MS));
    await new Promise((r) => setTimeout(r, 300));
    socket.write(raw.slice(half));
    await stopping;
    await closed;
    expect(answer).toMatch(/^HTTP\/1\.1 503 /);
    const line = logs.lines.find((l) => l.includes('web stop:') && l.includes('publishes_given_up'));
    expect(line).toBeDefined();
    expect(line).toContain('"publishes_given_up":1');
  });
});
