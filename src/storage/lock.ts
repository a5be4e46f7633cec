/**
 * One process per store: a lock file created with O_EXCL that names its holder by pid, boot id
 * and process start time. A holder that died (kill -9, power cut) leaves the file behind; it is
 * stale when that process is not running any more — another boot, no such pid, a zombie (dead,
 * not yet reaped by its parent), or the pid now belongs to a process that started at another
 * time (pids are reused, and a gateway that boots the same way every time gets the same pid
 * after a power cut). A lock that cannot be written (a full SD card) is removed again at once,
 * so it never blocks the opens that follow once space is freed.
 */
import { closeSync, fstatSync, fsyncSync, linkSync, openSync, readFileSync, readSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncDirectory } from './journal.ts';

export const LOCK_FILE = 'LOCK';

/** An empty or unreadable lock this young may be one being written right now. */
const UNREADABLE_LOCK_GRACE_MS = 10_000;

export interface LockHolder {
  pid: number;
  /** /proc/sys/kernel/random/boot_id ('' where there is none). */
  bootId: string;
  /** Start time of the process in clock ticks since boot (/proc/<pid>/stat field 22), null where unknown. */
  startTicks: string | null;
}

export class StoreLockedError extends Error {
  constructor(readonly dir: string, readonly holder: LockHolder | null) {
    super(
      holder === null
        ? `the store ${dir} is being locked by another process right now (${join(dir, LOCK_FILE)} is still empty)`
        : `the store ${dir} is in use by process ${holder.pid} (${join(dir, LOCK_FILE)}); stop it first`,
    );
    this.name = 'StoreLockedError';
  }
}

export interface StoreLock {
  /** The dead process whose lock was taken over, if any (worth a log line). */
  readonly staleHolder: LockHolder | null;
  release(): void;
}

/** Throws StoreLockedError while a live process holds `dir`. */
export function lockStore(dir: string): StoreLock {
  const path = join(dir, LOCK_FILE);
  const self: LockHolder = { pid: process.pid, bootId: bootId(), startTicks: startTicks(process.pid) };
  const content = `${JSON.stringify(self)}\n`;
  let staleHolder: LockHolder | null = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    if (createExclusive(path, content)) {
      fsyncDirectory(dir);
      return { staleHolder, release: () => release(path, content) };
    }
    const found = readLock(path);
    if (found === undefined) continue; // released between our create and our read
    if (found.holder === null) {
      if (Date.now() - found.mtimeMs < UNREADABLE_LOCK_GRACE_MS) throw new StoreLockedError(dir, null);
    } else if (isRunning(found.holder, self.bootId)) {
      throw new StoreLockedError(dir, found.holder);
    } else {
      staleHolder = found.holder;
    }
    removeStale(path, found.ino);
  }
  throw new StoreLockedError(dir, staleHolder);
}

function createExclusive(path: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw lockError(path, error);
  }
  try {
    const written = writeSync(fd, content);
    if (written !== Buffer.byteLength(content)) throw Object.assign(new Error(`short write (${written} bytes)`), { code: 'ENOSPC' });
    fsyncSync(fd);
  } catch (error) {
    // A full card creates the (empty) file but not its content: left behind, it would read as
    // "being written right now" and refuse every open for the grace period. It is ours: remove it.
    try {
      unlinkSync(path);
    } catch {
      // The write's error is the one worth reporting.
    }
    throw lockError(path, error);
  } finally {
    closeSync(fd);
  }
  return true;
}

function lockError(path: string, cause: unknown): Error {
  const { code, message } = cause as NodeJS.ErrnoException;
  return Object.assign(new Error(`${path}: cannot create the lock: ${message}`, { cause }), { code });
}

function readLock(path: string): { holder: LockHolder | null; ino: number; mtimeMs: number } | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const { ino, mtimeMs } = fstatSync(fd);
    const buffer = Buffer.alloc(4096);
    const text = buffer.toString('utf8', 0, readSync(fd, buffer, 0, buffer.length, 0));
    return { holder: parseHolder(text), ino, mtimeMs };
  } finally {
    closeSync(fd);
  }
}

function parseHolder(text: string): LockHolder | null {
  try {
    const parsed = JSON.parse(text) as Partial<LockHolder>;
    if (!Number.isInteger(parsed.pid) || typeof parsed.bootId !== 'string') return null;
    return { pid: parsed.pid!, bootId: parsed.bootId, startTicks: typeof parsed.startTicks === 'string' ? parsed.startTicks : null };
  } catch {
    return null;
  }
}

function isRunning(holder: LockHolder, currentBootId: string): boolean {
  if (holder.bootId !== '' && currentBootId !== '' && holder.bootId !== currentBootId) return false;
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    // EPERM: the pid exists but belongs to another user.
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  // A killed holder whose parent has not reaped it yet still answers kill(pid, 0), but it is dead.
  const stat = procStat(holder.pid);
  if (stat !== null && DEAD_STATES.has(stat.state)) return false;
  return holder.startTicks === null || stat?.startTicks === holder.startTicks;
}

/** /proc/<pid>/stat states of a process that has exited: Z zombie, X dead. */
const DEAD_STATES = new Set(['Z', 'X']);

/**
 * Moves the stale lock aside and checks it is the file that was judged stale: if another
 * process replaced it in between, that fresh lock is linked back (link fails rather than
 * overwrite a lock created meanwhile).
 */
function removeStale(path: string, staleIno: number): void {
  const aside = `${path}.stale-${process.pid}`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (statSync(aside).ino !== staleIno) {
    try {
      linkSync(aside, path);
    } catch {
      // Someone holds a newer lock at `path` already; the next attempt finds it.
    }
  }
  unlinkSync(aside);
}

function release(path: string, content: string): void {
  try {
    if (readFileSync(path, 'utf8') !== content) return; // not ours any more
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
}

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

function startTicks(pid: number): string | null {
  return procStat(pid)?.startTicks ?? null;
}

/** State (field 3) and start time (field 22) from /proc/<pid>/stat; null where there is none. */
function procStat(pid: number): { state: string; startTicks: string | null } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may itself contain spaces or ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', startTicks: fields[19] ?? null };
  } catch {
    return null;
  }
}
