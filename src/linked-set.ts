/**
 * A set for objects that come and go by the thousand a second (connections, in a worker and in a
 * master that reads request heads): a doubly linked list through small nodes, each found from its
 * object by a symbol property.
 *
 * Not a `Set`, for the garbage collector's sake. V8 keeps a Set's entries in a hash table in the
 * old generation; as entries are added and deleted the table is rebuilt, and the old table keeps a
 * link to the new one and its entries as they were. A scavenge treats every old-to-young pointer
 * as live without looking at whether the old object is, so a dead old table keeps the young
 * connections it listed alive, with every object they hold: they are promoted, and the next
 * table's entries with them. With a new connection per request a Set of the open connections
 * promoted about 1.8 MB per scavenge (every 170 ms under load), scavenges took 3-6 ms instead of
 * 0.3, and the old generation filled until a mark-compact (measured on Node 24: a bare node:http
 * server served 25% fewer requests with such a Set than without). A list node that leaves is
 * unlinked and its pointers cleared, so a dead node holds nothing.
 *
 * The requests in flight are a list of the same kind but run through the requests themselves
 * (workers/pipeline.ts): that one is on every request's path, where a node per entry would be one
 * more allocation, and it needs its oldest entry.
 */

interface Node<T> {
  item: T | null;
  prev: Node<T> | null;
  next: Node<T> | null;
}

export class LinkedSet<T extends object> implements Iterable<T> {
  /** Where an item keeps its node; a symbol per set, so one object can be in several sets. */
  readonly #key = Symbol('linkedSet.node');
  #head: Node<T> | null = null;
  #tail: Node<T> | null = null;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  has(item: T): boolean {
    return this.#nodeOf(item) !== undefined;
  }

  /** Adds `item` at the end (iteration is in the order of adding); false if it is already in. */
  add(item: T): boolean {
    if (this.#nodeOf(item) !== undefined) return false;
    const node: Node<T> = { item, prev: this.#tail, next: null };
    if (this.#tail === null) this.#head = node;
    else this.#tail.next = node;
    this.#tail = node;
    (item as Record<symbol, Node<T> | undefined>)[this.#key] = node;
    this.#size++;
    return true;
  }

  /** Removes `item`; false if it was not in. */
  delete(item: T): boolean {
    const node = this.#nodeOf(item);
    if (node === undefined) return false;
    const { prev, next } = node;
    if (prev === null) this.#head = next;
    else prev.next = next;
    if (next === null) this.#tail = prev;
    else next.prev = prev;
    node.item = null;
    node.prev = null;
    node.next = null;
    // Set to undefined rather than deleted: deleting a property sends the object to dictionary mode.
    (item as Record<symbol, Node<T> | undefined>)[this.#key] = undefined;
    this.#size--;
    return true;
  }

  /** Removes every item. */
  clear(): void {
    for (const item of this) this.delete(item);
  }

  /**
   * The items in the order they were added, as they were when iteration began: an item deleted
   * meanwhile is skipped, one added meanwhile is not visited. Callers iterate rarely (a drain), and
   * often close what they visit.
   */
  *[Symbol.iterator](): IterableIterator<T> {
    const items: T[] = [];
    for (let node = this.#head; node !== null; node = node.next) items.push(node.item as T);
    for (const item of items) if (this.has(item)) yield item;
  }

  #nodeOf(item: T): Node<T> | undefined {
    return (item as Record<symbol, Node<T> | undefined>)[this.#key];
  }
}
