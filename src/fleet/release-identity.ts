import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * Which build a process runs: the package version and the source revision. Every long-running role names it in
 * its first log line, in `pb_build_info` and in its heartbeat (`ProcessPresence`), so an operator sees a fleet
 * that runs two releases at once (a worker left on the old one after a deploy creates operations without what
 * the new one adds, id claims among them).
 */
export interface ReleaseIdentity {
  /** `version` of package.json. */
  version: string;
  /**
   * The source revision: `PB_RELEASE_REVISION` when set (what a deployment names its build by), else Heroku's
   * `HEROKU_SLUG_COMMIT` or `SOURCE_VERSION`, else the commit the install's Git checkout is at (12 hex digits),
   * else `unknown`.
   */
  revision: string;
}

/** `<version>+<revision>`: one release, as processes are compared by it. */
export function releaseName(identity: ReleaseIdentity): string {
  return `${identity.version}+${identity.revision}`;
}

/** The directory of the package.json named payment-bridge at or above `from`, or null. */
function packageRoot(from: string): string | null {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'payment-bridge') return dir;
      } catch {
        // Not ours (unreadable): keep looking above.
      }
    }
    if (dirname(dir) === dir) return null;
  }
}

/** The commit the Git checkout at `root` is at (HEAD, through its ref and packed-refs), or null. Reads files only. */
export function gitRevision(root: string): string | null {
  try {
    let gitDir = join(root, '.git');
    // A worktree or submodule: `.git` is a file naming the real directory.
    if (statSync(gitDir).isFile())
      gitDir = resolve(
        root,
        readFileSync(gitDir, 'utf8')
          .replace(/^gitdir:\s*/, '')
          .trim(),
      );
    const head = readFileSync(join(gitDir, 'HEAD'), 'utf8').trim();
    const ref = /^ref:\s*(\S+)$/.exec(head)?.[1];
    if (!ref) return /^[0-9a-f]{40}$/.test(head) ? head : null;
    const common = existsSync(join(gitDir, 'commondir')) ? resolve(gitDir, readFileSync(join(gitDir, 'commondir'), 'utf8').trim()) : gitDir;
    for (const dir of [gitDir, common]) {
      const loose = join(dir, ref);
      if (existsSync(loose)) return readFileSync(loose, 'utf8').trim();
    }
    const packed = readFileSync(join(common, 'packed-refs'), 'utf8')
      .split('\n')
      .find((l) => l.endsWith(` ${ref}`));
    return packed ? packed.split(' ')[0] : null;
  } catch {
    return null;
  }
}

/** A commit id shortened to 12 hex digits; anything else (a tag, a build number) as given, trimmed to 64 characters. */
function shortRevision(revision: string): string {
  const text = revision.trim();
  return /^[0-9a-f]{13,40}$/i.test(text) ? text.slice(0, 12).toLowerCase() : text.slice(0, 64);
}

let memo: ReleaseIdentity | null = null;

/** This process's release (see {@link ReleaseIdentity}), read once. */
export function releaseIdentity(): ReleaseIdentity {
  memo ??= readReleaseIdentity(process.env, __dirname);
  return memo;
}

/**
 * The release named by `env` and the package at or above `from` (see {@link ReleaseIdentity}).
 * @param env the environment; @param from where to look for the package.
 */
export function readReleaseIdentity(env: NodeJS.ProcessEnv, from: string): ReleaseIdentity {
  const root = packageRoot(from);
  let version = 'unknown';
  if (root) {
    const parsed = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: unknown };
    if (typeof parsed.version === 'string') version = parsed.version;
  }
  const named = [env.PB_RELEASE_REVISION, env.HEROKU_SLUG_COMMIT, env.SOURCE_VERSION].find((v) => typeof v === 'string' && v.trim() !== '');
  const revision = named ?? (root ? gitRevision(root) : null) ?? 'unknown';
  return { version, revision: shortRevision(revision) };
}
