import { LocalStack } from '../../harness/twins/local-stack/local-stack';
import { ChannelPublisher } from '../../harness/workload/channel-publisher';
import { FlowCheck } from '../../harness/workload/flow-checks';

/** What a demo scene gets: the running stack and the two ways in (the bus over signed HTTP, the other channels over AMQP). */
export interface SceneContext {
  stack: LocalStack;
  publisher: ChannelPublisher;
  /** Sends one signed JSON-RPC command to the intake as the bus would. */
  sendBus(method: string, params: Record<string, unknown>, id: string): Promise<{ status: number; body: unknown }>;
  /** Unique per demo run: put it in order ids and references so runs never collide. */
  runId: string;
}

/** What a scene shows: one summary row (what happened, in words an operator reads) and the invariants it checked. */
export interface SceneResult {
  summary: string;
  checks: FlowCheck[];
}

/**
 * One scene played after the main workload, on the same stack: a money-truth story (a chargeback, an
 * UNRESOLVED operation settled later, an orphan voided…) with its own checks. Scenes run one after another.
 */
export interface DemoScene {
  /** Row title in the summary, e.g. `chargeback after capture`. */
  title: string;
  /** `parameters:` keys the scene needs on the stack (merged into the demo's own; keep them harmless for the main workload). */
  parameters?: Record<string, unknown>;
  run(ctx: SceneContext): Promise<SceneResult>;
}
