import {
  type Document,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  visit,
} from "yaml";

export type DocPath = Array<string | number>;

/** A parsed YAML manifest that can say where any path in it is. */
export class ManifestSource {
  readonly lineCounter = new LineCounter();
  readonly doc: Document.Parsed;

  constructor(
    readonly file: string,
    readonly text: string,
  ) {
    this.doc = parseDocument(text, {
      lineCounter: this.lineCounter,
      prettyErrors: false,
      uniqueKeys: true,
    });
    this.keepCommandWordsAsWritten();
  }

  // In YAML, `run: [true]` is a boolean and `[chmod, 0755, f]` holds the number 755. A command's
  // words, and environment values, are text: take each plain scalar there exactly as written.
  private keepCommandWordsAsWritten(): void {
    const steps = [this.doc.get("steps", true), this.doc.get("finally", true)].flatMap((list) =>
      isSeq(list) ? list.items : [],
    );
    for (const step of steps) {
      if (!isMap(step)) continue;
      for (const path of [["run"], ["undo"], ["check", "command"], ["env"]]) {
        const node = step.getIn(path, true);
        const scalars = isSeq(node)
          ? node.items
          : isMap(node)
            ? node.items.map((p) => (isPair(p) ? p.value : null))
            : [];
        for (const item of scalars) {
          if (isScalar(item) && typeof item.value !== "string" && item.value !== null) {
            const written = (item as { source?: unknown }).source;
            item.value = typeof written === "string" ? written : String(item.value);
          }
        }
      }
    }
  }

  /** Where the first alias without an anchor before it is (else the document's start). */
  locateBrokenAlias(): { line: number; col: number } {
    let found: { line: number; col: number } | undefined;
    visit(this.doc, {
      Alias: (_key, node) => {
        if (!found && node.resolve(this.doc) === undefined && node.range) {
          found = this.lineCounter.linePos(node.range[0]);
          return visit.BREAK;
        }
        return undefined;
      },
    });
    return found ?? { line: 1, col: 1 };
  }

  /** Line and column (1-based) of the value at `path`, or of its key with `key: true`; the
   * nearest existing ancestor when the path is not in the document. */
  locate(path: DocPath, options: { key?: boolean } = {}): { line: number; col: number } {
    for (let depth = path.length; depth >= 0; depth--) {
      const at = path.slice(0, depth);
      if (options.key && depth === path.length && depth > 0) {
        const parent = this.doc.getIn(at.slice(0, -1), true);
        if (isMap(parent)) {
          const pair = parent.items.find(
            (p) => isPair(p) && isScalar(p.key) && p.key.value === at[at.length - 1],
          );
          const range = (pair?.key as { range?: [number, number, number] } | undefined)?.range;
          if (range) return this.lineCounter.linePos(range[0]);
        }
      }
      const node = depth === 0 ? this.doc.contents : this.doc.getIn(at, true);
      const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
      if (range) return this.lineCounter.linePos(range[0]);
    }
    return { line: 1, col: 1 };
  }
}

/** How deep a manifest may nest (a real one needs fewer than ten levels). */
export const MAX_NESTING = 64;

/**
 * Where the text first nests deeper than MAX_NESTING, by block indentation or by flow brackets;
 * undefined when it does not. Checked before parsing: the YAML parser and everything after it
 * recurse, and a 2,000-deep document must be a located error, not a stack overflow.
 */
export function tooDeep(text: string): { line: number; col: number } | undefined {
  const indents: number[] = [];
  let flow = 0;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const content = line.trimStart();
    if (content === "" || content.startsWith("#")) continue;
    if (flow === 0) {
      // Block structure: a deeper indentation opens a level, a shallower one closes levels.
      const indent = line.length - content.length;
      while (indents.length && indents[indents.length - 1]! >= indent) indents.pop();
      indents.push(indent);
      // A sequence entry "- " on the same line opens one more.
      if (indents.length > MAX_NESTING) return { line: i + 1, col: indent + 1 };
    }
    let quote: string | undefined;
    for (let c = 0; c < line.length; c++) {
      const ch = line[c]!;
      if (quote) {
        if (ch === quote) quote = undefined;
        continue;
      }
      if (ch === "'" || ch === '"') quote = ch;
      else if (ch === "#" && (c === 0 || line[c - 1] === " ")) break;
      else if (ch === "[" || ch === "{") {
        if (++flow + indents.length > MAX_NESTING) return { line: i + 1, col: c + 1 };
      } else if ((ch === "]" || ch === "}") && flow > 0) flow--;
    }
  }
  return undefined;
}
