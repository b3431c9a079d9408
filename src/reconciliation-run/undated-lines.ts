import { LuaScript, luaInputs } from '../redis/lua-script';
import type { RedisClient } from '../redis/redis-connection';
import type { ReconciliationWindow } from '../reconciliation/psp-record';

/** The window that reports a line: `line` → `<from>:<to>`, set where none is (dry runs only read). */
const CLAIM = new LuaScript(
  luaInputs(['claims'], ['line', 'window', 'claim', 'ttl_s']),
  `
local held = redis.call('HGET', K.claims, A.line)
if held then return held end
if A.claim == '1' then
  redis.call('HSET', K.claims, A.line, A.window)
  redis.call('EXPIRE', K.claims, A.ttl_s)
end
return A.window
`,
);

/**
 * Which window reports an unreadable PSP line whose time does not read either (`UnreadablePspLine.undated`): the
 * reader cannot tell which window it belongs to, and every run that reads the same report (adjacent windows read
 * the same Adyen settlement batch) meets it. The first applied run to meet it claims it for its window, by the
 * line's identity (the report file and line number, as the reader names it): that window counts it, keeps it in its
 * report and is held (not reconciled) for it; the others leave it out. A run of the claiming window again (a page
 * redone after a stop, `--again`) still reports it. A dry run reports a line no applied run claimed, and claims
 * nothing.
 *
 *   P recon:undated:<gateway>   hash: line → `<from>:<to>` of the window that reports it; expires `ttlS` after the
 *                               latest claim (the run states' lifetime: a later window never reads a batch that old)
 */
export class UndatedLineClaims {
  readonly key: string;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    gateway: string,
    private readonly ttlS: number,
  ) {
    this.key = `${prefix}recon:undated:${gateway}`;
  }

  /** The window that reports `line` (`window` itself when no other run claimed it; claimed for it unless `dryRun`). */
  async reporter(line: string, window: ReconciliationWindow, dryRun: boolean): Promise<ReconciliationWindow> {
    const held = await CLAIM.run(this.redis, {
      keys: { claims: this.key },
      args: { line, window: `${window.from}:${window.to}`, claim: dryRun ? '0' : '1', ttl_s: this.ttlS },
    });
    const [from, to] = String(held).split(':').map(Number);
    return Number.isSafeInteger(from) && Number.isSafeInteger(to) ? { from, to } : window;
  }
}
