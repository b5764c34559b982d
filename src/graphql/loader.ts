// A per-request batch loader (the DataLoader idea, small): every `load` made while one tick of
// resolvers runs is collected, then fetched with one call of `batch`; answers are cached for the
// rest of the request. A list of N sessions asking for their tracks makes one storage read, not N.

export class BatchLoader<K, V> {
  private readonly cache = new Map<K, Promise<V>>();
  private pending: { key: K; resolve: (value: V) => void; reject: (error: unknown) => void }[] = [];

  constructor(private readonly batch: (keys: K[]) => Promise<Map<K, V>>) {}

  load(key: K): Promise<V> {
    let answer = this.cache.get(key);
    if (!answer) {
      answer = new Promise<V>((resolve, reject) => {
        if (this.pending.length === 0) process.nextTick(() => void this.dispatch());
        this.pending.push({ key, resolve, reject });
      });
      this.cache.set(key, answer);
    }
    return answer;
  }

  private async dispatch(): Promise<void> {
    const waiting = this.pending;
    this.pending = [];
    try {
      const found = await this.batch(waiting.map((w) => w.key));
      for (const w of waiting) {
        if (found.has(w.key)) w.resolve(found.get(w.key)!);
        else w.reject(new Error(`nothing found for ${String(w.key)}`));
      }
    } catch (error) {
      for (const w of waiting) w.reject(error);
    }
  }
}
