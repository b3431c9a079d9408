/**
 * The console's replay form is refused whole, with 400 naming the parameter, when it names something that is
 * no dead letter or a mode the form does not offer; it used to drop what did not look like a dead letter's
 * id and replay the rest (and treat any mode but `execute` as a dry run), so what was replayed was not what
 * was sent (OWASP Input Validation Cheat Sheet: reject, do not repair).
 */
import { ConsoleStack, consoleSession, startConsoleStack, CONSOLE_PASSWORD, ConsoleSession } from '../../support/console-stack';
import { consoleLogin, sessionCookie } from '../../support/console-login';
import { DeadLetterRecord, DeadLetterStore } from '../../../src/ops/dead-letter-store';
import { TEST_PANS } from '../../support/fixtures';

describe('console replay form: refused whole when it names no dead letter or no mode of the form', () => {
  let stack: ConsoleStack;
  let operator: ConsoleSession;
  const record: DeadLetterRecord = {
    id: `dl-${'cd'.repeat(12)}`,
    deadLetteredAt: Date.now(),
    archivedAt: Date.now(),
    code: 'GATEWAY_NOT_CONFIGURED',
    field: 'payment.gateway',
    reason: 'gateway "nowhere" is not configured',
    source: 'amqp:commands',
    replayable: true,
    category: 'config',
    impact: 1,
    body: '{}',
    replays: 0,
  };

  beforeAll(async () => {
    stack = await startConsoleStack();
    operator = consoleSession(stack, sessionCookie(await consoleLogin(stack.base, CONSOLE_PASSWORD)));
    expect(await new DeadLetterStore(stack.redis, stack.config.redis.keyPrefix).archive(record)).toBe(true);
  });

  afterAll(() => stack.stop());

  const replays = async () => (await operator.audited('dead_letter.replay')).length;

  it('answers 400 naming id when one of the ids is no dead letter (a card number among them), replays none and echoes none', async () => {
    const before = await replays();
    for (const odd of ['not-a-dead-letter', TEST_PANS[0]]) {
      const res = await operator.post('dead-letters/replay', `id=${record.id}&id=${odd}&mode=dry_run&csrf=${await operator.csrf()}`);
      expect(res.status).toBe(400);
      const page = await res.text();
      expect(page).toContain('The parameter id must name dead letters as the dashboard lists them');
      expect(page).not.toContain(odd);
    }
    expect(await replays()).toBe(before);
  });

  it('answers 400 naming mode for a mode the form does not offer, and replays nothing', async () => {
    const before = await replays();
    const res = await operator.post('dead-letters/replay', `id=${record.id}&mode=Execute&csrf=${await operator.csrf()}`);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('The parameter mode must be dry_run or execute.');
    expect(await replays()).toBe(before);
  });

  it('still runs a dry run of what the dashboard lists, with mode dry_run or with none', async () => {
    for (const mode of ['&mode=dry_run', '']) {
      const res = await operator.post('dead-letters/replay', `id=${record.id}${mode}&csrf=${await operator.csrf()}`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain(`data-dead-letter="${record.id}"`);
    }
    const audited = await operator.audited('dead_letter.replay');
    expect(audited.slice(-2).map((e) => [e.target, e.outcome])).toEqual([
      [record.id, 'dry_run'],
      [record.id, 'dry_run'],
    ]);
  });
});
