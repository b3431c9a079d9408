import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Options } from 'prettier';
import { format } from 'prettier/standalone';
import * as babel from 'prettier/plugins/babel';
import * as estree from 'prettier/plugins/estree';
import * as markdown from 'prettier/plugins/markdown';
import * as typescript from 'prettier/plugins/typescript';
import * as yaml from 'prettier/plugins/yaml';
import { projectRoot } from '../harness/twins/local-stack/local-stack';

let repositoryOptions: Options | undefined;

/**
 * Formats generated Markdown exactly as `npm run format` would, so a generated page passes
 * `npm run format:check` as written (tables aligned, emphasis and lists normalised; prose is not rewrapped).
 *
 * Prettier's standalone build, not its Node entry: the Node entry loads itself with a dynamic `import()`,
 * which Jest refuses without `--experimental-vm-modules`, and the unit tests render the pages too. The
 * standalone build resolves no config file, so the options are read from `.prettierrc.json` (the only one;
 * it has no overrides). The plugins cover the code blocks a page may embed (json, js, ts, yaml), which the
 * CLI formats too; a mismatch with the CLI shows as the gateway-docs test or `format:check` failing.
 */
export async function formatMarkdown(text: string): Promise<string> {
  repositoryOptions ??= JSON.parse(readFileSync(join(projectRoot(), '.prettierrc.json'), 'utf8')) as Options;
  return format(text, { ...repositoryOptions, parser: 'markdown', plugins: [markdown, babel, estree, typescript, yaml] });
}
