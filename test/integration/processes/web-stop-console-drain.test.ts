/**
 * The web process's stop with a request to the operator console under way (real RabbitMQ and Redis, own namespace;
 * the console on its own listener): the console's listener closes as the intake's does, the idle connections at
 * once and the requests under way answered (with `Connection: close`), within the process's shutdown budget,
 * instead of every connection dropped at once (the operator's action got a reset socket, not its answer).
 */
import net from 'node:net';
import { ShutdownBudget } from '../../../src/amqp/shutdown-budget';
import { ConsoleStack, startConsoleStack } from '../../support/console-stack';

jest.setTimeout(30_000);

const DEADLINE_MS = 4000;

describe('a web stop answers the console requests under way (real RabbitMQ, Redis)', () => {
  let stack: ConsoleStack;

  beforeAll(async () => {
    stack = await startConsoleStack({ 'shutdown.deadline_ms': DEADLINE_MS });
  });

  afterAll(async () => {
    await stack.stop().catch(() => undefined);
  });

  it('a login whose form is still arriving when the stop begins is answered, not dropped; the stop ends within the deadline', async () => {
    const url = new URL(`${stack.base}/login`);
    // The console's listener emits 'request' once it has read a request's headers: from then on it is under way.
    const underWay = new Promise<void>((resolve) => stack.web.console!.server.once('request', () => resolve()));
    const socket = net.connect(Number(url.port), url.hostname);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const form = 'username=nobody&password=wrong-password';
    socket.write(
      `POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nOrigin: ${url.origin}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${form.length}\r\n\r\n`,
    );
    socket.write(form.slice(0, 10));
    // The console's handler has the request (its headers read) and waits for the rest of the form. Waited for, not
    // slept on: a loaded machine may run a due timer before it reads the socket, and nothing would be under way.
    await underWay;
    const started = Date.now();
    const stopping = stack.web.stop(ShutdownBudget.of(DEADLINE_MS));
    await new Promise((r) => setTimeout(r, 200));
    socket.write(form.slice(10));
    await Promise.race([ended, new Promise((r) => setTimeout(r, DEADLINE_MS).unref())]);
    await stopping;
    expect(Date.now() - started).toBeLessThan(DEADLINE_MS);
    // Answered (a refused login: any status will do), and told to go elsewhere next time.
    expect(received).toMatch(/^HTTP\/1\.1 \d{3} /);
    expect(received.toLowerCase()).toContain('connection: close');
    socket.destroy();
  });
});
