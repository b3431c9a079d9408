import { BenchResultsFile, replaceBetweenMarkers, scalingFigures, scalingFiguresMarkdown } from '../../../harness/bench/scaling-figures';
import { formatMarkdown } from '../../../scripts/format-markdown';
import { scalingFiguresBlock } from '../../../scripts/scaling-figures';

const cost = (workerCpu: number, extra: Record<string, unknown> = {}) => ({
  workerCpuMicrosPerCommand: workerCpu,
  workerCpuMicrosPerCommandNetOfIdle: workerCpu - 20,
  workerIdleCpuMsPerSecond: 25,
  webCpuMicrosPerCommand: 900,
  rabbitmqCpuMicrosPerCommand: 186,
  redisCpuMicrosPerCommand: 190,
  workerAllocatedBytesPerCommand: 149_504,
  peakRssMiB: { web: 105.3, 'worker-1': 128.5, 'worker-2': 135.7 },
  ...extra,
});

const results: BenchResultsFile = {
  git: 'abc1234',
  settings: { quick: false, commands: 20000, pspCommands: 20000, scalingCommands: 5000 },
  loadAverage1m: { start: 1.57, end: 4.28 },
  raw: { perSecond: 14240.6 },
  saturation: { perSecond: 1028.7, cost: cost(1088) },
  pspLatency: { perSecond: 689.7, workers: 2, pspLatencyMs: [200, 300], cost: cost(1616) },
  scaling: [
    { kind: 'workers', workers: 1, webs: 1, pspLatencyMs: [0, 0], result: { perSecond: 728.4, cost: cost(1352) }, gainPerAddedProcess: 728.4 },
    { kind: 'workers', workers: 1, webs: 1, pspLatencyMs: [200, 300], result: { perSecond: 518, cost: cost(1686) }, gainPerAddedProcess: 518 },
    { kind: 'workers', workers: 2, webs: 1, pspLatencyMs: [0, 0], result: { perSecond: 713, cost: cost(1640) }, gainPerAddedProcess: -15.4 },
    { kind: 'workers', workers: 2, webs: 1, pspLatencyMs: [200, 300], result: { perSecond: 717, cost: cost(1546) }, gainPerAddedProcess: 199 },
    {
      kind: 'web',
      workers: 2,
      webs: 1,
      pspLatencyMs: [0, 0],
      result: { perSecond: 289, cost: cost(2768), benchCpuMicrosPerCommand: 1434 },
      gainPerAddedProcess: 289,
    },
    {
      kind: 'web',
      workers: 2,
      webs: 2,
      pspLatencyMs: [0, 0],
      result: { perSecond: 297, cost: cost(2474), benchCpuMicrosPerCommand: 1155 },
      gainPerAddedProcess: 8,
    },
  ],
};

describe('scaling figures (docs/SCALING.md table from a bench results file)', () => {
  const byId = new Map(scalingFigures(results).map((f) => [f.id, f.value]));

  it('reads each figure from its field of the results file, rounded for reading', () => {
    expect(byId.get('F1')).toBe('728 commands/s');
    expect(byId.get('F2')).toBe('518 commands/s');
    expect(byId.get('F3')).toBe('+728 → -15 / +518 → +199 commands/s');
    expect(byId.get('F4')).toBe('690 commands/s');
    expect(byId.get('F5')).toBe('1,088 µs (1,068 µs net of idle; idle 25 ms/s)');
    expect(byId.get('F7')).toBe('900 µs');
    expect(byId.get('F8')).toBe('289 commands/s with one web; second web +8/s; stand-ins 1,434 µs');
    expect(byId.get('F12')).toBe('146 KiB');
    expect(byId.get('F13')).toBe('workers 129–136 MiB, web 105–105 MiB');
    expect(byId.get('F14')).toBe('14,241 messages/s');
    expect(byId.get('F15')).toBe('130 commands');
  });

  it("sums every process's CPU per command into the CPU ceiling on the run's cores (F16), and gives none when a process is missing", () => {
    const withStandIns: BenchResultsFile = {
      ...results,
      machine: { cpus: '2' },
      saturation: { perSecond: 1028.7, cost: cost(1088, { standInCpuMicrosPerCommand: 412 }) },
      pspLatency: { perSecond: 689.7, workers: 2, pspLatencyMs: [200, 300], cost: cost(1616, { standInCpuMicrosPerCommand: 512 }) },
    };
    const f16 = scalingFigures(withStandIns).find((f) => f.id === 'F16');
    // 1 088 + 900 + 186 + 190 + 412 = 2 776 µs → 2 × 10⁶ ÷ 2 776 = 720/s; 1 616 + 900 + 186 + 190 + 512 = 3 404 µs → 588/s.
    expect(f16?.value).toBe('2,776 µs → 720 commands/s / 3,404 µs → 588 commands/s');
    expect(f16?.figure).toContain('on 2 cores');
    // The fixture above has no stand-in CPU: no ceiling rather than one that leaves a process out.
    expect(byId.get('F16')).toBe('not in this run / not in this run');
  });

  it('says "not in this run" for a phase the run skipped instead of inventing a figure', () => {
    expect(byId.get('F11')).toBe('not in this run');
    const empty = new Map(scalingFigures({}).map((f) => [f.id, f.value]));
    expect([...empty.values()].every((v) => v.includes('not in this run'))).toBe(true);
  });

  it('replaces only what stands between the markers, and refuses a document without them', () => {
    const doc = 'intro\n<!-- scaling-figures:begin -->\nold table\n<!-- scaling-figures:end -->\nsizing';
    const out = replaceBetweenMarkers(doc, scalingFiguresMarkdown(results, 'run.json'));
    expect(out.startsWith('intro\n<!-- scaling-figures:begin -->\n\n| #')).toBe(true);
    expect(out).not.toContain('old table');
    expect(out).toContain('Source: `bench/results/run.json` (and `.md`), git abc1234');
    expect(out.endsWith('4.3 at end.\n\n<!-- scaling-figures:end -->\nsizing')).toBe(true);
    expect(() => replaceBetweenMarkers('no markers', 'x')).toThrow(/scaling-figures:begin/);
  });

  it('writes a block Prettier leaves as it is (docs/SCALING.md is under npm run format:check): columns aligned', async () => {
    const doc = '# Scaling\n\nintro\n\n<!-- scaling-figures:begin -->\nold table\n<!-- scaling-figures:end -->\n\nsizing\n';
    const out = replaceBetweenMarkers(doc, await scalingFiguresBlock(results, 'run.json'));
    expect(await formatMarkdown(out)).toBe(out);
    expect(out).toContain('\n| F1  | one worker, PSP at 0 ms (CPU-bound), commands/s ');
  });
});
