import { decodePresence, presenceOf } from '../../../src/fleet/process-presence';
import { UNNAMED_RELEASE, runningReleases } from '../../../src/fleet/running-processes';

const presence = (role: string, revision: string, pid: number) => ({ role, version: '1.0.0', revision, pid, host: 'app-1', started_at: 1_764_000_000_000 });

describe('a process presence', () => {
  it('reads back what a heartbeat wrote, and nothing from a heartbeat without one or a broken one', () => {
    const mine = presenceOf('worker', 1_764_000_000_000);
    expect(decodePresence(JSON.stringify(mine))).toEqual(mine);
    expect(mine).toMatchObject({ role: 'worker', pid: process.pid, started_at: 1_764_000_000_000 });
    expect(decodePresence('1')).toBeNull();
    expect(decodePresence('{"role":"worker"')).toBeNull();
    expect(decodePresence(JSON.stringify({ ...mine, pid: 'x' }))).toBeNull();
    expect(decodePresence(JSON.stringify({ ...mine, role: '' }))).toBeNull();
  });
});

describe('the releases running', () => {
  it('groups the processes by release with their roles, the release with most processes first; a heartbeat without a presence is an unnamed release', () => {
    const releases = runningReleases([
      { holder: 'h-1', presence: presence('worker', 'bbbbbbbbbbbb', 1) },
      { holder: 'h-2', presence: presence('worker', 'aaaaaaaaaaaa', 2) },
      { holder: 'h-3', presence: presence('poller', 'aaaaaaaaaaaa', 3) },
      { holder: 'h-4', presence: null },
    ]);
    expect(releases).toEqual([
      { release: '1.0.0+aaaaaaaaaaaa', processes: 2, roles: { worker: 1, poller: 1 } },
      { release: '1.0.0+bbbbbbbbbbbb', processes: 1, roles: { worker: 1 } },
      { release: UNNAMED_RELEASE, processes: 1, roles: { unknown: 1 } },
    ]);
    expect(runningReleases([])).toEqual([]);
  });
});
