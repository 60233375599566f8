import { StringDecoder } from "node:string_decoder";

/** The longest line kept whole; a longer one is cut into pieces of this size. */
export const MAX_LINE = 64 * 1024;

/**
 * Splits a child's output into lines as it arrives. Memory stays bounded whatever the child
 * prints: a "line" of 50 MB without a newline comes out in 64 KiB pieces, and a character split
 * between two chunks is decoded whole.
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder("utf8");
  private rest = "";

  push(chunk: Buffer): string[] {
    const lines = (this.rest + this.decoder.write(chunk)).split("\n");
    this.rest = lines.pop() ?? "";
    const out: string[] = [];
    for (const line of lines) cut(line, out);
    while (this.rest.length > MAX_LINE) {
      out.push(this.rest.slice(0, MAX_LINE));
      this.rest = this.rest.slice(MAX_LINE);
    }
    return out;
  }

  end(): string[] {
    const last = this.rest + this.decoder.end();
    this.rest = "";
    const out: string[] = [];
    if (last) cut(last, out);
    return out;
  }
}

function cut(line: string, out: string[]): void {
  for (let i = 0; i < line.length || i === 0; i += MAX_LINE) out.push(line.slice(i, i + MAX_LINE));
}
