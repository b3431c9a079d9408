import { Command } from 'commander';
import type { OpsContext } from '../ops/ops-context';
import { FailedWebhookPlace, failedWebhooks, formatFailedWebhookPlace, parseFailedWebhookPlace, retryFailedWebhooks } from '../ops/failed-webhooks';
import { OpsOutput, OpsWriter, WithOpsContext, jsonOption } from './ops-output';
import { parseLimit } from './limit-option';
import { webhookDigestKeys, webhookEventIdHmac, webhookIdSecretDigest, webhookValueDigest } from '../webhooks/webhook-event-key';

/** The `--before` of `ops webhooks failed`, as the `older:` line under a page prints it; undefined when not given. */
function beforeOption(text: string | undefined): FailedWebhookPlace | undefined {
  if (text === undefined) return undefined;
  const place = parseFailedWebhookPlace(text.trim());
  if (!place) throw new Error("--before must be a place in the list as a page prints it: an epoch ms, optionally followed by : and a job's id");
  return place;
}

/** A word as a POSIX shell reads it back unchanged: as it is when plain, else single-quoted. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9._,:@%+=~/-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * `ops webhooks failed`: one page of {@link failedWebhooks}, newest first (`--limit` rows older than
 * `--before`), audit-logged; under the rows, the command line of the next page (`older: … --before <place>`)
 * when older entries remain. Under `--json`, the rows as before, each with its `place`.
 */
export async function opsFailedWebhooks(
  ctx: OpsContext,
  io: OpsWriter,
  opts: { gateway?: string; limit?: string; before?: string; json?: boolean },
): Promise<number> {
  const limit = parseLimit(opts.limit ?? '50');
  const before = beforeOption(opts.before);
  const page = await failedWebhooks(ctx, { gateway: opts.gateway, limit, before });
  const list = page.webhooks;
  await ctx.audit.record({
    action: 'ops.failed_webhooks',
    actor: io.actor,
    outcome: 'ok',
    detail: { found: list.length, gateway: opts.gateway ?? '*', ...(before ? { before: formatFailedWebhookPlace(before) } : {}) },
  });
  const older = page.older && formatFailedWebhookPlace(page.older);
  const again = (place: string) =>
    [
      'payment-bridge ops webhooks failed',
      opts.gateway ? `--gateway ${shellWord(opts.gateway)}` : '',
      limit === 50 ? '' : `--limit ${limit}`,
      `--before ${shellWord(place)}`,
    ]
      .filter(Boolean)
      .join(' ');
  if (opts.json) io.out.write(`${JSON.stringify(list)}\n`);
  else if (list.length === 0) io.out.write(before ? 'no older webhook outcome is in the failed set\n' : 'no webhook outcome is in the failed set\n');
  else
    io.out.write(
      list
        .map(
          (w) =>
            `${w.gateway}  ${w.event_id}  ${w.operation_id ?? `psp ${w.psp_reference ?? '?'}`}  ${w.outcome}  ${w.reason}  (${w.attempts} attempts, ${w.failed_at ?? 'time unknown'})\n`,
        )
        .join('') + (older ? `older: ${again(older)}\n` : ''),
    );
  return 0;
}

/** `ops webhooks retry <gateway> <event-id...>`: {@link retryFailedWebhooks}; exit 1 when one of them was not in the failed set. */
export async function opsRetryWebhooks(ctx: OpsContext, io: OpsWriter, opts: { gateway: string; ids: string[]; json?: boolean }): Promise<number> {
  const results = (
    await retryFailedWebhooks(
      ctx,
      opts.ids.map((eventId) => ({ gateway: opts.gateway, eventId })),
      io.actor,
    )
  ).map(({ event_id, result }) => ({
    event_id,
    result,
  }));
  io.out.write(opts.json ? `${JSON.stringify(results)}\n` : results.map((r) => `${opts.gateway} ${r.event_id}: ${r.result.replace(/_/g, ' ')}\n`).join(''));
  return results.every((r) => r.result === 'retried') ? 0 : 1;
}

/** How `ops webhooks digest` takes its value, as its refusals say it. */
const DIGEST_USAGE = "give the value on standard input: printf %s 'VALUE' | payment-bridge ops webhooks digest";

/**
 * `ops webhooks digest`: the keyed digest of the value on standard input (its bytes as UTF-8, taken whole: give it with
 * `printf %s`, never `echo`), as the web role computes it from `service_bus.secret` of the same configuration: the
 * `value_hmac` (or `key_id_hmac`) of a skip line, with `eventKey` the `hmac:<hex>` an event id holding a card number
 * is queued, deduplicated and recorded under, or with `token` the 16 hex digits an Adyen RECURRING_CONTRACT's event id
 * ends in for its token (`webhookIdSecretDigest`: the item is found by its token in a skip line's `event_id`, the
 * failed set, a history's `provider_event_id`). Prints only the digest, never the key; the value is read from standard
 * input so that it stays out of the shell's history and the process list; from a terminal (the value would be echoed),
 * empty, or with both `eventKey` and `token`, refused (exit 2). Audit-logged without the value or the digest.
 */
export async function opsWebhookDigest(
  ctx: { config: Pick<OpsContext['config'], 'serviceBus'>; audit: Pick<OpsContext['audit'], 'record'> },
  io: Pick<OpsOutput, 'out' | 'err' | 'actor'>,
  input: AsyncIterable<Buffer | string> & { isTTY?: boolean },
  opts: { eventKey?: boolean; token?: boolean; json?: boolean },
): Promise<number> {
  if (opts.eventKey && opts.token) {
    io.err.write('payment-bridge: --event-key and --token are two digests of two keys: give one of them\n');
    return 2;
  }
  // A terminal echoes what is typed: the card number would be on screen (and in its scrollback), so piped input only.
  if (input.isTTY === true) {
    io.err.write(`payment-bridge: ${DIGEST_USAGE}, not typed at the terminal (it would be echoed)\n`);
    return 2;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk);
  const value = Buffer.concat(chunks).toString('utf8');
  // Nothing piped (a forgotten pipe, an empty variable): the digest of nothing matches no logged line.
  if (value === '') {
    io.err.write(`payment-bridge: no value on standard input; ${DIGEST_USAGE}\n`);
    return 2;
  }
  const kind = opts.eventKey ? 'event_key' : opts.token ? 'token_digest' : 'value_hmac';
  await ctx.audit.record({ action: 'ops.webhook_digest', actor: io.actor, outcome: 'ok', detail: { kind } });
  const keys = webhookDigestKeys(ctx.config.serviceBus.secret);
  const digest = opts.eventKey ? webhookEventIdHmac(keys, value) : opts.token ? webhookIdSecretDigest(keys, value) : webhookValueDigest(keys, value).hex;
  io.out.write(opts.json ? `${JSON.stringify({ [kind]: digest })}\n` : `${digest}\n`);
  return 0;
}

/** Adds `ops webhooks failed`, `ops webhooks retry <gateway> <event-id...>` and `ops webhooks digest` to the `ops` command. */
export function addWebhookCommands(ops: Command, withContext: WithOpsContext): void {
  const webhooks = ops.command('webhooks').description('webhook outcomes the outcome worker gave up on: list, retry; the keyed digest of a value');
  webhooks
    .command('failed')
    .description('webhook outcomes in the failed set (never matched, never confirmed, refused, or a fault), newest first')
    .option('--gateway <name>', 'only this gateway')
    .option('--limit <n>', 'at most this many a page', '50')
    .option('--before <place>', 'the page below this place (older), as the older: line under a page prints it')
    .addOption(jsonOption())
    .action((opts: { gateway?: string; limit?: string; before?: string; json?: boolean }) => withContext((ctx, io) => opsFailedWebhooks(ctx, io, opts)));
  webhooks
    .command('retry <gateway> <event-ids...>')
    .description('apply failed webhook outcomes again after a fix (attempts reset; idempotent)')
    .addOption(jsonOption())
    .action((gateway: string, ids: string[], opts: { json?: boolean }) => withContext((ctx, io) => opsRetryWebhooks(ctx, io, { gateway, ids, ...opts })));
  webhooks
    .command('digest')
    .description(
      "the keyed digest of the value on standard input (printf %s VALUE | ...): a skip line's value_hmac or key_id_hmac, with --event-key the hmac:<hex> key of an event id holding a card number, with --token the digest an Adyen RECURRING_CONTRACT's event id ends in for its token",
    )
    .option('--event-key', 'print the event key (hmac:<hex>) an event id holding a card number is queued and recorded under')
    .option('--token', "print the 16 hex digits an Adyen RECURRING_CONTRACT's event id ends in for the token (its pspReference) on standard input")
    .addOption(jsonOption())
    .action((opts: { eventKey?: boolean; token?: boolean; json?: boolean }) => withContext((ctx, io) => opsWebhookDigest(ctx, io, process.stdin, opts)));
}
