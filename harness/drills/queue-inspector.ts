import amqplib from 'amqplib';
import { Config } from '../../src/config/config';
import { Finding } from '../workload/card-data-scan';

/** Messages waiting in the commands and dead-letter queues right now. */
export async function queueDepths(config: Config): Promise<{ commands: number; deadLetter: number }> {
  const connection = await amqplib.connect(config.amqp.url);
  try {
    const channel = await connection.createChannel();
    const commands = await channel.checkQueue(config.amqp.commandsQueue);
    const deadLetter = await channel.checkQueue(config.amqp.deadLetterQueue);
    await channel.close();
    return { commands: commands.messageCount, deadLetter: deadLetter.messageCount };
  } finally {
    await connection.close();
  }
}

/**
 * Polls until the commands queue is empty and the dead-letter depth stopped moving (or reached
 * `expectDeadLetters`), so counts are read after the consumers are done, not mid-flight.
 *
 * @param timeoutMs give up after this long and return the last depths. Default 30 000 ms.
 */
export async function waitForQueuesToSettle(
  config: Config,
  options: { expectDeadLetters?: number; timeoutMs?: number } = {},
): Promise<{ commands: number; deadLetter: number }> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let last = await queueDepths(config);
  let stableSince = Date.now();
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    const now = await queueDepths(config);
    if (now.commands !== last.commands || now.deadLetter !== last.deadLetter) stableSince = Date.now();
    last = now;
    const reached = options.expectDeadLetters === undefined || now.deadLetter >= options.expectDeadLetters;
    if (now.commands === 0 && reached && Date.now() - stableSince >= 1000) break;
  }
  return last;
}

/** What the dead-letter queue holds: how many, how many carry `x-pb-reason`, and card numbers found. */
export interface DeadLetterReport {
  count: number;
  withReason: number;
  /** Count per `x-pb-code` header. */
  byCode: Record<string, number>;
  findings: Finding[];
}

/**
 * Reads every dead-lettered message (unacknowledged: closing the channel puts them back) and scans body and
 * headers for `needles` (card numbers). Findings name only the needle's last four characters.
 */
export async function inspectDeadLetters(config: Config, needles: readonly string[]): Promise<DeadLetterReport> {
  const connection = await amqplib.connect(config.amqp.url);
  const report: DeadLetterReport = { count: 0, withReason: 0, byCode: {}, findings: [] };
  try {
    const channel = await connection.createChannel();
    for (let msg = await channel.get(config.amqp.deadLetterQueue); msg; msg = await channel.get(config.amqp.deadLetterQueue)) {
      report.count += 1;
      const headers = (msg.properties.headers ?? {}) as Record<string, unknown>;
      if (typeof headers['x-pb-reason'] === 'string' && headers['x-pb-reason'] !== '') report.withReason += 1;
      const code = String(headers['x-pb-code'] ?? '(none)');
      report.byCode[code] = (report.byCode[code] ?? 0) + 1;
      const text = msg.content.toString('utf8') + JSON.stringify(headers);
      for (const needle of needles) if (text.includes(needle)) report.findings.push({ where: `dead letter #${report.count}`, needle: `…${needle.slice(-4)}` });
    }
    await channel.close();
  } finally {
    await connection.close();
  }
  return report;
}
