import { logMovedMeanwhile } from '../../../src/delivery/moved-meanwhile';
import { captureLogger } from '../../support/capture-logger';

/**
 * Every move decided on the record as read that another move beat (a webhook's PSP fact, another worker) is said in
 * one wording: what was not recorded, the record as read, the state found, and the fields of its own.
 */
describe('logMovedMeanwhile', () => {
  const read = { id: 'op-moved-meanwhile', state: 'SENT', attempts: 2 } as const;

  it('says what was not recorded, the record as read and the state found, with the fields of its own, at info', () => {
    const { logger, lines } = captureLogger();
    logMovedMeanwhile(logger, 'give-up', read, 'PENDING', { command: 'authorize', cause: 'delivery.max_age_ms passed' });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({
      level: 'info',
      message: 'give-up not recorded: the operation moved meanwhile (a PSP fact, another worker); it stands as that move left it',
      operation_id: 'op-moved-meanwhile',
      command: 'authorize',
      cause: 'delivery.max_age_ms passed',
      read_state: 'SENT',
      read_attempts: 2,
      state: 'PENDING',
    });
  });

  it('says missing for a record gone meanwhile, and keeps the wording the RUNBOOK quotes for a delivery fault', () => {
    const { logger, lines } = captureLogger();
    logMovedMeanwhile(logger, 'delivery fault set-aside', read, null);
    const line = JSON.parse(lines[0]) as { message: string; state: string };
    expect(line.message.startsWith('delivery fault set-aside not recorded: the operation moved meanwhile')).toBe(true);
    expect(line.state).toBe('missing');
  });
});
