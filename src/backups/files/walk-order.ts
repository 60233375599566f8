import type { StoredListing } from "../../store/catalog.js";
import type { FrameMemo } from "../../store/listing-codec.js";
import type { Entry } from "./entry.js";
import { bytesOfName } from "./names.js";

/**
 * The order a walk gives (walk.ts): a directory before what is in it, its subtree before its
 * next sibling, names by their bytes. As a comparison of two relative paths: component by
 * component, each by its bytes, so `/` ends a component before any byte does (`a/x` comes
 * before `a.b`, where plain string order puts it after). Format 4 listings are in this order,
 * so a walk and a listing merge without sorting either.
 */
export function compareWalkOrder(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  // One is a prefix of the other: a parent (or a shorter name) first.
  if (i === n) return a.length - b.length;
  const x = a.charCodeAt(i);
  const y = b.charCodeAt(i);
  if (x === 0x2f) return -1;
  if (y === 0x2f) return 1;
  // Below the surrogates, UTF-16 order is code point order, which is UTF-8's byte order.
  if (x < 0xd800 && y < 0xd800) return x - y;
  // Else by the bytes themselves (raw bytes are carried as surrogates, names.ts), from the start
  // of the character they differ in.
  const from = i > 0 && isHighSurrogate(a.charCodeAt(i - 1)) ? i - 1 : i;
  return compareBytes(bytesOfName(a.slice(from)), bytesOfName(b.slice(from)));
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

function compareBytes(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] === b[i]) continue;
    if (a[i] === 0x2f) return -1;
    if (b[i] === 0x2f) return 1;
    return a[i]! - b[i]!;
  }
  return a.length - b.length;
}

/**
 * A stored listing's entries in walk order, one at a time, as often as asked. Format 4 is stored
 * so; an older one (sorted as strings) is read whole and sorted once: the first backup or restore
 * after an upgrade costs the memory of one whole listing, every later one does not.
 */
export function inWalkOrder(listing: StoredListing, memo?: FrameMemo): () => Iterable<Entry> {
  if (listing.format >= 4) return () => listing.entries(memo);
  let sorted: Entry[] | undefined;
  return () => {
    sorted ??= [...listing.entries()].sort((a, b) => compareWalkOrder(a.rel, b.rel));
    return sorted;
  };
}

/**
 * A listing read alongside a walk: ask for each walked path, in walk order, and get the
 * listing's entry for it, if it has one. Only the entry under the cursor is held.
 */
export class ListingCursor {
  private readonly iterator: Iterator<Entry>;
  private head: Entry | undefined;

  constructor(entries: Iterable<Entry>) {
    this.iterator = entries[Symbol.iterator]();
    this.head = this.next();
  }

  /** The entry for `rel`, skipping every entry before it in walk order. */
  at(rel: string): Entry | undefined {
    while (this.head !== undefined && compareWalkOrder(this.head.rel, rel) < 0)
      this.head = this.next();
    return this.head?.rel === rel ? this.head : undefined;
  }

  /** Read to the end: a stored listing's hash is checked there (listing-codec.ts). */
  finish(): void {
    while (this.head !== undefined) this.head = this.next();
  }

  private next(): Entry | undefined {
    const step = this.iterator.next();
    return step.done ? undefined : step.value;
  }
}
