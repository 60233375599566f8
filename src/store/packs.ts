import type * as nodeFs from "node:fs";

/** Where a packed object's bytes are: a range of one pack file. */
export interface PackedAt {
  pack: string;
  offset: number;
  length: number;
}

/** A pack file written whole and fsynced: from now on its ranges may be recorded. */
export interface SealedPack {
  name: string;
  bytes: number;
}

/** Packs fill up to about this size, then the next object starts a new one. */
export const PACK_TARGET = 32 << 20;

/** Pack file names: `p-<16 hex>-<n>.pack`; nothing else in the packs directory is ours. */
export const PACK_NAME = /^p-[0-9a-f]{16}-[0-9]+\.pack$/;

/**
 * Small objects are appended to pack files instead of being files of their own, so that making
 * a backup durable costs one fsync per pack (tens of MB) rather than one per object or a
 * syncfs(2) of the whole file system, which also flushes whatever anyone else wrote there.
 *
 * A pack is append-only; `seal` fsyncs it, and only a sealed pack's ranges are ever recorded in
 * the catalog, so a torn pack is never read as good data.
 */
export function packAppender(fs: typeof nodeFs, dir: string, prefix: string, target: number) {
  let fd = -1;
  let name = "";
  let size = 0;
  let counter = 0;
  let sealed: SealedPack[] = [];
  const seal = () => {
    if (fd < 0) return;
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = -1;
    sealed.push({ name, bytes: size });
  };
  return {
    /** Append one object's bytes; says where they are. */
    append(data: Uint8Array): PackedAt {
      if (fd >= 0 && size > 0 && size + data.length > target) seal();
      if (fd < 0) {
        counter += 1;
        name = `${prefix}-${counter}.pack`;
        fd = fs.openSync(`${dir}/${name}`, "wx", 0o600);
        size = 0;
      }
      const offset = size;
      let done = 0;
      while (done < data.length) {
        done += fs.writeSync(fd, data, done, data.length - done, offset + done);
      }
      size += data.length;
      return { pack: name, offset, length: data.length };
    },
    /** Seal the open pack, if any, and hand over every pack sealed since the last call. */
    seal(): SealedPack[] {
      seal();
      const out = sealed;
      sealed = [];
      return out;
    },
    /** Close without syncing: what was written is garbage (a failed backup). */
    abandon(): void {
      if (fd >= 0) fs.closeSync(fd);
      fd = -1;
      sealed = [];
    },
  };
}

export type PackAppender = ReturnType<typeof packAppender>;
