/**
 * Household load and PV replayed from measured hourly data (see sim/data/README.md). Each
 * hourly average is held for its whole hour, so the replayed energy of an hour is the
 * measured kWh. The slice holds one winter and one summer week; any other instant maps onto
 * the week of its season at the same UTC time of day, so the simulator can start anywhere.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export const defaultProfileFile = fileURLToPath(new URL('../data/residential4_2016_slice.csv', import.meta.url));

export interface ProfileSample {
  loadKw: number;
  pvKw: number;
}

/** A run of consecutive whole days of hourly samples. */
interface Block {
  startMs: number;
  days: number;
  samples: ProfileSample[];
}

export interface Profile {
  /** Load and PV in force at `tMs` (constant until `nextChangeMs(tMs)`). */
  at(tMs: number): ProfileSample;
  /** The next instant after `tMs` at which the values may change (the next whole UTC hour). */
  nextChangeMs(tMs: number): number;
}

export function loadProfile(file: string = defaultProfileFile): Profile {
  return parseProfile(readFileSync(file, 'utf8'), file);
}

export function parseProfile(csv: string, source = 'profile'): Profile {
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const header = lines.shift()?.split(',').map((h) => h.trim()) ?? [];
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`${source}: missing column "${name}" (header: ${header.join(',')})`);
    return i;
  };
  const [tCol, loadCol, pvCol] = [col('timestamp'), col('load_kw'), col('pv_kw')];
  const rows = lines.map((line, i) => {
    const cells = line.split(',');
    const tMs = Date.parse(cells[tCol] ?? '');
    const loadKw = Number(cells[loadCol]);
    const pvKw = Number(cells[pvCol]);
    if (!Number.isFinite(tMs) || tMs % HOUR_MS !== 0) throw new Error(`${source} line ${i + 2}: timestamp "${cells[tCol]}" is not a whole UTC hour`);
    if (cells[loadCol] === '' || cells[pvCol] === '' || !(loadKw >= 0) || !(pvKw >= 0)) throw new Error(`${source} line ${i + 2}: load_kw and pv_kw must be numbers ≥ 0`);
    return { tMs, loadKw, pvKw };
  });
  const blocks: Block[] = [];
  for (const row of rows) {
    const last = blocks.at(-1);
    const sample = { loadKw: row.loadKw, pvKw: row.pvKw };
    if (last && row.tMs === last.startMs + last.samples.length * HOUR_MS) last.samples.push(sample);
    else if (row.tMs % DAY_MS === 0) blocks.push({ startMs: row.tMs, days: 0, samples: [sample] });
    else throw new Error(`${source}: every run of hours must start at 00:00Z (found ${new Date(row.tMs).toISOString()})`);
  }
  for (const b of blocks) {
    if (b.samples.length % 24 !== 0) throw new Error(`${source}: the run from ${new Date(b.startMs).toISOString()} is not whole days`);
    b.days = b.samples.length / 24;
  }
  if (blocks.length === 0) throw new Error(`${source}: no data rows`);
  const summer = blocks.find((b) => isSummer(b.startMs)) ?? blocks[0]!;
  const winter = blocks.find((b) => !isSummer(b.startMs)) ?? blocks[0]!;

  return {
    at(tMs) {
      const hourMs = Math.floor(tMs / HOUR_MS) * HOUR_MS;
      const inside = blocks.find((b) => hourMs >= b.startMs && hourMs < b.startMs + b.samples.length * HOUR_MS);
      if (inside) return inside.samples[(hourMs - inside.startMs) / HOUR_MS]!;
      const block = isSummer(tMs) ? summer : winter;
      const dayNumber = Math.floor(tMs / DAY_MS);
      const hourOfDay = Math.floor((tMs - dayNumber * DAY_MS) / HOUR_MS);
      return block.samples[mod(dayNumber, block.days) * 24 + hourOfDay]!;
    },
    nextChangeMs(tMs) {
      return (Math.floor(tMs / HOUR_MS) + 1) * HOUR_MS;
    },
  };
}

function isSummer(tMs: number): boolean {
  const month = new Date(tMs).getUTCMonth();
  return month >= 3 && month <= 8;
}

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}
