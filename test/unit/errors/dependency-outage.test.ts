import { ReplyError } from 'ioredis';
import { DependencyUnavailableError } from '../../../src/errors/dependency-unavailable-error';
import { errorClassOf, isDependencyOutage } from '../../../src/errors/dependency-outage';

describe('isDependencyOutage', () => {
  it('holds the message for outages: our own DependencyUnavailableError, socket errors, closed connections, a loading or read-only Redis', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
    for (const err of [
      new DependencyUnavailableError('rabbitmq', 'broker not connected'),
      refused,
      new Error('Connection is closed.'),
      new ReplyError('LOADING Redis is loading the dataset in memory'),
      new ReplyError("READONLY You can't write against a read only replica."),
    ]) {
      expect(isDependencyOutage(err)).toBe(true);
    }
  });

  it('blames the message for errors a live dependency answered, and for plain programming errors', () => {
    for (const err of [
      new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value'),
      new Error('Custom Id cannot be integers'),
      new RangeError('Maximum call stack size exceeded'),
      new TypeError('x is undefined'),
      'a string',
    ]) {
      expect(isDependencyOutage(err)).toBe(false);
    }
  });
});

describe('isDependencyOutage on a Redis Cluster', () => {
  it('holds the message when a slot moved or a failover outlasted the retries: MOVED and ASK replies (the command did not run; a pipelined batch hands them to the caller), too many redirections', () => {
    for (const err of [
      new ReplyError('MOVED 15224 127.0.0.1:7004'),
      new ReplyError('ASK 15224 127.0.0.1:7004'),
      new ReplyError('TRYAGAIN Multiple keys request during rehashing of slot'),
      new ReplyError('CLUSTERDOWN The cluster is down'),
      new Error('Too many Cluster redirections. Last error: Error: Connection is closed.'),
      // ioredis' commandTimeout: the cluster's nodes restarting held the command until it ran out.
      new Error('Command timed out'),
    ]) {
      expect(isDependencyOutage(err)).toBe(true);
    }
  });

  it('still blames the message for a CROSSSLOT reply (keys of one command in several slots: retrying cannot help)', () => {
    expect(isDependencyOutage(new ReplyError("CROSSSLOT Keys in request don't hash to the same slot"))).toBe(false);
  });
});

describe('errorClassOf', () => {
  it('names the class, never the message', () => {
    expect(errorClassOf(new ReplyError('WRONGTYPE 4111111111111111'))).toBe('ReplyError');
    expect(errorClassOf(new RangeError('x'))).toBe('RangeError');
    expect(errorClassOf('boom')).toBe('string');
  });
});
