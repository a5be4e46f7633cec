/** Promises parked on a key until something wakes the key or their time runs out. */
export class Waiters {
  private readonly parked = new Map<string, Set<() => void>>();

  wait(key: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const set = this.parked.get(key) ?? new Set();
      this.parked.set(key, set);
      const wake = () => {
        clearTimeout(timeout);
        set.delete(wake);
        if (set.size === 0) this.parked.delete(key);
        resolve();
      };
      const timeout = setTimeout(wake, timeoutMs);
      set.add(wake);
    });
  }

  wake(key: string): void {
    for (const wake of [...(this.parked.get(key) ?? [])]) wake();
  }

  wakeAll(): void {
    for (const key of [...this.parked.keys()]) this.wake(key);
  }
}
