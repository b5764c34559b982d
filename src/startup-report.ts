// What a person reads when the server has started: where to open it, where its data lives, and which
// capabilities are on, each one that is off with why and the command that turns it on.
import path from 'node:path';
import { homeRelative } from './media/worker-binary.js';

export type Capability = { on: true; detail: string } | { on: false; reason: string; fix?: string };

export interface StartupReport {
  version: string;
  /** Milliseconds from the start of `startVeza` until it listened and every module ran. */
  readyMs: number;
  /** Where that time went: opening storage, migrations, and each module whose start took 100 ms or more (ms). */
  phasesMs: Record<string, number>;
  url: string;
  /** What runs: the compiled copy (build/) or the TypeScript sources through tsx. */
  code: 'compiled' | 'sources';
  storage: string;
  bus: string;
  /** Each capability's line, in the order of the modules that report them. */
  modules: { name: string; state: Capability }[];
  examples: { imported: number; present: number; titles: string[] } | null;
  /** Resident memory of the process at the end of start-up, in MiB. */
  rssMiB: number;
  /** The most it held until then (VmHWM; null where /proc is not there), in MiB. */
  peakRssMiB: number | null;
  /** The embedded database's WASM memory, part of the resident figure (null on PostgreSQL), in MiB. */
  databaseWasmMiB: number | null;
}

/** The address a person opens: a wildcard listen address is reached on localhost. */
export function openUrl(host: string, port: number): string {
  const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${shown}:${port}`;
}

/** A data directory as the person started the server from sees it (relative when under it). */
export function shownDir(dir: string, cwd = process.cwd()): string {
  const relative = path.relative(cwd, dir);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? `./${relative}` : homeRelative(dir);
}

function line(label: string, state: Capability): string {
  return `  ${label.padEnd(15)} ${state.on ? `on   ${state.detail}` : `off  ${state.reason}${state.fix ? `; to turn it on: ${state.fix}` : ''}`}`;
}

export function formatStartupReport(report: StartupReport): string {
  const lines = [
    `Veza Studio ${report.version} ready in ${(report.readyMs / 1000).toFixed(1)} s (${Object.entries(report.phasesMs).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}`).join(', ')}): open ${report.url}`,
    `  ${'code'.padEnd(15)} ${report.code === 'compiled' ? 'compiled copy of the sources (build/)' : 'TypeScript sources through tsx (npm start compiles them once they change)'}`,
    `  ${'storage'.padEnd(15)} ${report.storage}`,
    `  ${'events bus'.padEnd(15)} ${report.bus}`,
    ...report.modules.map((m) => line(m.name, m.state)),
  ];
  if (report.examples) {
    const { imported, present, titles } = report.examples;
    lines.push(`  ${'examples'.padEnd(15)} ${present} example session${present === 1 ? '' : 's'}${imported > 0 ? ` (${imported} imported now)` : ''}${titles.length ? `: ${titles.join(', ')}` : ''}`);
  }
  const memoryParts = [report.peakRssMiB === null ? null : `peak ${report.peakRssMiB} MiB`, report.databaseWasmMiB === null ? null : `embedded database ${report.databaseWasmMiB} MiB of WASM memory`].filter(Boolean);
  lines.push(`  ${'memory'.padEnd(15)} ${report.rssMiB} MiB resident${memoryParts.length ? ` (${memoryParts.join('; ')})` : ''}`);
  return `${lines.join('\n')}\n`;
}
