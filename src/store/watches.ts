import type Database from "better-sqlite3";

/** How a watch stands: under way, rolling its run back, or ended (and how). */
export type WatchState =
  | "watching"
  | "rollingBack"
  | "ended"
  | "stopped"
  | "superseded"
  | "rolledBack"
  | "rollbackFailed";

/** A committed run's watch, as the catalog keeps it. */
export interface WatchRow {
  runId: string;
  module: string;
  startedAt: number;
  endsAt: number;
  /** The watching process (a detached one), or null under systemd (`unit`). */
  pid: number | null;
  /** The transient systemd unit it runs in, where systemd is the init. */
  unit: string | null;
  state: WatchState;
  /** The run that rolled it back (the watch's rollback is a run of its own). */
  rollbackRun: string | null;
  /** Why it ended, in words. */
  detail: string | null;
}

interface RawRow {
  run_id: string;
  module: string;
  started_at: number;
  ends_at: number;
  pid: number | null;
  unit: string | null;
  state: WatchState;
  rollback_run: string | null;
  detail: string | null;
}

const row = (r: RawRow): WatchRow => ({
  runId: r.run_id,
  module: r.module,
  startedAt: r.started_at,
  endsAt: r.ends_at,
  pid: r.pid,
  unit: r.unit,
  state: r.state,
  rollbackRun: r.rollback_run,
  detail: r.detail,
});

/**
 * The catalog's watches. A change of state is one guarded statement (`from` the state it must
 * be in), so that a watch that starts rolling back and a `watch stop` or a later run that ends it
 * at the same instant cannot both win.
 */
export class Watches {
  constructor(private readonly db: Database.Database) {}

  insert(w: Pick<WatchRow, "runId" | "module" | "startedAt" | "endsAt">): void {
    this.db
      .prepare(
        `INSERT INTO watches (run_id, module, started_at, ends_at, state) VALUES (?, ?, ?, ?, 'watching')`,
      )
      .run(w.runId, w.module, w.startedAt, w.endsAt);
  }

  /** Where its process is, once started. */
  setProcess(runId: string, where: { pid?: number; unit?: string }): void {
    this.db
      .prepare(`UPDATE watches SET pid = ?, unit = ? WHERE run_id = ?`)
      .run(where.pid ?? null, where.unit ?? null, runId);
  }

  /** Move from `from` to `to`; false when the watch was not in `from` (someone else moved it). */
  move(
    runId: string,
    from: readonly WatchState[],
    to: WatchState,
    extra: { detail?: string; rollbackRun?: string } = {},
  ): boolean {
    const marks = from.map(() => "?").join(", ");
    const changed = this.db
      .prepare(
        `UPDATE watches SET state = ?, detail = coalesce(?, detail), rollback_run = coalesce(?, rollback_run)
         WHERE run_id = ? AND state IN (${marks})`,
      )
      .run(to, extra.detail ?? null, extra.rollbackRun ?? null, runId, ...from).changes;
    return changed === 1;
  }

  get(runId: string): WatchRow | undefined {
    const r = this.db.prepare(`SELECT * FROM watches WHERE run_id = ?`).get(runId) as
      | RawRow
      | undefined;
    return r ? row(r) : undefined;
  }

  /** The watches not ended yet (watching or rolling back), of one module or of all. */
  active(module?: string): WatchRow[] {
    const rows = (
      module
        ? this.db
            .prepare(
              `SELECT * FROM watches WHERE module = ? AND state IN ('watching', 'rollingBack') ORDER BY started_at`,
            )
            .all(module)
        : this.db
            .prepare(
              `SELECT * FROM watches WHERE state IN ('watching', 'rollingBack') ORDER BY started_at`,
            )
            .all()
    ) as RawRow[];
    return rows.map(row);
  }
}
