import type { Entry, State } from './state.js';

const GONE = Symbol('gone');
type Slot = Entry | typeof GONE;

/**
 * A state made of a base state that is never written and a layer of what differs from it:
 * a scan under a few roots of a 50k-path state starts from one of these instead of a copy
 * of the whole state (trail watch made one per window: ~10 ms and 50k entries of garbage
 * at 50k files). It is a Map in every respect callers use (get, has, set, delete, size,
 * iteration: the base's order, then paths new in the layer); the base must not change while
 * a layered state is in use (recorded states are never changed in place).
 */
export class LayeredState extends Map<string, Entry> {
  private count: number;
  private constructor(
    readonly base: State,
    private readonly layer: Map<string, Slot>,
    count: number,
  ) {
    super();
    this.count = count;
  }

  /** A state equal to `previous`, to be changed without changing it. Its layer is copied
   * (never the base): when that layer has grown to `flattenAt` paths, the whole state is
   * copied once into a new base instead, so that a long run of windows stays cheap. */
  static over(previous: State, flattenAt = 4096): LayeredState {
    if (previous instanceof LayeredState) {
      if (previous.layer.size < flattenAt) return new LayeredState(previous.base, new Map(previous.layer), previous.count);
      return new LayeredState(new Map(previous), new Map(), previous.size);
    }
    return new LayeredState(previous, new Map(), previous.size);
  }

  /** Paths that differ from the base (for tests and the flattening rule). */
  get layered(): number {
    return this.layer.size;
  }

  override get size(): number {
    return this.count;
  }

  override get(path: string): Entry | undefined {
    const v = this.layer.get(path);
    if (v === undefined) return this.base.get(path);
    return v === GONE ? undefined : v;
  }

  override has(path: string): boolean {
    const v = this.layer.get(path);
    if (v === undefined) return this.base.has(path);
    return v !== GONE;
  }

  override set(path: string, entry: Entry): this {
    if (!this.has(path)) this.count++;
    // Back to the base's very entry (a scan reuses unchanged entries): nothing to keep.
    if (this.base.get(path) === entry) this.layer.delete(path);
    else this.layer.set(path, entry);
    return this;
  }

  override delete(path: string): boolean {
    if (!this.has(path)) return false;
    this.count--;
    if (this.base.has(path)) this.layer.set(path, GONE);
    else this.layer.delete(path);
    return true;
  }

  override clear(): void {
    for (const k of this.base.keys()) this.layer.set(k, GONE);
    for (const [k, v] of this.layer) if (v !== GONE) this.layer.delete(k);
    this.count = 0;
  }

  override *entries(): MapIterator<[string, Entry]> {
    for (const [k, e] of this.base) {
      const v = this.layer.get(k);
      if (v === undefined) yield [k, e];
      else if (v !== GONE) yield [k, v];
    }
    for (const [k, v] of this.layer) if (v !== GONE && !this.base.has(k)) yield [k, v];
  }

  override *keys(): MapIterator<string> {
    for (const [k] of this.entries()) yield k;
  }

  override *values(): MapIterator<Entry> {
    for (const [, e] of this.entries()) yield e;
  }

  override [Symbol.iterator](): MapIterator<[string, Entry]> {
    return this.entries();
  }

  override forEach(fn: (value: Entry, key: string, map: Map<string, Entry>) => void, thisArg?: unknown): void {
    for (const [k, e] of this.entries()) fn.call(thisArg, e, k, this);
  }
}
