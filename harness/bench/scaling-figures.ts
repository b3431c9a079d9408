/**
 * The measured-unit table of docs/SCALING.md (F1…F16), computed from one `npm run bench` results file
 * (bench/results/<stamp>.json), so the sizing in that document is always arithmetic on one recorded run.
 * `scripts/scaling-figures.ts` writes the table into the document between its markers.
 */

import { cpuCeiling } from './cpu-ceiling';

/** The parts of a results file this table reads; every field is optional because a run may skip phases. */
export interface BenchResultsFile {
  startedAt?: string;
  git?: string;
  loadAverage1m?: { start?: number; end?: number };
  machine?: { cpus?: string };
  settings?: { quick?: boolean; commands?: number; pspCommands?: number; scalingCommands?: number };
  raw?: { perSecond?: number };
  saturation?: { perSecond?: number; cost?: ResultCost };
  pspLatency?: { perSecond?: number; workers?: number; pspLatencyMs?: number[]; cost?: ResultCost };
  redis?: { roundTripsPerCommand?: number; perCommandMonitor?: number };
  scaling?: ResultScalingRow[];
}

interface ResultCost {
  workerCpuMicrosPerCommand?: number | null;
  workerCpuMicrosPerCommandNetOfIdle?: number | null;
  workerIdleCpuMsPerSecond?: number | null;
  webCpuMicrosPerCommand?: number | null;
  rabbitmqCpuMicrosPerCommand?: number | null;
  redisCpuMicrosPerCommand?: number | null;
  workerAllocatedBytesPerCommand?: number | null;
  peakRssMiB?: Record<string, number | null>;
  standInCpuMicrosPerCommand?: number | null;
}

interface ResultScalingRow {
  kind: 'workers' | 'web';
  workers: number;
  webs: number;
  pspLatencyMs: number[];
  result: { perSecond: number; cost: ResultCost; benchCpuMicrosPerCommand?: number | null };
  gainPerAddedProcess: number;
}

/** One row of the table: its number, what it is, its value, and the results-file field it comes from. */
export interface ScalingFigure {
  id: string;
  figure: string;
  value: string;
  source: string;
}

const NOT_MEASURED = 'not in this run';
const int = (v: number) => Math.round(v).toLocaleString('en-US');
const rate = (v: number | undefined) => (v === undefined ? NOT_MEASURED : `${int(v)} commands/s`);
const micros = (v: number | null | undefined) => (v === null || v === undefined ? NOT_MEASURED : `${int(v)} µs`);
const latencyLabel = (range: number[]) => (range[1] === 0 ? '0 ms' : `${range[0]}–${range[1]} ms`);
const isZero = (range: number[]) => range[1] === 0;

function costWithIdle(cost: ResultCost | undefined): string {
  if (!cost || cost.workerCpuMicrosPerCommand === null || cost.workerCpuMicrosPerCommand === undefined) return NOT_MEASURED;
  const net = cost.workerCpuMicrosPerCommandNetOfIdle;
  const idle = cost.workerIdleCpuMsPerSecond;
  return net === null || net === undefined
    ? micros(cost.workerCpuMicrosPerCommand)
    : `${micros(cost.workerCpuMicrosPerCommand)} (${micros(net)} net of idle; idle ${int(idle ?? 0)} ms/s)`;
}

function peakRss(cost: ResultCost | undefined): string {
  const peaks = Object.entries(cost?.peakRssMiB ?? {}).filter((e): e is [string, number] => typeof e[1] === 'number');
  if (peaks.length === 0) return NOT_MEASURED;
  const workers = peaks.filter(([name]) => name.startsWith('worker')).map(([, v]) => v);
  const webs = peaks.filter(([name]) => name.startsWith('web')).map(([, v]) => v);
  const span = (vs: number[]) => (vs.length === 0 ? '?' : `${Math.min(...vs).toFixed(0)}–${Math.max(...vs).toFixed(0)}`);
  return `workers ${span(workers)} MiB, web ${span(webs)} MiB`;
}

/** `2,040 µs → 980 commands/s`: all processes' CPU per command and the rate it allows on `cores`. */
function ceiling(cost: ResultCost | undefined, cores: number): string {
  const c = cost === undefined ? null : cpuCeiling(cost, cores);
  return c === null ? NOT_MEASURED : `${micros(c.cpuMicrosPerCommand)} → ${rate(c.perS)}`;
}

/** The gains per added process along one kind and latency, e.g. "+728 → -15 → -52". */
function gains(rows: ResultScalingRow[], kind: 'workers' | 'web', zeroLatency: boolean): string {
  const chosen = rows.filter((r) => r.kind === kind && isZero(r.pspLatencyMs) === zeroLatency);
  if (chosen.length === 0) return NOT_MEASURED;
  return chosen.map((r) => `${r.gainPerAddedProcess >= 0 ? '+' : ''}${int(r.gainPerAddedProcess)}`).join(' → ');
}

/** The table's rows from one results file; a figure the run did not measure reads "not in this run". */
export function scalingFigures(results: BenchResultsFile): ScalingFigure[] {
  const rows = results.scaling ?? [];
  const row = (kind: 'workers' | 'web', processes: number, zeroLatency: boolean) =>
    rows.find((r) => r.kind === kind && (kind === 'workers' ? r.workers : r.webs) === processes && isZero(r.pspLatencyMs) === zeroLatency);
  const latencyRow = rows.find((r) => !isZero(r.pspLatencyMs));
  const pspLabel = latencyRow ? latencyLabel(latencyRow.pspLatencyMs) : latencyLabel(results.pspLatency?.pspLatencyMs ?? [200, 300]);
  const oneWorkerZero = row('workers', 1, true);
  const oneWorkerPsp = row('workers', 1, false);
  const oneWeb = row('web', 1, true);
  const twoWebs = row('web', 2, true);
  const sat = results.saturation?.cost;
  const psp = results.pspLatency;
  const cores = Number(results.machine?.cpus ?? 2);
  const workerSrc = (latency: string) => `scaling[kind=workers, workers=1, pspLatencyMs=${latency}].result.perSecond`;
  return [
    { id: 'F1', figure: 'one worker, PSP at 0 ms (CPU-bound), commands/s', value: rate(oneWorkerZero?.result.perSecond), source: workerSrc('[0,0]') },
    {
      id: 'F2',
      figure: `one worker, PSP at ${pspLabel}, default configuration, commands/s`,
      value: rate(oneWorkerPsp?.result.perSecond),
      source: workerSrc(`[${pspLabel.replace(' ms', '').replace('–', ',')}]`),
    },
    {
      id: 'F3',
      figure: `gain per added worker, along the worker rows, at 0 ms / at ${pspLabel}`,
      value: `${gains(rows, 'workers', true)} / ${gains(rows, 'workers', false)} commands/s`,
      source: 'scaling[kind=workers].gainPerAddedProcess',
    },
    {
      id: 'F4',
      figure: `${psp?.workers ?? 2} workers, PSP at ${pspLabel}, default configuration, commands/s`,
      value: rate(psp?.perSecond),
      source: 'pspLatency.perSecond',
    },
    {
      id: 'F5',
      figure: 'worker CPU per command (sum of workers ÷ commands), 0 ms',
      value: costWithIdle(sat),
      source: 'saturation.cost.workerCpuMicrosPerCommand',
    },
    {
      id: 'F6',
      figure: `worker CPU per command at ${pspLabel}`,
      value: costWithIdle(psp?.cost),
      source: 'pspLatency.cost.workerCpuMicrosPerCommand',
    },
    {
      id: 'F7',
      figure: 'web CPU per bus command (HTTP intake: verify, validate, publish)',
      value: micros(oneWeb?.result.cost.webCpuMicrosPerCommand),
      source: 'scaling[kind=web, webs=1, pspLatencyMs=[0,0]].result.cost.webCpuMicrosPerCommand',
    },
    {
      id: 'F8',
      figure: 'web process, captures over HTTP, commands/s; gain of a second web; the stand-ins (bench HTTP client, bus twin, simulator) per command',
      value:
        oneWeb === undefined
          ? NOT_MEASURED
          : `${rate(oneWeb.result.perSecond)} with one web; second web ${twoWebs ? `${twoWebs.gainPerAddedProcess >= 0 ? '+' : ''}${int(twoWebs.gainPerAddedProcess)}/s` : NOT_MEASURED}; stand-ins ${micros(oneWeb.result.benchCpuMicrosPerCommand)}`,
      source: 'scaling[kind=web].result.perSecond, .gainPerAddedProcess, .result.benchCpuMicrosPerCommand',
    },
    {
      id: 'F9',
      figure: 'RabbitMQ CPU per command (classic queue)',
      value: micros(sat?.rabbitmqCpuMicrosPerCommand),
      source: 'saturation.cost.rabbitmqCpuMicrosPerCommand',
    },
    { id: 'F10', figure: 'Redis CPU per command', value: micros(sat?.redisCpuMicrosPerCommand), source: 'saturation.cost.redisCpuMicrosPerCommand' },
    {
      id: 'F11',
      figure: 'Redis round trips / commands executed per command',
      value:
        results.redis?.roundTripsPerCommand === undefined || results.redis.perCommandMonitor === undefined
          ? NOT_MEASURED
          : `${results.redis.roundTripsPerCommand.toFixed(1)} / ${results.redis.perCommandMonitor.toFixed(1)}`,
      source: 'redis.roundTripsPerCommand, redis.perCommandMonitor',
    },
    {
      id: 'F12',
      figure: 'worker V8 heap allocation per command',
      value:
        sat?.workerAllocatedBytesPerCommand === null || sat?.workerAllocatedBytesPerCommand === undefined
          ? NOT_MEASURED
          : `${(sat.workerAllocatedBytesPerCommand / 1024).toFixed(0)} KiB`,
      source: 'saturation.cost.workerAllocatedBytesPerCommand',
    },
    { id: 'F13', figure: `peak RSS per worker / web at ${pspLabel}`, value: peakRss(psp?.cost), source: 'pspLatency.cost.peakRssMiB' },
    {
      id: 'F14',
      figure: 'raw AMQP, one classic queue, one consumer, messages/s',
      value: results.raw?.perSecond === undefined ? NOT_MEASURED : `${int(results.raw.perSecond)} messages/s`,
      source: 'raw.perSecond',
    },
    {
      id: 'F15',
      figure: `in flight per worker at ${pspLabel} (Little: F2 × mean latency)`,
      value:
        oneWorkerPsp === undefined
          ? NOT_MEASURED
          : `${int((oneWorkerPsp.result.perSecond * (oneWorkerPsp.pspLatencyMs[0] + oneWorkerPsp.pspLatencyMs[1])) / 2 / 1000)} commands`,
      source: 'derived',
    },
    {
      id: 'F16',
      figure: `all processes' CPU per command (workers, web, RabbitMQ, Redis, stand-ins) → the rate it allows on ${cores} cores, at 0 ms / at ${pspLabel}`,
      value: `${ceiling(sat, cores)} / ${ceiling(psp?.cost, cores)}`,
      source: 'saturation.cost, pspLatency.cost, machine.cpus',
    },
  ];
}

/** The run's provenance line under the table. */
export function scalingFiguresSource(results: BenchResultsFile, fileName: string): string {
  const s = results.settings ?? {};
  const load = results.loadAverage1m;
  const size = s.quick
    ? `\`PB_BENCH_QUICK=1\` (${s.commands ?? '?'} commands at saturation, ${s.pspCommands ?? '?'} at PSP latency, ${s.scalingCommands ?? '?'} per scaling row)`
    : `${s.commands ?? '?'} commands at saturation, ${s.pspCommands ?? '?'} at PSP latency, ${s.scalingCommands ?? '?'} per scaling row`;
  const loadText = load?.start === undefined ? '' : `; 1-minute load average ${load.start.toFixed(1)} at start, ${(load.end ?? NaN).toFixed(1)} at end`;
  return `Source: \`bench/results/${fileName}\` (and \`.md\`), git ${results.git ?? '?'}, ${size}${loadText}.`;
}

/** The table as markdown (with the source line), ready to stand between the document's markers. */
export function scalingFiguresMarkdown(results: BenchResultsFile, fileName: string): string {
  const lines = ['| #   | figure | value | source (results file field) |', '| --- | --- | --- | --- |'];
  for (const f of scalingFigures(results)) lines.push(`| ${f.id} | ${f.figure} | ${f.value} | \`${f.source}\` |`);
  return `${lines.join('\n')}\n\n${scalingFiguresSource(results, fileName)}`;
}

/**
 * Replaces what stands between `<!-- scaling-figures:begin -->` and `<!-- scaling-figures:end -->`, with a
 * blank line on each side of `body`, as Prettier lays the block out (the document is under `npm run format:check`).
 */
export function replaceBetweenMarkers(document: string, body: string): string {
  const begin = '<!-- scaling-figures:begin -->';
  const end = '<!-- scaling-figures:end -->';
  const from = document.indexOf(begin);
  const to = document.indexOf(end);
  if (from < 0 || to < from) throw new Error(`the document has no ${begin} … ${end} block`);
  return `${document.slice(0, from + begin.length)}\n\n${body.trim()}\n\n${document.slice(to)}`;
}
