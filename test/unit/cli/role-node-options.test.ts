import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROLE_NODE_OPTIONS, roleNodeOptions } from '../../../src/cli/role-node-options';

/** The Procfile's command of each role, by the role's name there. */
function procfile(): Map<string, string> {
  const text = readFileSync(join(__dirname, '..', '..', '..', 'Procfile'), 'utf8');
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  return new Map(lines.map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]));
}

describe('role Node options', () => {
  it('keep the young generation small: --max-semi-space-size of at most 8 MiB', () => {
    const semi = ROLE_NODE_OPTIONS.find((o) => o.startsWith('--max-semi-space-size='));
    expect(semi).toBeDefined();
    expect(Number(semi?.split('=')[1])).toBeLessThanOrEqual(8);
  });

  it.each([
    ['web', 'web'],
    ['worker', 'worker'],
    ['poller', 'poll'],
  ])('the Procfile starts %s with them (what the local stack and the bench run too)', (role, command) => {
    expect(procfile().get(role)).toBe(`node ${ROLE_NODE_OPTIONS.join(' ')} dist/src/cli.js ${command}`);
    expect(roleNodeOptions(command)).toEqual(ROLE_NODE_OPTIONS);
  });

  it('are not given to one-shot commands', () => {
    expect(roleNodeOptions('register')).toEqual([]);
    expect(roleNodeOptions('reconcile')).toEqual([]);
    expect(roleNodeOptions(undefined)).toEqual([]);
  });
});
