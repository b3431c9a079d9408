type StageTiming = typeof import('../../../src/metrics/stage-timing');
type Registry = (typeof import('../../../src/metrics/metrics-registry'))['metricsRegistry'];

/** The module as loaded with PB_STAGE_TIMING set to `value` (it reads the variable once, at load). */
function loadWith(value: string | undefined): StageTiming & { registry: Registry } {
  const saved = process.env.PB_STAGE_TIMING;
  if (value === undefined) delete process.env.PB_STAGE_TIMING;
  else process.env.PB_STAGE_TIMING = value;
  let mod: (StageTiming & { registry: Registry }) | undefined;
  // The module and the registry it writes to, both fresh: the variable is read when the module loads.
  jest.isolateModules(() => {
    const registry = jest.requireActual<{ metricsRegistry: Registry }>('../../../src/metrics/metrics-registry').metricsRegistry;
    mod = { ...jest.requireActual<StageTiming>('../../../src/metrics/stage-timing'), registry };
  });
  if (saved === undefined) delete process.env.PB_STAGE_TIMING;
  else process.env.PB_STAGE_TIMING = saved;
  if (!mod) throw new Error('module not loaded');
  return mod;
}

async function stageCounts(registry: Registry): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const metric = registry.getSingleMetric('pb_command_stage_seconds');
  if (!metric) return counts;
  for (const v of (await metric.get()).values) {
    if ((v as { metricName?: string }).metricName === 'pb_command_stage_seconds_count') counts.set(String(v.labels.stage), v.value);
  }
  return counts;
}

describe('stage timing (PB_STAGE_TIMING)', () => {
  it('records nothing and registers no metric when the variable is not set', async () => {
    const t = loadWith(undefined);
    const msg = {};
    t.markDelivered(msg);
    t.markMessage(msg, 'admitted');
    t.bindOperation(msg, 'op-1');
    t.markOperation('op-1', 'created');
    t.markDone(msg, 'ack_sent');
    expect(t.STAGE_TIMING).toBe(false);
    expect(t.registry.getSingleMetric('pb_command_stage_seconds')).toBeUndefined();
  });

  it('observes each mark of a message, found by the message then by its operation id, and the total at its last mark', async () => {
    const t = loadWith('1');
    const msg = {};
    t.markDelivered(msg);
    t.markMessage(msg, 'started');
    t.markMessage(msg, 'admitted');
    t.bindOperation(msg, 'op-2');
    t.markOperation('op-2', 'created');
    t.markOperation('op-2', 'psp_start');
    t.markOperation('op-2', 'psp_end');
    t.unbindOperation('op-2');
    // After unbinding, a later mark under the same id (a retry from the queue) is not this message's.
    t.markOperation('op-2', 'recorded');
    t.markDone(msg, 'ack_sent');
    // The message is finished: a second last mark observes nothing.
    t.markDone(msg, 'ack_sent');
    const counts = await stageCounts(t.registry);
    expect(Object.fromEntries(counts)).toEqual({ started: 1, admitted: 1, created: 1, psp_start: 1, psp_end: 1, ack_sent: 1, total: 1 });
  });

  it('ignores marks of an operation no message is traced for (a webhook, a queued retry)', async () => {
    const t = loadWith('1');
    t.markOperation('never-delivered', 'psp_end');
    expect((await stageCounts(t.registry)).size).toBe(0);
  });

  it("has finite buckets up to a PSP call's deadline, so psp_end and total keep their p99 when a PSP is slow", async () => {
    const t = loadWith('1');
    const msg = {};
    t.markDelivered(msg);
    t.markDone(msg, 'ack_sent');
    const bounds = (await t.registry.getSingleMetric('pb_command_stage_seconds')!.get()).values
      .filter((v) => (v as { metricName?: string }).metricName === 'pb_command_stage_seconds_bucket')
      .map((v) => Number(v.labels.le))
      .filter((le) => Number.isFinite(le));
    // gateways.<name>.timeout_ms defaults to 10 s (src/config/gateway-config-schema.ts); above 1 s every call was +Inf.
    expect(Math.max(...bounds)).toBeGreaterThanOrEqual(10);
    // The sub-millisecond buckets the worker's own stages need stay.
    expect(Math.min(...bounds)).toBeLessThanOrEqual(0.0001);
  });
});
