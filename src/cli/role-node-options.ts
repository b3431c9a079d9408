/** The long-running roles of the Procfile, by the CLI command that starts them. */
export type RoleCommand = 'web' | 'worker' | 'poll';

/**
 * Node options every long-running role starts with: the Procfile passes them (`node <options>
 * dist/src/cli.js <role>`), and so does the local stack of the tests, the demo and the bench, so every
 * figure is taken on the deployed settings. V8 reads them only at start (`v8.setFlagsFromString` comes
 * too late for the young generation), hence options rather than code.
 *
 * `--max-semi-space-size=4` (MiB; V8's default is 16 on 64-bit): the young generation's two semi-spaces
 * then commit 8 MiB instead of 32. A command in flight lives a PSP round trip (100-500 ms), longer than a
 * scavenge interval either way, so what it holds is promoted with 4 MiB as with 16 and the old-generation
 * growth cap (`src/cli/heap-tuning.ts`) bounds it; the 24 MiB saved is resident memory a worker and a web
 * process hold idle or busy (docs/BENCHMARKS.md, "Memory per process").
 */
export const ROLE_NODE_OPTIONS: readonly string[] = ['--max-semi-space-size=4'];

/** The Node options for `payment-bridge <command>`: {@link ROLE_NODE_OPTIONS} for a long-running role, none otherwise. */
export function roleNodeOptions(command: string | undefined): readonly string[] {
  return command === 'web' || command === 'worker' || command === 'poll' ? ROLE_NODE_OPTIONS : [];
}
