import { DrillContext, DrillDefinition } from './drill-runner';
import { restartService } from './service-restart';
import { preciseNow } from '../workload/precise-clock';
import { onLocalRedisCluster } from '../twins/local-stack/local-redis';
import { RoleProcess } from '../twins/local-stack/role-process';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Light background faults so every drill also sees the ordinary PSP noise. */
const BACKGROUND = { latencyMs: { min: 2, max: 20 } };

/**
 * Drill 1: SIGKILL a worker `kills` times at random moments (between 5 % and 75 % of the commands
 * reported, so the workload is still at full load), starting a replacement each time. Recovery is
 * measured from each kill to the next success (the other workers and the stalled-job takeover carry on),
 * or, when the kill left no worker up, from the next worker being ready; the kill-to-replacement-ready
 * time is noted.
 *
 * A kill does not wait for the previous replacement to be ready: kills land at their moments whatever
 * the replacements' start time (3-30 s on a loaded machine, which once let the workload end before the
 * last kill). The victim is a worker that is up; when every worker is down, the kill waits for the next
 * replacement to be ready. A kill due after the workload ended is skipped.
 */
export function killWorkerDrill(kills = 10): DrillDefinition {
  return {
    name: `kill -9 a worker ×${kills}`,
    faults: BACKGROUND,
    async disrupt(ctx: DrillContext) {
      const moments = Array.from({ length: kills }, () => 0.05 + 0.7 * ctx.random()).sort((a, b) => a - b);
      const up = new Set<RoleProcess>(ctx.stack.workers);
      const starting = new Set<Promise<void>>();
      // Each kill's comeback moment, from which its recovery is measured: the kill itself while another worker
      // is up, else the moment the next worker is ready (a process manager's start time is not the bridge's).
      const comebacks: number[] = [];
      /** Indexes in `comebacks` of kills that left no worker up, waiting for the next worker ready. */
      let awaitingWorker: number[] = [];
      const workerReady = () => {
        for (const k of awaitingWorker) comebacks[k] = preciseNow();
        awaitingWorker = [];
      };
      const isAlive = (w: RoleProcess) => w.child.exitCode === null && w.child.signalCode === null;
      for (const [i, moment] of moments.entries()) {
        await ctx.progress(moment);
        while (![...up].some(isAlive) && starting.size > 0) await Promise.race(starting);
        if (ctx.finished()) break;
        const alive = [...up].filter(isAlive);
        const victim = alive[Math.floor(ctx.random() * alive.length)];
        if (!victim) break;
        up.delete(victim);
        ctx.killed.add(victim.child.pid ?? -1);
        const killedAt = preciseNow();
        await victim.kill('SIGKILL');
        const left = alive.length - 1;
        if (left === 0) awaitingWorker.push(comebacks.length);
        comebacks.push(killedAt);
        ctx.note(
          `kill ${i + 1}/${kills} at ${Math.round(moment * 100)} %: ${victim.name} SIGKILLed (${left} worker(s) left up${left > 0 ? '' : ': recovery counted from the next worker ready'})`,
        );
        const start: Promise<void> = ctx.stack
          .startWorker()
          .then(
            (replacement) => {
              up.add(replacement);
              workerReady();
              ctx.note(`after kill ${i + 1}: ${replacement.name} ready ${Math.round(preciseNow() - killedAt)} ms after the kill`);
            },
            (err: Error) => ctx.note(`after kill ${i + 1}: the replacement did not start: ${err.message}`),
          )
          .finally(() => starting.delete(start));
        starting.add(start);
      }
      await Promise.all(starting);
      workerReady(); // no replacement came up after the last such kill: count from now
      return comebacks;
    },
  };
}

/** Drills 2 and 3: restart RabbitMQ or Redis (scripts/services.sh) once a third of the commands are in. */
export function restartServiceDrill(service: 'rabbitmq' | 'redis'): DrillDefinition {
  return {
    name: `restart ${service === 'rabbitmq' ? 'RabbitMQ' : onLocalRedisCluster() ? 'every Redis Cluster node (AOF)' : 'Redis (AOF)'} under load`,
    faults: BACKGROUND,
    async disrupt(ctx: DrillContext) {
      await ctx.progress(0.3);
      ctx.note(`restarting ${service}`);
      const { upAt, downMs } = await restartService(service);
      ctx.note(`${service} back after ${downMs} ms`);
      return [upAt];
    },
  };
}

/** Drill 4: the PSP answers 503 to everything for `outageS` seconds. */
export function pspDownDrill(outageS: number): DrillDefinition {
  return {
    name: `PSP down (503) ${outageS} s`,
    faults: BACKGROUND,
    async disrupt(ctx: DrillContext) {
      await ctx.progress(0.3);
      ctx.stack.simulator.setDown('503');
      ctx.note('PSP down');
      await sleep(outageS * 1000);
      ctx.stack.simulator.setDown(false);
      ctx.note('PSP back');
      return [preciseNow()];
    },
  };
}

/** Drill 5: PSP faults for the whole run: 20 % 5xx, 5 % commit-then-timeout, duplicate and out-of-order webhooks. */
export function pspFaultsDrill(): DrillDefinition {
  return {
    name: 'PSP faults (20 % 5xx, 5 % commit-then-timeout, dup/out-of-order webhooks)',
    faults: { latencyMs: { min: 2, max: 20 }, error5xxRate: 0.2, commitThenTimeoutRate: 0.05, duplicateWebhookRate: 0.3, outOfOrderWebhooks: true },
    disrupt: () => Promise.resolve([]),
  };
}

/** Drill 6: the bus delegate answers 503 for `outageS` seconds. */
export function delegateDownDrill(outageS: number): DrillDefinition {
  return {
    name: `bus delegate down ${outageS} s`,
    faults: BACKGROUND,
    async disrupt(ctx: DrillContext) {
      await ctx.progress(0.3);
      ctx.stack.busTwin.setDelegateDown(true);
      ctx.note('bus delegate down');
      await sleep(outageS * 1000);
      ctx.stack.busTwin.setDelegateDown(false);
      ctx.note('bus delegate back');
      return [preciseNow()];
    },
  };
}
