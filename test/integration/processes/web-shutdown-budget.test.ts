/**
 * A web process's stop against a broker gone silent (real RabbitMQ and Redis, own namespace; a TCP proxy that stops
 * forwarding what the process sends: the connection stays open, nothing is answered), with the process's shutdown
 * budget and an intake request whose publish is waiting for its confirm. The steps of the stop (the requests under
 * way, the backlog probe's and the publisher's closes, the connection's close) share `shutdown.deadline_ms` rather
 * than each waiting its own `amqp.publish_timeout_ms` one after another, so the stop ends within the deadline
 * instead of the process exiting through the deadline's timer with code 1. The request under way is answered 503
 * (not accepted: the bus sends it again), never a dropped socket; sent again once the broker answers, it is accepted.
 */
import axios from 'axios';
import http from 'node:http';
import { ConfirmPublisher } from '../../../src/amqp/confirm-publisher';
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
/** Each broker step's own bound: more than the whole budget, so a publish under way cannot end by its own timeout. */
const BOUND_MS = 8000;
/** The process's deadline: less than one step's own bound. */
const DEADLINE_MS = 6000;

describe('a web stop with a silent broker shares the shutdown deadline (real RabbitMQ, Redis)', () => {
  let proxy: TcpProxy;
  let config: Config;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  const webs: WebProcess[] = [];
  // Keep-alive, as the bus's client: an idle socket must not hold the stop open.
  const agent = new http.Agent({ keepAlive: true });

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
    for (const w of webs) await w.stop().catch(() => undefined);
    agent.destroy();
    await proxy.close();
    await client.deleteNamespace();
    await client.close();
  });

  async function web(logger = captureLogger('info').logger): Promise<WebProcess> {
    const w = await startWebProcess(config, logger);
    webs.push(w);
    return w;
  }

  function post(w: WebProcess, body: unknown) {
    const raw = JSON.stringify(body);
    return axios.post(w.intakeUrl, raw, {
      headers: { 'x-signature': signBody(raw, config.serviceBus.secret), 'content-type': 'application/json' },
      httpAgent: agent,
      validateStatus: () => true,
    });
  }

  it('stops within the deadline, the steps it cut named in a warn line; the request whose publish awaits its confirm is answered 503, and accepted when sent again', async () => {
    const logs = captureLogger('info');
    const first = await web(logs.logger);
    // The channel is open and the topology declared; the keep-alive socket stays, idle.
    await eventually(async () => (await post(first, busCall(CAPTURE, payment()))).status === 200, 10_000);
    proxy.hold();
    const awaiting = payment();
    // Its publish is called once the intake has checked it; slept on instead, a loaded machine could begin the stop
    // before the request reached the intake (its idle socket then closed: a reset, not an answer).
    const publish = ConfirmPublisher.prototype.publish;
    let publishing = (): void => undefined;
    const published = new Promise<void>((resolve) => (publishing = resolve));
    const spy = jest.spyOn(ConfirmPublisher.prototype, 'publish').mockImplementation(function (this: ConfirmPublisher, ...args) {
      if (args[2].includes(JSON.stringify(awaiting.operation_reference))) publishing();
      return publish.apply(this, args);
    });
    const call = busCall(CAPTURE, awaiting, 'awaiting-confirm');
    const underWay = post(first, call).then(
      (res) => ({ status: res.status, code: (res.data as { error?: { code?: number } }).error?.code }),
      (err: Error) => ({ status: 0, error: err.message }),
    );
    // Its publish is sent (to a broker that reads nothing more): waiting for the confirm.
    await published;
    spy.mockRestore();
    const started = Date.now();
    const stopping = first.stop(ShutdownBudget.of(DEADLINE_MS));
    const outcome = await Promise.race([stopping.then(() => 'stopped'), new Promise((r) => setTimeout(() => r('hung'), 30_000).unref())]);
    const tookMs = Date.now() - started;
    expect(outcome).toBe('stopped');
    expect(tookMs).toBeLessThan(DEADLINE_MS);
    // Not accepted (its confirm never came), answered so: the bus sends it again.
    expect(await underWay).toEqual({ status: 503, code: -32000 });
    const cut = logs.lines.find((l) => l.includes('web stop: broker steps cut short to stay within shutdown.deadline_ms'));
    expect(cut).toContain('http_requests');
    expect(cut).toContain('amqp_connection');

    // The silent node's connection goes (the held publish with it); the broker answers again, the bus sends again.
    proxy.cut();
    proxy.restore();
    const second = await web();
    await eventually(async () => (await post(second, call)).status === 200, 10_000);
  });

  it("a stop the broker answers in time names no step cut short, even when the budget is less than a step's own bound", async () => {
    const logs = captureLogger('info');
    const w = await web(logs.logger);
    await eventually(async () => (await post(w, busCall(CAPTURE, payment()))).status === 200, 10_000);
    const budget = ShutdownBudget.of(DEADLINE_MS);
    const started = Date.now();
    await w.stop(budget);
    // The idle keep-alive socket did not hold the close open.
    expect(Date.now() - started).toBeLessThan(2000);
    expect(budget.leftMs()).toBeGreaterThan(0);
    expect(budget.cut).toEqual([]);
    expect(logs.lines.filter((l) => l.includes('broker steps cut short'))).toEqual([]);
  });
});
