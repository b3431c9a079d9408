import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { Writable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { coalescedLines } from '../../../src/logging/log-line-coalescing';
import { createLogger } from '../../../src/logging/logger';

/** The messages of the JSON lines of one write, in order. */
function messagesOf(write: string): string[] {
  return write
    .split('\n')
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { message: string }).message);
}

/** A destination that records each write it is handed (not each line). */
function recordingStream(): { stream: Writable; writes: string[] } {
  const writes: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      writes.push(chunk.toString());
      done();
    },
  });
  return { stream, writes };
}

describe('coalescedLines', () => {
  it('hands the destination the lines of one turn in one write, in order, at the end of the turn', async () => {
    const { stream, writes } = recordingStream();
    const logger = createLogger({ level: 'info', stream, coalesce: true });
    logger.info('first', { operation_id: 'op-1' });
    logger.warn('second');
    logger.info('third');
    expect(writes).toEqual([]);
    await nextTurn();
    expect(writes).toHaveLength(1);
    expect(messagesOf(writes[0])).toEqual(['first', 'second', 'third']);
  });

  it('writes each turn apart, and nothing for a turn without lines', async () => {
    const { stream, writes } = recordingStream();
    const write = coalescedLines(stream);
    write('a\n');
    await nextTurn();
    await nextTurn();
    write('b\n');
    await nextTurn();
    expect(writes).toEqual(['a\n', 'b\n']);
  });

  it('writes at once past 64 KiB held, without waiting for the turn to end', () => {
    const { stream, writes } = recordingStream();
    const write = coalescedLines(stream);
    const line = `${'x'.repeat(1023)}\n`;
    for (let i = 0; i < 64; i += 1) write(line);
    expect(writes).toHaveLength(1);
    expect(writes[0]).toHaveLength(64 * 1024);
  });

  it('shares one buffer between two loggers of the same destination, so their lines keep the order they were logged in', async () => {
    const { stream, writes } = recordingStream();
    const web = createLogger({ level: 'info', stream, coalesce: true, service: 'a' });
    const other = createLogger({ level: 'info', stream, coalesce: true, service: 'b' });
    web.info('one');
    other.info('two');
    web.info('three');
    await nextTurn();
    expect(writes).toHaveLength(1);
    expect(messagesOf(writes[0])).toEqual(['one', 'two', 'three']);
  });

  it('without coalesce a logger writes each line at once', () => {
    const { stream, writes } = recordingStream();
    const logger = createLogger({ level: 'info', stream });
    logger.info('now');
    expect(writes).toHaveLength(1);
  });

  it('writes the lines held when the process exits: after process.exit and after an uncaught exception', () => {
    // The build `npm test` makes first (scripts/prepare.sh): a process of its own, to exit.
    const module = resolve(__dirname, '../../../dist/src/logging/logger.js');
    const run = (tail: string): string =>
      spawnSync(
        process.execPath,
        [
          '-e',
          `const { createLogger } = require(${JSON.stringify(module)}); const l = createLogger({ level: 'info', coalesce: true }); l.info('last words'); ${tail}`,
        ],
        {
          encoding: 'utf8',
          cwd: resolve(__dirname, '../../..'),
        },
      ).stdout;
    expect(run('process.exit(3);')).toContain('"message":"last words"');
    expect(run("setImmediate(() => { throw new Error('boom'); });")).toContain('"message":"last words"');
  });
});
