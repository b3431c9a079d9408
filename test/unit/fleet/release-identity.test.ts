import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gitRevision, readReleaseIdentity, releaseName } from '../../../src/fleet/release-identity';

const COMMIT = '0123456789abcdef0123456789abcdef01234567';

/** A directory holding a package.json named payment-bridge at `version`, and a `.git` laid out by `git`. */
function install(version: string, git?: (gitDir: string) => void): string {
  const root = mkdtempSync(join(tmpdir(), 'pb-release-'));
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'payment-bridge', version }));
  if (git) {
    mkdirSync(join(root, '.git', 'refs', 'heads'), { recursive: true });
    git(join(root, '.git'));
  }
  mkdirSync(join(root, 'dist', 'src', 'release'), { recursive: true });
  return root;
}

describe('the release a process runs', () => {
  it('is the package version and the commit the checkout is at, shortened to 12 hex digits', () => {
    const root = install('1.4.0', (git) => {
      writeFileSync(join(git, 'HEAD'), 'ref: refs/heads/main\n');
      writeFileSync(join(git, 'refs', 'heads', 'main'), `${COMMIT}\n`);
    });
    const identity = readReleaseIdentity({}, join(root, 'dist', 'src', 'release'));
    expect(identity).toEqual({ version: '1.4.0', revision: '0123456789ab' });
    expect(releaseName(identity)).toBe('1.4.0+0123456789ab');
  });

  it('reads a branch from packed-refs, and a detached HEAD as it is', () => {
    const packed = install('1.0.0', (git) => {
      writeFileSync(join(git, 'HEAD'), 'ref: refs/heads/release\n');
      writeFileSync(join(git, 'packed-refs'), `# pack-refs with: peeled fully-peeled sorted\n${COMMIT} refs/heads/release\n`);
    });
    expect(gitRevision(packed)).toBe(COMMIT);
    const detached = install('1.0.0', (git) => writeFileSync(join(git, 'HEAD'), `${COMMIT}\n`));
    expect(gitRevision(detached)).toBe(COMMIT);
  });

  it('takes the revision a deployment names over the checkout: PB_RELEASE_REVISION, then Heroku’s slug commit, then SOURCE_VERSION', () => {
    const root = install('2.0.0', (git) => writeFileSync(join(git, 'HEAD'), `${COMMIT}\n`));
    const from = join(root, 'dist', 'src', 'release');
    expect(readReleaseIdentity({ PB_RELEASE_REVISION: 'v2.0.0-rc1', HEROKU_SLUG_COMMIT: 'f'.repeat(40) }, from).revision).toBe('v2.0.0-rc1');
    expect(readReleaseIdentity({ HEROKU_SLUG_COMMIT: 'F'.repeat(40), SOURCE_VERSION: 'abc' }, from).revision).toBe('f'.repeat(12));
    expect(readReleaseIdentity({ SOURCE_VERSION: 'build-77', PB_RELEASE_REVISION: ' ' }, from).revision).toBe('build-77');
  });

  it('says unknown where there is neither a checkout nor a named revision', () => {
    const root = install('3.1.4');
    expect(readReleaseIdentity({}, join(root, 'dist', 'src', 'release'))).toEqual({ version: '3.1.4', revision: 'unknown' });
    expect(gitRevision(root)).toBeNull();
  });
});
