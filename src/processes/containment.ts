import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { GlobalRollbackError } from "../errors.js";
import type { StepProcessesRow } from "../store/step-processes.js";
import {
  bootId,
  commandName,
  environmentHas,
  liveProcesses,
  type ProcessInfo,
  readProcess,
  TICKS_PER_SECOND,
  ticksSinceBoot,
} from "./procfs.js";

/**
 * Containment: a step's processes never outlive it. Every command a run starts (a step, a
 * check's probe, an undo) gets a jail:
 *
 * - a process group of its own (always), and where the host lets us, a cgroup v2 directory of its
 *   own, which a double fork with `setsid` cannot leave;
 * - `ROLLPOINT_JAIL=<run id>.<n>` in its environment, inherited by everything it starts, so that
 *   even a `setsid` escapee outside a cgroup is found again unless it also clears its environment;
 * - a row in the catalog written before it is spawned, so a `recover` after the runner died finds
 *   all of the above and kills it before it restores anything.
 *
 * When the command ends, fails, times out or is aborted, whatever is left in the jail gets
 * SIGTERM, a short grace, then SIGKILL, and the jail is released only once nothing is left.
 *
 * One exception: what a step hands over to a container engine (see `handedOver`).
 */

/** The environment variable that marks every process of a jail. */
export const JAIL_VARIABLE = "ROLLPOINT_JAIL";
/** How long a jail's processes get between SIGTERM and SIGKILL. */
export const GRACE_MS = 2_000;
/** How long a SIGKILLed process may take to go (one in uninterruptible I/O takes a while). */
const KILL_WAIT_MS = 15_000;
const POLL_MS = 25;
// A process started by a jail cannot have started before its row was written; one second of
// slack covers clock-tick rounding. Only pid reuse within that second could fool it.
const START_SLACK_TICKS = TICKS_PER_SECOND;

/** Where jails are recorded: the catalog's step_processes table. */
export interface JailLedger {
  open(row: Omit<StepProcessesRow, "id" | "pgid">): number;
  setPgid(id: number, pgid: number, options: { durable: boolean }): void;
  close(id: number): void;
  ofRun(runId: string): StepProcessesRow[];
}

/** How commands are contained on this host: `cgroup` where we can make cgroup v2 directories. */
export type ContainmentMode = "cgroup" | "pgroup";

/** The jails of one run. */
export class Containment {
  private readonly active = new Set<Jail>();
  private readonly held = new Set<Promise<void>>();
  private seq = 0;
  private readonly boot = bootId();
  /** The cgroup v2 directory our jails are made in, or null for process groups only. */
  private cgroupBase: string | null;

  constructor(
    private readonly ledger: JailLedger,
    readonly runId: string,
  ) {
    this.cgroupBase = ownCgroupDirectory();
  }

  get mode(): ContainmentMode {
    return this.cgroupBase ? "cgroup" : "pgroup";
  }

  /** A jail for one command, recorded before the command exists. */
  enter(label: string): Jail {
    const marker = `${this.runId}.${++this.seq}.${process.pid}`;
    let cgroup: string | null = null;
    if (this.cgroupBase) {
      cgroup = join(this.cgroupBase, `rollpoint-${marker}`);
      try {
        mkdirSync(cgroup);
      } catch {
        // A host that let us probe but not create (a read-only or delegated hierarchy): fall
        // back to process groups for the rest of the run rather than fail the update.
        this.cgroupBase = null;
        cgroup = null;
      }
    }
    const id = this.ledger.open({
      runId: this.runId,
      label,
      marker,
      bootId: this.boot,
      startTicks: ticksSinceBoot(),
      cgroup,
    });
    const jail = new Jail(this.ledger, id, label, marker, cgroup, ticksSinceBoot(), () =>
      this.active.delete(jail),
    );
    this.active.add(jail);
    return jail;
  }

  /**
   * Work of a step that runs elsewhere than in a process of ours (a SQL statement on a server):
   * `settle` waits for it too. Returns `work` itself.
   */
  hold<T>(work: Promise<T>): Promise<T> {
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    this.held.add(settled);
    void settled.then(() => this.held.delete(settled));
    return work;
  }

  /**
   * Kill and wait out every jail still open, and wait for held work to end: called before a
   * rollback restores anything, so that an aborted step cannot write while it is put back.
   */
  async settle(): Promise<void> {
    await Promise.all([...this.held]);
    await Promise.all([...this.active].map((jail) => jail.release()));
  }
}

/** One command's processes: its process group, its cgroup, its environment marker. */
export class Jail {
  private pgid: number | null = null;
  private released: Promise<void> | undefined;

  constructor(
    private readonly ledger: JailLedger,
    private readonly id: number,
    readonly label: string,
    readonly marker: string,
    readonly cgroup: string | null,
    private readonly startTicks: number,
    private readonly onReleased: () => void,
  ) {}

  /** Variables every process of the jail carries. */
  get env(): Record<string, string> {
    return { [JAIL_VARIABLE]: this.marker };
  }

  /**
   * The argv to spawn: under a cgroup, a fixed `sh` trampoline moves itself into the jail's
   * cgroup and then execs the command, so not even its first fork happens outside.
   */
  wrap(argv: readonly string[]): string[] {
    if (!this.cgroup) return [...argv];
    return [
      "/bin/sh",
      "-c",
      'echo 0 >"$0" || { echo "rollpoint: cannot enter the cgroup $0" >&2; exit 126; }; exec "$@"',
      join(this.cgroup, "cgroup.procs"),
      ...argv,
    ];
  }

  /** The command was spawned as the leader of process group `pid`. */
  spawned(pid: number): void {
    this.pgid = pid;
    this.ledger.setPgid(this.id, pid, { durable: !this.cgroup });
  }

  /** Everything of the jail still alive: SIGTERM, a grace, SIGKILL; resolves once none is left. */
  release(graceMs = GRACE_MS): Promise<void> {
    this.released ??= (async () => {
      const members = () =>
        jailMembers({
          marker: this.marker,
          cgroup: this.cgroup,
          pgid: this.pgid,
          startTicks: this.startTicks,
        });
      await terminate(members, this.cgroup, this.pgid, graceMs, this.label);
      removeCgroup(this.cgroup);
      this.onReleased();
      try {
        this.ledger.close(this.id);
      } catch {
        // A full store disk: the row stays, naming a jail that is empty; recover finds nothing.
      }
    })();
    return this.released;
  }
}

/**
 * `recover`: kill whatever is left of a dead runner's commands for `runId` (recorded jails of this
 * boot, and any process carrying one of the run's markers), and wait until it is gone.
 * Throws when something survives SIGKILL: nothing may be restored while it can still write.
 */
export async function reapRun(ledger: JailLedger, runId: string): Promise<number> {
  const boot = bootId();
  const rows = ledger.ofRun(runId);
  let killed = 0;
  for (const row of rows) {
    const alive = row.bootId === boot;
    const pgid = alive ? row.pgid : null;
    const cgroup = alive ? row.cgroup : null;
    const members = () =>
      jailMembers({ marker: row.marker, cgroup, pgid, startTicks: row.startTicks });
    killed += members().length;
    await terminate(members, cgroup, pgid, GRACE_MS, row.label);
    removeCgroup(cgroup);
    ledger.close(row.id);
  }
  // A runner killed between spawning a command and writing its row cannot leave one unrecorded
  // (the row comes first), but a marker scan costs little and also finds `setsid` escapees.
  const prefix = `${runId}.`;
  const strays = () =>
    withoutEngines(
      new Set(
        liveProcesses()
          .filter(
            (p) =>
              p.pid !== process.pid &&
              environmentHas(p.pid, JAIL_VARIABLE, (value) => value.startsWith(prefix)),
          )
          .map((p) => p.pid),
      ),
      null,
    );
  killed += strays().length;
  await terminate(strays, null, null, GRACE_MS, `run ${runId}`);
  return killed;
}

interface JailSpec {
  marker: string;
  cgroup: string | null;
  pgid: number | null;
  startTicks: number;
}

/**
 * The pids of a jail now: its cgroup's, its process group's, and any carrying its marker; less
 * what was handed over to a container engine, which is moved out of the jail's cgroup.
 */
function jailMembers(spec: JailSpec): number[] {
  const found = new Set<number>();
  if (spec.cgroup) for (const pid of cgroupProcs(spec.cgroup)) found.add(pid);
  // With a cgroup, the cgroup is exact; without one, the process group and the marker.
  if (!spec.cgroup) {
    const processes = liveProcesses();
    for (const p of processes) {
      if (p.pid === process.pid) continue;
      if (p.pgid === spec.pgid && inTime(p, spec.startTicks)) found.add(p.pid);
      else if (environmentHas(p.pid, JAIL_VARIABLE, (v) => v === spec.marker)) found.add(p.pid);
    }
  }
  found.delete(process.pid);
  return withoutEngines(found, spec.cgroup);
}

/** `pids` less what was handed over to a container engine, moved out of `cgroup` if any. */
function withoutEngines(pids: ReadonlySet<number>, cgroup: string | null): number[] {
  const engines = handedOver(pids);
  if (cgroup) for (const pid of engines) leaveCgroup(pid, cgroup);
  return [...pids].filter((pid) => !engines.has(pid));
}

/**
 * The processes of `pids` that belong to a container engine now: Podman's container monitor
 * (conmon, which `podman run -d` and compose tools leave running on purpose, as Docker's
 * containers are its daemon's children) and everything below it (the container itself).
 * Killing them would kill the containers the update started, or leave one that Podman cannot
 * stop any more (a container without its monitor stays "stopping"). They are left to the
 * engine; what a rollback must stop is the containers member's to stop. A step's own process
 * named `conmon` would be left too: containment guards against an update's stragglers, not
 * against a step that hides from it (docs/decisions.md, "Containment").
 */
function handedOver(pids: ReadonlySet<number>): Set<number> {
  const out = new Set<number>();
  for (const pid of pids) {
    // Up the parents until the runner (a step's own processes descend from it) or init (where a
    // daemon's double fork lands): a monitor on the way hands over what is below it, also once
    // the monitor itself has been moved out of the jail.
    let p: number | undefined = pid;
    for (let depth = 0; p && p > 1 && p !== process.pid && depth < 64; depth++) {
      if (commandName(p) === "conmon") {
        out.add(pid);
        break;
      }
      p = readProcess(p)?.ppid;
    }
  }
  return out;
}

/** Move a process out of the jail's cgroup into the one the jail was made in (the runner's). */
function leaveCgroup(pid: number, cgroup: string): void {
  try {
    writeFileSync(join(dirname(cgroup), "cgroup.procs"), String(pid));
  } catch {
    // Gone, or the move refused: it stays, and the jail's directory outlives the step (harmless).
  }
}

function inTime(p: ProcessInfo, startTicks: number): boolean {
  return p.startTicks >= startTicks - START_SLACK_TICKS;
}

function cgroupProcs(dir: string): number[] {
  try {
    return readFileSync(join(dir, "cgroup.procs"), "utf8")
      .split("\n")
      .filter(Boolean)
      .map(Number)
      .filter((pid) => {
        // cgroup.procs may still list a zombie whose parent has not reaped it yet.
        try {
          const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
          const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
          return state !== "Z" && state !== "X";
        } catch {
          return false;
        }
      });
  } catch {
    return [];
  }
}

async function terminate(
  members: () => number[],
  cgroup: string | null,
  pgid: number | null,
  graceMs: number,
  label: string,
): Promise<void> {
  if (members().length === 0) return;
  signal(members(), pgid, "SIGTERM");
  if (await gone(members, graceMs)) return;
  const deadline = Date.now() + KILL_WAIT_MS;
  // Repeated: outside a cgroup a process may fork between our reading the table and the kill.
  for (;;) {
    if (cgroup) {
      try {
        writeFileSync(join(cgroup, "cgroup.kill"), "1");
      } catch {
        // Kernels before 5.14 have no cgroup.kill: the per-pid SIGKILL below does it.
      }
    }
    signal(members(), pgid, "SIGKILL");
    if (await gone(members, POLL_MS * 4)) return;
    if (Date.now() > deadline) break;
  }
  const left = members();
  throw new GlobalRollbackError(
    "PROCESSES_SURVIVED",
    `processes of ${label} survived SIGKILL (pids ${left.join(", ")}); nothing was restored while they can still write`,
  );
}

function signal(pids: number[], pgid: number | null, sig: NodeJS.Signals): void {
  if (pgid) {
    try {
      process.kill(-pgid, sig);
    } catch {
      // The group is empty now.
    }
  }
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      // Gone already.
    }
  }
}

async function gone(members: () => number[], withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    if (members().length === 0) return true;
    if (Date.now() >= deadline) return false;
    await sleep(POLL_MS);
  }
}

function removeCgroup(dir: string | null): void {
  if (!dir) return;
  try {
    rmdirSync(dir);
  } catch {
    // Gone already (recover after a reboot), or it outlived us: an empty cgroup costs nothing.
  }
}

/**
 * The cgroup v2 directory this process is in, when we may make directories in it: the unified
 * hierarchy (`/sys/fs/cgroup` or, on hybrid hosts, `/sys/fs/cgroup/unified`) plus our own path.
 * `ROLLPOINT_CONTAINMENT=pgroup` turns cgroups off (process groups and markers only).
 */
function ownCgroupDirectory(): string | null {
  if (process.env.ROLLPOINT_CONTAINMENT === "pgroup") return null;
  try {
    const own = readFileSync("/proc/self/cgroup", "utf8")
      .split("\n")
      .find((line) => line.startsWith("0::"))
      ?.slice(3);
    if (!own || own.includes("..")) return null;
    for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
      const [left, right] = line.split(" - ");
      if (!left || !right?.startsWith("cgroup2 ")) continue;
      const mountPoint = left.split(" ")[4];
      if (!mountPoint) continue;
      const dir = join(mountPoint, own);
      readFileSync(join(dir, "cgroup.procs"));
      return dir;
    }
  } catch {
    // No cgroup v2 here, or not readable: process groups.
  }
  return null;
}
