import { hostname, userInfo } from 'node:os';

/** Who runs this process, for the audit log: `<os user>@<host>` (`uid:<n>` when the user has no name). */
export function processActor(): string {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = `uid:${process.getuid?.() ?? 'unknown'}`;
  }
  return `${process.env.PB_OPERATOR ?? user}@${hostname()}`;
}
