import { readlinkSync } from "node:fs";

/**
 * Names are bytes. Linux lets a name be any bytes but `/` and NUL; rollpoint keeps paths as text,
 * so a byte that is not part of valid UTF-8 is carried in the text as a lone low surrogate,
 * U+DC80 + (byte - 0x80), as Python's "surrogateescape" does (PEP 383). The mapping is exact both
 * ways: valid UTF-8 never decodes to a lone surrogate (UTF-8 cannot encode surrogates), so every
 * name has one text and every text one name. JSON keeps lone surrogates as `\udcXX` escapes, so a
 * listing stores them as it stores any text. Only calls into the kernel need the bytes back
 * (`kernelName`), and only what a person reads shows them as `\xHH` (`shownName`).
 */

const LOW = 0xdc00;

/** A name's bytes as text: valid UTF-8 as it is, every other byte as U+DC80..U+DCFF. */
export function nameFromBytes(raw: Buffer): string {
  const text = raw.toString("utf8");
  // U+FFFD marks bytes that did not decode; a name may also hold it legitimately.
  if (!text.includes("\uFFFD") || Buffer.from(text, "utf8").equals(raw)) return text;
  let out = "";
  let i = 0;
  while (i < raw.length) {
    const length = utf8Length(raw, i);
    if (length === 0) {
      out += String.fromCharCode(LOW + raw[i]!);
      i++;
    } else {
      out += raw.subarray(i, i + length).toString("utf8");
      i += length;
    }
  }
  return out;
}

/** Whether `text` holds an escaped byte (a lone surrogate): then only its bytes name it. */
export function hasRawBytes(text: string): boolean {
  // Surrogates are rare: one scan answers for nearly every path.
  return /[\uD800-\uDFFF]/.test(text) && !isWellFormed(text);
}

function isWellFormed(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return false;
  }
  return true;
}

/** The bytes `text` stands for (see nameFromBytes). */
export function bytesOfName(text: string): Buffer {
  if (!hasRawBytes(text)) return Buffer.from(text, "utf8");
  const parts: Buffer[] = [];
  pieces(
    text,
    (part) => parts.push(Buffer.from(part, "utf8")),
    (byte) => parts.push(Buffer.from([byte])),
  );
  return Buffer.concat(parts);
}

/** What to hand a file system call: the text itself, or its bytes when it holds raw ones. */
export function kernelName(text: string): string | Buffer {
  return hasRawBytes(text) ? bytesOfName(text) : text;
}

/** A path as a person reads it: each byte that is not UTF-8 as `\xHH`. */
export function shownName(text: string): string {
  if (!hasRawBytes(text)) return text;
  let out = "";
  pieces(
    text,
    (part) => {
      out += part;
    },
    (byte) => {
      out += `\\x${byte.toString(16).padStart(2, "0")}`;
    },
  );
  return out;
}

/** Split `text` into runs of real text and the raw bytes between them, in order. */
function pieces(text: string, onText: (part: string) => void, onByte: (byte: number) => void) {
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
      continue;
    }
    if (c >= 0xdc80 && c <= 0xdcff) {
      if (i > start) onText(text.slice(start, i));
      onByte(c - LOW);
      start = i + 1;
    }
  }
  if (start < text.length) onText(text.slice(start));
}

/** The length of the valid UTF-8 sequence at `i` (strict: no overlongs, no surrogates), or 0. */
function utf8Length(raw: Buffer, i: number): number {
  const b = raw[i]!;
  if (b < 0x80) return 1;
  const length =
    b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
  if (length === 0 || i + length > raw.length) return 0;
  for (let k = 1; k < length; k++) if ((raw[i + k]! & 0xc0) !== 0x80) return 0;
  return Buffer.from(raw.subarray(i, i + length).toString("utf8"), "utf8").equals(
    raw.subarray(i, i + length),
  )
    ? length
    : 0;
}

/** A symlink's target, as bytes carried in text (a target need not be UTF-8 either). */
export function readLinkAt(at: string | Buffer): string {
  return nameFromBytes(readlinkSync(at, { encoding: "buffer" }));
}
