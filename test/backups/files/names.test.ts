import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  bytesOfName,
  hasRawBytes,
  kernelName,
  nameFromBytes,
  shownName,
} from "../../../src/backups/files/names.js";

describe("names as bytes", () => {
  it("carry any bytes through text and back exactly, and valid UTF-8 as itself", () => {
    for (let i = 0; i < 2000; i++) {
      const raw = randomBytes(1 + (i % 40));
      const text = nameFromBytes(raw);
      expect(bytesOfName(text).equals(raw)).toBe(true);
    }
    for (const valid of ["app.conf", "é", "\uFFFD", "😀x", "\u{1F480}"]) {
      expect(nameFromBytes(Buffer.from(valid))).toBe(valid);
      expect(hasRawBytes(valid)).toBe(false);
      expect(kernelName(valid)).toBe(valid);
    }
  });

  it("never take a UTF-8-encoded surrogate or an overlong form for text", () => {
    for (const raw of [
      [0xed, 0xb3, 0xbf],
      [0xc0, 0xaf],
      [0xf4, 0x90, 0x80, 0x80],
    ]) {
      const text = nameFromBytes(Buffer.from(raw));
      expect(hasRawBytes(text)).toBe(true);
      expect(bytesOfName(text)).toEqual(Buffer.from(raw));
    }
  });

  it("are shown with each raw byte as \\xHH, text around them as it is", () => {
    const text = nameFromBytes(
      Buffer.from([0x61, 0xff, 0xfe, 0xc3, 0xa9, 0xf0, 0x9f, 0x92, 0x80, 0x80]),
    );
    expect(shownName(text)).toBe("a\\xff\\xfeé\u{1F480}\\x80");
    expect(kernelName(text)).toEqual(bytesOfName(text));
  });
});
