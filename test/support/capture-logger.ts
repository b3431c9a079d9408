import { Writable } from 'node:stream';
import { Logger, createLogger } from '../../src/logging/logger';

/** A real logger (redaction and all) whose JSON lines are kept in memory for assertions. */
export function captureLogger(level = 'debug'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { logger: createLogger({ level, stream }), lines };
}
