import { queueArguments } from '../../../src/amqp/queue-arguments';

const base = { deadLetterExchange: 'pb.dlx' } as const;

describe('queueArguments', () => {
  it('declares classic queues with their type and, on consumed queues, the dead-letter exchange only', () => {
    const amqp = { ...base, queueType: 'classic', deadLetterStrategy: 'at-most-once' } as const;
    expect(queueArguments(amqp, { deadLetters: false })).toEqual({ 'x-queue-type': 'classic' });
    expect(queueArguments(amqp, { deadLetters: true })).toEqual({ 'x-queue-type': 'classic', 'x-dead-letter-exchange': 'pb.dlx' });
  });

  it('keeps quorum queues at-most-once exactly as earlier versions declared them (no new argument)', () => {
    const amqp = { ...base, queueType: 'quorum', deadLetterStrategy: 'at-most-once' } as const;
    expect(queueArguments(amqp, { deadLetters: true })).toEqual({ 'x-queue-type': 'quorum', 'x-dead-letter-exchange': 'pb.dlx' });
  });

  it('declares at-least-once dead-lettering on quorum queues with reject-publish overflow, which it requires', () => {
    const amqp = { ...base, queueType: 'quorum', deadLetterStrategy: 'at-least-once' } as const;
    expect(queueArguments(amqp, { deadLetters: true })).toEqual({
      'x-queue-type': 'quorum',
      'x-dead-letter-exchange': 'pb.dlx',
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
    });
    // Queues nothing is dead-lettered from carry no strategy.
    expect(queueArguments(amqp, { deadLetters: false })).toEqual({ 'x-queue-type': 'quorum' });
  });

  it('never declares x-max-priority (quorum queues have no priorities)', () => {
    for (const queueType of ['classic', 'quorum'] as const)
      expect(Object.keys(queueArguments({ ...base, queueType, deadLetterStrategy: 'at-most-once' }, { deadLetters: true }))).not.toContain('x-max-priority');
  });
});
