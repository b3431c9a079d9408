import { loadConfig, DEFAULT_CONFIG_PATH } from '../config/load-config';
import { configWarnings } from '../config/cross-field-rules';
import { maskedConfig } from '../config/config-show';
import { ConfigError } from '../errors/config-error';

/** Exit code for an invalid configuration (sysexits EX_CONFIG), as every role uses at start. */
export const EXIT_CONFIG = 78;

/**
 * `payment-bridge check-config`: loads the configuration the way every role does and reports every
 * problem in one run (each unset environment variable, unknown key with the nearest known one, enum with
 * its allowed values, cross-field rule), then the warnings. `--show` adds the resolved configuration with
 * secrets masked; `--json` prints `{ ok, path, problems, warnings, config? }`.
 * @returns the process exit code: 0 valid, 78 invalid.
 */
export function runCheckConfig(path: string | undefined, opts: { show?: boolean; json?: boolean }, out: NodeJS.WritableStream): number {
  const file = path ?? process.env.PB_CONFIG ?? DEFAULT_CONFIG_PATH;
  let problems: string[] = [];
  let warnings: string[] = [];
  let shown: unknown;
  try {
    const config = loadConfig(file);
    warnings = configWarnings(config).map(([k, p]) => `${k}: ${p}`);
    if (opts.show) shown = maskedConfig(config);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems = [...err.all];
  }
  const ok = problems.length === 0;
  if (opts.json) {
    out.write(`${JSON.stringify({ ok, path: file, problems, warnings, ...(shown === undefined ? {} : { config: shown }) }, null, 2)}\n`);
  } else {
    out.write(ok ? `configuration OK (${file})\n` : `configuration INVALID (${file}): ${problems.length} problem(s)\n`);
    for (const p of problems) out.write(`  ERROR ${p}\n`);
    for (const w of warnings) out.write(`  WARN  ${w}\n`);
    if (shown !== undefined) out.write(`${JSON.stringify(shown, null, 2)}\n`);
  }
  return ok ? 0 : EXIT_CONFIG;
}
