import { RedisClient } from '../../src/redis/redis-connection';

/** A pipeline's replies as ioredis gives them: each command's error and result, in order; null when it was discarded. */
export type PipelineReplies = Awaited<ReturnType<ReturnType<RedisClient['pipeline']>['exec']>>;

/**
 * `client` whose first pipeline (the first whose replies `when` accepts; default: the first) runs `hook` with its
 * replies once they are in, before they are returned: a step between a read and the write after it, or a reply the
 * hook replaces (a read that failed). Every other call goes to `client` as it is.
 */
export function afterFirstPipeline(
  client: RedisClient,
  hook: (replies: PipelineReplies) => Promise<unknown>,
  when: (replies: PipelineReplies) => boolean = () => true,
): RedisClient {
  let fired = false;
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === 'pipeline') {
        return () => {
          const pipeline = target.pipeline();
          const exec = pipeline.exec.bind(pipeline);
          pipeline.exec = async () => {
            const replies = await exec();
            if (!fired && when(replies)) {
              fired = true;
              await hook(replies);
            }
            return replies;
          };
          return pipeline;
        };
      }
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
