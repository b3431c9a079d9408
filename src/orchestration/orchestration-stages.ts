import type { Config } from '../config/config';
import type { Logger } from '../logging/logger';
import { OrchestrationPipeline } from './orchestration-pipeline';
import { OrchestrationStage, STAGE_NAMES, StageName } from './orchestration-stage';
import { RouteStage } from './route-stage';
import { CapsStage } from './caps-stage';
import { FxStage } from './fx-stage';
import { RiskStage } from './risk-stage';
import type { GatewayRoute } from '../gateways/gateway-route';
import { MethodBinding } from '../routing/method-binding';

/** What a stage may be built with. Redis is the fast client shared by the worker (caps counters); absent in pure tests. */
export interface OrchestrationDeps {
  config: Config;
  logger?: Logger;
  /** The worker's Redis client (`ioredis`), for stages that keep counters; absent: such stages stay inactive. */
  redis?: import('../redis/redis-connection').RedisClient;
  /** Epoch ms clock; default `Date.now`. */
  now?: () => number;
  /** The configured gateways with their clients: where FX reads a gateway's own exchange rates. Absent: configured rates only. */
  routes?: ReadonlyMap<string, GatewayRoute>;
}

/** A stage's entry in the registry: its name and how it is built (null: nothing to build, the stage is skipped). */
export interface StageFactory {
  name: StageName;
  /** @param binding which gateways can use an operation's method data (one per pipeline, shared with failover). */
  create(deps: OrchestrationDeps, binding: MethodBinding): OrchestrationStage | null;
}

/**
 * THE list of orchestration stages: one line per stage. The pipeline runs them in `STAGE_NAMES` order
 * (route ▸ risk ▸ FX ▸ caps) whatever the order here. Risk, FX and caps add their line here.
 */
export const STAGE_FACTORIES: readonly StageFactory[] = [
  { name: 'route', create: (d, binding) => new RouteStage(d.config.routing, binding) },
  // Risk rules (src/risk/): counters and review holds need Redis; without it only counter-free rules run.
  { name: 'risk', create: (d) => (d.config.limits.risk.rules.length > 0 ? new RiskStage(d.config, d.redis, d.logger) : null) },
  // Currency conversion (src/fx/) at the gateway's own rates (its client from `routes`) or configured ones.
  {
    name: 'fx',
    create: (d) =>
      Object.keys(d.config.limits.fx.settlementCurrencies).length > 0
        ? new FxStage(
            d.config,
            new Map([...(d.routes ?? new Map<string, GatewayRoute>())].map(([name, r]) => [name, { type: r.gateway.type, client: r.client }])),
            d.logger,
            d.now,
          )
        : null,
  },
  // Transaction caps (src/caps/): Redis counters, so no caps without Redis.
  { name: 'caps', create: (d) => (d.config.limits.caps.rules.length > 0 && d.redis ? new CapsStage(d.config, d.redis, d.logger) : null) },
];

/** The pipeline of every registered stage (plus `extra` ones, for tests), in stage order. */
export function buildOrchestrationPipeline(deps: OrchestrationDeps, extra: readonly OrchestrationStage[] = []): OrchestrationPipeline {
  const binding = new MethodBinding(deps.config.gateways);
  const built = STAGE_FACTORIES.map((f) => f.create(deps, binding)).filter((s): s is OrchestrationStage => s !== null);
  const stages = [...built, ...extra].sort((a, b) => STAGE_NAMES.indexOf(a.name) - STAGE_NAMES.indexOf(b.name));
  return new OrchestrationPipeline(stages, { binding, logger: deps.logger });
}
