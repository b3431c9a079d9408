import { Writable } from 'node:stream';
import { Option } from 'commander';
import { OpsContext } from '../ops/ops-context';

/** Where an `ops` command writes: its output, and whether that is a terminal (progress bars). */
export interface OpsOutput {
  out: Writable;
  /** Progress bars go to stderr, and only on a TTY and without `--json`. */
  err: Writable & { isTTY?: boolean };
  /** Who runs it, for the audit log (`<os user>@<host>`). */
  actor: string;
}

/** What a command that writes no progress needs of {@link OpsOutput}: its output and who runs it. */
export type OpsWriter = Pick<OpsOutput, 'out' | 'actor'>;

/** Runs an operator command with the ops context open (and closed after), exiting with its code. */
export type WithOpsContext = (run: (ctx: OpsContext, io: OpsOutput) => Promise<number>) => Promise<void>;

/** The `--json` option every operator command takes. */
export function jsonOption(): Option {
  return new Option('--json', 'print the result as JSON');
}
