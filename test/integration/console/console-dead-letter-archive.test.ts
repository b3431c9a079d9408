/**
 * The console's dashboard only reads: loading it (a GET, which a browser may prefetch and the page's script
 * repeats) leaves the dead-letter queue as it is. Moving the queue into the archive is the workers' periodic
 * pass, or the operator's "archive now", a POST with the session's CSRF token, audit-logged.
 */
import { CONSOLE_PASSWORD, ConsoleStack, startConsoleStack } from '../../support/console-stack';
import { deadLetterStampKey } from '../../../src/amqp/dead-letter-stamp';
import { AmqpConnection } from '../../../src/amqp/amqp-connection';
import { ConfirmPublisher } from '../../../src/amqp/confirm-publisher';
import { DeadLetterWriter } from '../../../src/amqp/dead-letter-writer';
import { auditStreamKey } from '../../../src/audit/audit-log';
import { silentLogger } from '../../../src/logging/logger';
import { amqpClient } from '../../support/amqp-helpers';
import { consoleLogin, sessionCookie } from '../../support/console-login';
import { channelCommand } from '../../support/fixtures';

describe('console dead letters: the dashboard reads, "archive now" moves', () => {
  let stack: ConsoleStack;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  let connection: AmqpConnection;
  let publisher: ConfirmPublisher;
  let cookie: string;

  beforeAll(async () => {
    stack = await startConsoleStack({ 'amqp.dead_letter_archive_interval_ms': 10000 });
    client = await amqpClient(stack.config);
    connection = new AmqpConnection({ url: stack.config.amqp.url, logger: silentLogger() });
    await connection.connect();
    publisher = new ConfirmPublisher(connection, 5000);
    cookie = sessionCookie(await consoleLogin(stack.base, CONSOLE_PASSWORD));
    const writer = new DeadLetterWriter(publisher, stack.config.amqp, undefined, deadLetterStampKey(stack.config.serviceBus.secret));
    await writer.write(Buffer.from(JSON.stringify(channelCommand('authorize', {}, { order_id: 'ORD-CON-ARCHIVE' }))), {
      code: 'UNEXPECTED_ERROR',
      field: '(root)',
      reason: 'unexpected_error: DependencyUnavailableError',
      source: `amqp:${stack.config.amqp.commandsQueue}`,
    });
  });

  afterAll(async () => {
    await publisher.close();
    await connection.close();
    await client.close();
    await stack.stop();
  });

  const dashboard = async () => (await fetch(stack.base, { headers: { cookie } })).text();
  const archiveActions = async () =>
    (await stack.redis.xrange(auditStreamKey(stack.config.redis.keyPrefix), '-', '+'))
      .map(([, f]) => JSON.parse(f[1]) as { action: string; outcome: string; detail?: Record<string, unknown> })
      .filter((e) => e.action === 'ops.dead_letters_archive');

  it('loading the dashboard three times leaves the dead letter in the queue and out of the archive, and says how it gets there', async () => {
    for (let i = 0; i < 3; i += 1) expect(await dashboard()).not.toContain('ORD-CON-ARCHIVE');
    expect(await client.queueDepth(stack.config.amqp.deadLetterQueue)).toBe(1);
    expect(await dashboard()).toContain('moved from the dead-letter queue by the workers every 10 s');
  });

  it('refuses "archive now" without the CSRF token, moving nothing', async () => {
    const res = await fetch(`${stack.base}/dead-letters/archive`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'csrf=wrong',
    });
    expect(res.status).toBe(403);
    expect(await client.queueDepth(stack.config.amqp.deadLetterQueue)).toBe(1);
  });

  it('"archive now" moves the queue into the archive, back to the dashboard, which then lists it; audit-logged with the count', async () => {
    const csrf = /name="csrf" value="([^"]+)"/.exec(await dashboard())?.[1] ?? '';
    expect(csrf).not.toBe('');
    const res = await fetch(`${stack.base}/dead-letters/archive`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: `csrf=${encodeURIComponent(csrf)}`,
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(stack.config.console.path);
    expect(await client.queueDepth(stack.config.amqp.deadLetterQueue)).toBe(0);
    expect(await dashboard()).toContain('ORD-CON-ARCHIVE');
    expect((await archiveActions()).map((e) => [e.outcome, e.detail?.moved])).toEqual([['ok', 1]]);
  });
});
