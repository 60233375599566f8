import { closeSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { entryOf, type Tuple, tupleOf } from "../../store/listing-codec.js";
import type { RestoreAction } from "./restore-plan.js";

// A plan's actions kept in memory up to this many; past it, all of them go to a file in the
// store's temporary directory (a restore into an empty directory writes every path). Every
// directory of the tree is an action (its "leave"), so a restore of 200,000 files in 11,000
// directories held 11,000 actions, their entries and stats: 10 MB of its 106 MB peak, against
// 4,096 (the file costs no measurable time: written once, read once, sequentially).
const IN_MEMORY = 4_096;

// Spools never applied (a point whose next member failed to verify): removed at exit.
const spilled = new Set<string>();
process.once("exit", () => {
  for (const path of spilled) rmSync(path, { force: true });
});

/**
 * The actions of a planned restore, in order, between the plan (which verified every object
 * they read) and the apply: the apply does exactly what was planned and verified, without
 * holding a large plan in memory. The file is the process's own (a crash leaves it in the
 * store's tmp/, which the next lock clears).
 */
export class ActionSpool implements Iterable<RestoreAction> {
  private readonly memory: RestoreAction[] = [];
  private file: { path: string; fd: number } | undefined;
  private pending = "";
  length = 0;

  constructor(private readonly dir: string) {}

  push(action: RestoreAction): void {
    this.length++;
    if (!this.file && this.memory.length < IN_MEMORY) {
      this.memory.push(action);
      return;
    }
    if (!this.file) {
      const path = join(this.dir, `restore-plan-${process.pid}-${Date.now()}.jsonl`);
      this.file = { path, fd: openSync(path, "wx+", 0o600) };
      spilled.add(path);
      for (const held of this.memory.splice(0)) this.append(held);
    }
    this.append(action);
  }

  private append(action: RestoreAction): void {
    this.pending += `${JSON.stringify(encode(action))}\n`;
    if (this.pending.length >= 1 << 20) this.flush();
  }

  private flush(): void {
    if (this.file && this.pending) writeSync(this.file.fd, this.pending);
    this.pending = "";
  }

  *[Symbol.iterator](): Iterator<RestoreAction> {
    if (!this.file) {
      yield* this.memory;
      return;
    }
    this.flush();
    const buffer = Buffer.allocUnsafe(1 << 20);
    let rest = "";
    for (let position = 0; ; ) {
      const read = readSync(this.file.fd, buffer, 0, buffer.length, position);
      if (read === 0) break;
      position += read;
      const lines = (rest + buffer.toString("utf8", 0, read)).split("\n");
      rest = lines.pop()!;
      for (const line of lines) yield decode(JSON.parse(line) as Encoded);
    }
  }

  close(): void {
    if (!this.file) return;
    closeSync(this.file.fd);
    rmSync(this.file.path, { force: true });
    spilled.delete(this.file.path);
    this.file = undefined;
  }
}

type Encoded = [op: RestoreAction["op"], ...rest: unknown[]];

function encode(a: RestoreAction): Encoded {
  switch (a.op) {
    case "remove":
      return ["remove", a.rel];
    case "flags":
      return ["flags", a.rel, a.have, a.want];
    case "write":
      return ["write", tupleOf(a.entry)];
    case "attributes":
      return ["attributes", tupleOf(a.entry)];
    case "metadata":
      return ["metadata", tupleOf(a.entry), String(a.live.dev), String(a.live.ino)];
    case "leave":
      return a.live
        ? ["leave", tupleOf(a.entry), String(a.live.dev), String(a.live.ino)]
        : ["leave", tupleOf(a.entry)];
  }
}

function decode([op, ...rest]: Encoded): RestoreAction {
  const entry = () => entryOf(rest[0] as Tuple);
  const live = () => ({ dev: BigInt(rest[1] as string), ino: BigInt(rest[2] as string) });
  switch (op) {
    case "remove":
      return { op, rel: rest[0] as string };
    case "flags":
      return { op, rel: rest[0] as string, have: rest[1] as string, want: rest[2] as string };
    case "write":
    case "attributes":
      return { op, entry: entry() };
    case "metadata":
      return { op, entry: entry(), live: live() };
    case "leave":
      return rest.length > 1 ? { op, entry: entry(), live: live() } : { op, entry: entry() };
  }
}
