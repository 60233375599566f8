import type Database from "better-sqlite3";

/** Where one command of a run (a step, a check's probe, an undo) keeps its processes. */
export interface StepProcessesRow {
  id: number;
  runId: string;
  /** The step, probe or undo, for messages: `migrate`, `health (probe)`, `undo link`. */
  label: string;
  /** The value of ROLLPOINT_JAIL in the environment of every process the command starts. */
  marker: string;
  /** /proc/sys/kernel/random/boot_id when the command started: after a reboot nothing is left. */
  bootId: string;
  /** Clock ticks since boot just before the command started (as /proc/PID/stat counts them). */
  startTicks: number;
  /** The cgroup v2 directory the command runs in, where the host allows one. */
  cgroup: string | null;
  /** The process group, known once the command is spawned. */
  pgid: number | null;
}

interface RawRow {
  id: number;
  run_id: string;
  label: string;
  marker: string;
  boot_id: string;
  start_ticks: number;
  cgroup: string | null;
  pgid: number | null;
}

/**
 * The catalog's record of commands whose processes may still be alive. A row is written before
 * the command is spawned and deleted once nothing of it is left, so a row that outlives its
 * runner tells `recover` what to kill.
 */
export class StepProcesses {
  constructor(private readonly db: Database.Database) {}

  open(row: Omit<StepProcessesRow, "id" | "pgid">): number {
    const result = this.db
      .prepare(
        `INSERT INTO step_processes (run_id, label, marker, boot_id, start_ticks, cgroup)
         VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .run(row.runId, row.label, row.marker, row.bootId, row.startTicks, row.cgroup);
    return Number(result.lastInsertRowid);
  }

  /**
   * Record the process group. `durable: false` where a cgroup holds the jail (recorded before
   * the spawn, and what recover kills by): then the commit does not wait for the disk.
   */
  setPgid(id: number, pgid: number, { durable }: { durable: boolean }): void {
    const write = () =>
      this.db.prepare(`UPDATE step_processes SET pgid = ? WHERE id = ?`).run(pgid, id);
    if (durable) write();
    else this.unsynced(write);
  }

  /**
   * Forget a jail that is empty. Lost in a crash, the row only makes recover look for processes
   * that are gone; so the commit does not wait for the disk.
   */
  close(id: number): void {
    this.unsynced(() => this.db.prepare(`DELETE FROM step_processes WHERE id = ?`).run(id));
  }

  // In WAL mode a commit with synchronous = NORMAL is written to the log but not fsynced; the
  // next synchronous commit's fsync carries it to the disk with its own (the log is one file,
  // replayed in order). Each step saves a journal commit or two this way.
  private unsynced(write: () => void): void {
    this.db.pragma("synchronous = NORMAL");
    try {
      write();
    } finally {
      this.db.pragma("synchronous = FULL");
    }
  }

  ofRun(runId: string): StepProcessesRow[] {
    const rows = this.db
      .prepare(`SELECT * FROM step_processes WHERE run_id = ? ORDER BY id`)
      .all(runId) as RawRow[];
    return rows.map((r) => ({
      id: r.id,
      runId: r.run_id,
      label: r.label,
      marker: r.marker,
      bootId: r.boot_id,
      startTicks: r.start_ticks,
      cgroup: r.cgroup,
      pgid: r.pgid,
    }));
  }
}
