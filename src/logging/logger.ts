import { Writable } from 'node:stream';
import winston from 'winston';
import { redact } from './redact';

/** The bridge's logger type: winston's, so `child({ operation_id })` gives a correlated logger. */
export type Logger = winston.Logger;


/** Winston format that redacts every field of a log entry (message, metadata, errors) before it is written. */
const redactFormat = winston.format((info) => {
  for (const key of Object.keys(info)) {
    (info as Record<string, unknown>)[key] = redact((info as Record<string, unknown>)[key]);
  }
  return info;
});

export interface LoggerOptions {
  /** Lowest level written. Default `info`. */
  level?: string;
  /** Process role (`web`, `worker`, …), added to every line. */
  service?: string;
  /** Where JSON lines go. Default stdout. Tests pass a stream to capture output. */
  stream?: Writable;
}

/** JSON-lines logger with redaction at the logger: no caller can forget it. */
export function createLogger(options: LoggerOptions = {}): Logger {
  return winston.createLogger({
    level: options.level ?? process.env.PB_LOG_LEVEL ?? 'info',
    defaultMeta: options.service ? { service: options.service } : undefined,
    format: winston.format.combine(
      winston.format.errors({ stack: true }),
      winston.format.timestamp(),
      redactFormat(),
      winston.format.json(),
    ),
    transports: [new winston.transports.Stream({ stream: options.stream ?? process.stdout })],
  });
}

/** A logger that writes nothing; for library callers that pass none. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}

