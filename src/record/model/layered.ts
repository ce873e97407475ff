import type { Entry } from './state.js';

const GONE = Symbol('gone');

/**
 * A state made of a base state that is never written and a layer of what differs from it:
 * a scan under a few roots of a 50k-path state starts from one of these instead of a copy
 * of the whole state (trail watch made one per window: ~10 ms and 50k entries of garbage
 * at 50k files). It is a Map in every respect callers use (get, has, set, delete, size,
 * iteration: the base's order, then paths new in the layer); the base must not change while
 * a layered state is in use (recorded states are never changed in place).
 */
export class LayeredState<K = string, V = Entry> extends Map<K, V> {
  private count: number;
  private constructor(
    readonly base: Map<K, V>,
    private readonly layer: Map<K, V | typeof GONE>,
    count: number,
  ) {
    super();
    this.count = count;
  }

  /** A state equal to `previous`, to be changed without changing it. Its layer is copied
   * (never the base): when that layer has grown to `flattenAt` paths, the whole state is
   * copied once into a new base instead, so that a long run of windows stays cheap. */
  static over<K, V>(previous: Map<K, V>, flattenAt = 4096): LayeredState<K, V> {
    if (previous instanceof LayeredState) {
      const p = previous as LayeredState<K, V>;
      if (p.layer.size < flattenAt) return new LayeredState(p.base, new Map(p.layer), p.count);
      return new LayeredState(new Map(p), new Map(), p.size);
    }
    return new LayeredState(previous, new Map(), previous.size);
  }

  /** What differs from the base: each such path with its entry, or undefined where the
   * base's entry is gone. For what is derived from a state and can be carried forward from
   * the base's (read/secret-copies.ts) instead of walking the whole state again. */
  *changes(): IterableIterator<[K, V | undefined]> {
    for (const [k, v] of this.layer) yield [k, v === GONE ? undefined : v];
  }

  /** Paths that differ from the base (for tests and the flattening rule). */
  get layered(): number {
    return this.layer.size;
  }

  override get size(): number {
    return this.count;
  }

  override get(path: K): V | undefined {
    const v = this.layer.get(path);
    if (v === undefined) return this.base.get(path);
    return v === GONE ? undefined : v;
  }

  override has(path: K): boolean {
    const v = this.layer.get(path);
    if (v === undefined) return this.base.has(path);
    return v !== GONE;
  }

  override set(path: K, entry: V): this {
    if (!this.has(path)) this.count++;
    // Back to the base's very entry (a scan reuses unchanged entries): nothing to keep.
    if (this.base.get(path) === entry) this.layer.delete(path);
    else this.layer.set(path, entry);
    return this;
  }

  override delete(path: K): boolean {
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

  override *entries(): MapIterator<[K, V]> {
    for (const [k, e] of this.base) {
      const v = this.layer.get(k);
      if (v === undefined) yield [k, e];
      else if (v !== GONE) yield [k, v];
    }
    for (const [k, v] of this.layer) if (v !== GONE && !this.base.has(k)) yield [k, v];
  }

  override *keys(): MapIterator<K> {
    for (const [k] of this.entries()) yield k;
  }

  override *values(): MapIterator<V> {
    for (const [, e] of this.entries()) yield e;
  }

  override [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  override forEach(fn: (value: V, key: K, map: Map<K, V>) => void, thisArg?: unknown): void {
    for (const [k, e] of this.entries()) fn.call(thisArg, e, k, this);
  }
}

/**
 * A set that is a base set never written plus what was added to it (only adding, as the ids
 * of trees known to be in the repository do from one commit to the next): a window of trail
 * watch copied the ~13k ids of a 50k-file trail, and their folder memo, on every commit.
 */
export class LayeredSet<T> extends Set<T> {
  private constructor(
    private readonly base: Set<T>,
    private readonly added: Set<T>,
  ) {
    super();
  }

  /** A set equal to `previous`, to be added to without changing it; copied into one set
   * once `flattenAt` additions have piled up. */
  static over<T>(previous: Set<T>, flattenAt = 4096): LayeredSet<T> {
    if (previous instanceof LayeredSet) {
      const p = previous as LayeredSet<T>;
      if (p.added.size < flattenAt) return new LayeredSet(p.base, new Set(p.added));
      return new LayeredSet(new Set(p), new Set());
    }
    return new LayeredSet(previous, new Set());
  }

  override get size(): number {
    return this.base.size + this.added.size;
  }

  override has(v: T): boolean {
    return this.base.has(v) || this.added.has(v);
  }

  override add(v: T): this {
    if (!this.base.has(v)) this.added.add(v);
    return this;
  }

  override delete(): boolean {
    throw new Error('LayeredSet: only adding');
  }

  override clear(): void {
    throw new Error('LayeredSet: only adding');
  }

  override *values(): SetIterator<T> {
    yield* this.base;
    yield* this.added;
  }

  override keys(): SetIterator<T> {
    return this.values();
  }

  override *entries(): SetIterator<[T, T]> {
    for (const v of this.values()) yield [v, v];
  }

  override [Symbol.iterator](): SetIterator<T> {
    return this.values();
  }

  override forEach(fn: (value: T, key: T, set: Set<T>) => void, thisArg?: unknown): void {
    for (const v of this.values()) fn.call(thisArg, v, v, this);
  }
}
