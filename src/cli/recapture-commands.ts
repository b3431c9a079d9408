import { Command } from 'commander';
import type { OpsContext } from '../ops/ops-context';
import { dismissHeldRecaptures, heldRecaptures } from '../ops/held-recaptures';
import { HeldRetryRelease, heldForPspRetry, releaseHeldForPspRetry, releasedEffect } from '../ops/held-for-psp-retry';
import { formatMinor } from '../money/minor-units';
import { formatDuration } from './duration';
import { parseLimit } from './limit-option';
import { OpsWriter, WithOpsContext, jsonOption } from './ops-output';

/** A re-capture's amount as an operator reads it (its minor units when the currency has no known exponent). */
function amountText(amount: number | null, currency: string | null): string {
  if (amount === null || currency === null) return 'amount unknown';
  try {
    return `${formatMinor(amount, currency)} ${currency}`;
  } catch {
    return `${amount} (minor units) ${currency}`;
  }
}

/**
 * A held list command: `read` up to `--limit` (default 50) entries, `--all` or only those past their wait, audited as
 * `action`, written as JSON, as `empty` (`[all, past wait]`) when none, or a `line` each. Exit 0.
 */
async function writeHeldList<T>(
  ctx: OpsContext,
  io: OpsWriter,
  opts: { all?: boolean; limit?: string; json?: boolean },
  list: { action: string; read(limit: number, all: boolean): Promise<T[]>; empty: readonly [string, string]; line(entry: T): string },
): Promise<number> {
  const all = opts.all === true;
  const found = await list.read(parseLimit(opts.limit ?? '50'), all);
  await ctx.audit.record({ action: list.action, actor: io.actor, outcome: 'ok', detail: { found: found.length, all } });
  if (opts.json) io.out.write(`${JSON.stringify(found)}\n`);
  else if (found.length === 0) io.out.write(`${list.empty[all ? 0 : 1]}\n`);
  else io.out.write(found.map((entry) => `${list.line(entry)}\n`).join(''));
  return 0;
}

/** `ops recaptures list [--all]`: {@link heldRecaptures}, longest waiting first, audit-logged. */
export function opsHeldRecaptures(ctx: OpsContext, io: OpsWriter, opts: { all?: boolean; limit?: string; json?: boolean }): Promise<number> {
  return writeHeldList(ctx, io, opts, {
    action: 'ops.held_recaptures',
    read: (limit, all) => heldRecaptures(ctx, { limit, all }),
    empty: ['no re-capture is held waiting for its capture failure', 'no re-capture is held past delivery.recapture_failure_wait_ms'],
    line: (r) =>
      `${r.operation_id}  ${r.command}  ${r.gateway}  psp ${r.psp_reference ?? '?'}  re-captured ${r.recaptured_at ?? 'at an unknown time'}  ${amountText(r.amount, r.currency)}  waiting ${formatDuration(r.waited_ms)}${r.past_wait ? '' : ' (within its wait)'}`,
  });
}

/** `ops recaptures dismiss <operation-id...>`: {@link dismissHeldRecaptures}; exit 1 when one of them was not waiting. */
export async function opsDismissRecaptures(ctx: OpsContext, io: OpsWriter, opts: { ids: string[]; json?: boolean }): Promise<number> {
  const results = await dismissHeldRecaptures(ctx, opts.ids, io.actor);
  io.out.write(opts.json ? `${JSON.stringify(results)}\n` : results.map((r) => `${r.operation_id}: ${r.result.replace(/_/g, ' ')}\n`).join(''));
  return results.every((r) => r.result === 'dismissed') ? 0 : 1;
}

/** `ops held-retries list [--all]`: {@link heldForPspRetry}, longest held first, audit-logged. */
export function opsHeldForPspRetry(ctx: OpsContext, io: OpsWriter, opts: { all?: boolean; limit?: string; json?: boolean }): Promise<number> {
  return writeHeldList(ctx, io, opts, {
    action: 'ops.held_retry_list',
    read: (limit, all) => heldForPspRetry(ctx, { limit, all }),
    empty: ['no capture or refund is held for its PSP retry', 'no capture or refund is held for its PSP retry past 10 days'],
    line: (r) =>
      `${r.operation_id}  ${r.command}  ${r.gateway}  of ${r.authorization_id}  psp ${r.psp_reference ?? '?'}  ${amountText(r.amount, r.currency)}  held ${formatDuration(r.held_ms)}${r.overdue ? ' (past the PSP retry: ask the PSP)' : ''}  ${r.psp_reason}`,
  });
}

/** What an operator reads of a refused release: why, and what to do. */
const RELEASE_REFUSALS: Record<Exclude<HeldRetryRelease['result'], 'released' | 'would_release'>, string> = {
  not_found: 'refused: no such operation',
  not_held: "refused: not held for its PSP's retry (not a capture or refund recorded FAILED that the PSP retries itself)",
  retry_succeeded: "refused: the PSP's retry is recorded done; it stays captured or refunded",
  already_released: 'refused: already released by an operator (see ops show)',
};

/**
 * `ops held-retries release <operation-id> --reason <text> [--execute]`: {@link releaseHeldForPspRetry}, a dry run
 * unless `--execute`. Exit 1 when refused (not found, not held, retry done, released before), 2 without a reason.
 */
export async function opsReleaseHeldRetry(
  ctx: OpsContext,
  io: OpsWriter,
  opts: { id: string; reason?: string; execute?: boolean; json?: boolean },
): Promise<number> {
  const reason = (opts.reason ?? '').trim();
  if (reason === '') {
    io.out.write('refused: --reason is required (what the PSP confirmed, e.g. the Adyen Support case)\n');
    return 2;
  }
  const r = await releaseHeldForPspRetry(ctx, opts.id, { reason, execute: opts.execute === true, actor: io.actor });
  if (opts.json) io.out.write(`${JSON.stringify(r)}\n`);
  else if (r.result === 'released' || r.result === 'would_release') {
    const h = r.held;
    const what = h ? `${h.command} ${h.gateway} of ${h.authorization_id}  ${amountText(h.amount, h.currency)}  ${h.psp_reason}` : '';
    io.out.write(
      r.result === 'released'
        ? `${r.operation_id}: released (${what}): ${releasedEffect(h?.command ?? '')}\n`
        : `DRY RUN: nothing was changed; ${r.operation_id} would be released (${what}) (run again with --execute)\n`,
    );
  } else io.out.write(`${r.operation_id}: ${RELEASE_REFUSALS[r.result]}\n`);
  return r.result === 'released' || r.result === 'would_release' ? 0 : 1;
}

/**
 * Adds `ops held-retries list` and `ops held-retries release`: captures and refunds the PSP failed but retries itself
 * (their amount held), those held past the PSP's retry first; and an operator's release of one the PSP will not retry.
 */
export function addHeldRetryCommands(ops: Command, withContext: WithOpsContext): void {
  const held = ops
    .command('held-retries')
    .description("captures and refunds FAILED that the PSP retries itself (Adyen's technical issue), their amount held: list, release");
  held
    .command('list')
    .description('those held past the PSP retry (10 days), longest held first')
    .option('--all', 'also those still within it')
    .option('--limit <n>', 'at most this many', '50')
    .addOption(jsonOption())
    .action((opts: { all?: boolean; limit?: string; json?: boolean }) => withContext((ctx, io) => opsHeldForPspRetry(ctx, io, opts)));
  held
    .command('release <operation-id>')
    .description(
      'once the PSP confirmed no retry will come: the amount is no longer held (a capture: a cancel is allowed again; a refund: a refund of it) (dry run unless --execute; audit-logged)',
    )
    .requiredOption('--reason <text>', 'why (what the PSP confirmed, e.g. the support case); kept on the record')
    .option('--execute', 'release it (default: a dry run that only says what it would do)')
    .addOption(jsonOption())
    .action((id: string, opts: { reason?: string; execute?: boolean; json?: boolean }) =>
      withContext((ctx, io) => opsReleaseHeldRetry(ctx, io, { id, ...opts })),
    );
}

/** Adds `ops recaptures list` and `ops recaptures dismiss <operation-id...>` to the `ops` command. */
export function addRecaptureCommands(ops: Command, withContext: WithOpsContext): void {
  const recaptures = ops
    .command('recaptures')
    .description('PSP re-captures held on their capture waiting for the capture failure they follow (nothing sent to the OMS): list, dismiss');
  recaptures
    .command('list')
    .description('those past delivery.recapture_failure_wait_ms, longest waiting first')
    .option('--all', 'also those still within their wait')
    .option('--limit <n>', 'at most this many', '50')
    .addOption(jsonOption())
    .action((opts: { all?: boolean; limit?: string; json?: boolean }) => withContext((ctx, io) => opsHeldRecaptures(ctx, io, opts)));
  recaptures
    .command('dismiss <operation-ids...>')
    .description('once settled with the PSP: no longer counted or listed (audit-logged); the failure, should it come, is still reported in order')
    .addOption(jsonOption())
    .action((ids: string[], opts: { json?: boolean }) => withContext((ctx, io) => opsDismissRecaptures(ctx, io, { ids, ...opts })));
}
