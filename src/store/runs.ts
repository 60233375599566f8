import type Database from "better-sqlite3";
import { GlobalRollbackError } from "../errors.js";

/** One line of a run's timeline. */
export interface RunEvent {
  at: number;
  state: string;
  detail?: string;
}

export interface RunRow {
  id: string;
  /**
   * The catalog's order of runs (SQLite's rowid: each new run's is above every existing one's).
   * "Newest", "later" and "latest" mean this, never the clock, which can be set back. (A VACUUM
   * may renumber rowids of a table without an INTEGER PRIMARY KEY: rollpoint never runs one.)
   */
  seq: number;
  module: string;
  pointId: string | null;
  state: string;
  finished: boolean;
  startedAt: number;
  finishedAt: number | null;
  snapshot: unknown;
  manifest: unknown;
  manifestPath: string | null;
  events: RunEvent[];
  result: unknown;
  noRollback: boolean;
}

interface RawRun {
  seq: number;
  id: string;
  module: string;
  point_id: string | null;
  state: string;
  finished: number;
  started_at: number;
  finished_at: number | null;
  snapshot: string | null;
  manifest: string | null;
  manifest_path: string | null;
  events: string;
  result: string | null;
  no_rollback: number;
}

const parse = (text: string | null): unknown => (text === null ? null : JSON.parse(text));

function toRun(raw: RawRun): RunRow {
  return {
    id: raw.id,
    seq: raw.seq,
    module: raw.module,
    pointId: raw.point_id,
    state: raw.state,
    finished: raw.finished === 1,
    startedAt: raw.started_at,
    finishedAt: raw.finished_at,
    snapshot: parse(raw.snapshot),
    manifest: parse(raw.manifest),
    manifestPath: raw.manifest_path,
    events: JSON.parse(raw.events) as RunEvent[],
    result: parse(raw.result),
    noRollback: raw.no_rollback === 1,
  };
}

/** The engine's runs in the catalog. Each write is one statement or one transaction. */
export class Runs {
  constructor(private readonly db: Database.Database) {}

  insert(run: {
    id: string;
    module: string;
    manifest: unknown;
    manifestPath: string;
    startedAt: number;
    noRollback: boolean;
  }): void {
    this.db
      .prepare(
        `INSERT INTO runs (id, module, state, finished, started_at, manifest, manifest_path, events, no_rollback)
         VALUES (?, ?, 'starting', 0, ?, ?, ?, '[]', ?)`,
      )
      .run(
        run.id,
        run.module,
        run.startedAt,
        JSON.stringify(run.manifest),
        run.manifestPath,
        run.noRollback ? 1 : 0,
      );
  }

  /** Persist the machine's snapshot after a transition, with a line for the timeline. */
  transition(
    id: string,
    state: string,
    snapshot: unknown,
    event: RunEvent,
    pointId?: string,
  ): void {
    this.db.transaction(() => {
      const row = this.db.prepare(`SELECT events FROM runs WHERE id = ?`).get(id) as {
        events: string;
      };
      const events = [...(JSON.parse(row.events) as RunEvent[]), event];
      this.db
        .prepare(
          `UPDATE runs SET state = ?, snapshot = ?, events = ?, point_id = coalesce(?, point_id) WHERE id = ?`,
        )
        .run(state, JSON.stringify(snapshot), JSON.stringify(events), pointId ?? null, id);
    })();
  }

  finish(id: string, state: string, result: unknown, at: number): void {
    this.db
      .prepare(`UPDATE runs SET state = ?, finished = 1, finished_at = ?, result = ? WHERE id = ?`)
      .run(state, at, JSON.stringify(result), id);
  }

  get(id: string): RunRow | undefined {
    const raw = this.db.prepare(`SELECT rowid AS seq, * FROM runs WHERE id = ?`).get(id) as
      | RawRun
      | undefined;
    return raw && toRun(raw);
  }

  /**
   * A run from what a person types: its id, a unique prefix of 6 characters or more, or `latest`
   * (the newest run). Anything else is INVALID_ARGUMENT naming why.
   */
  resolve(ref: string): RunRow {
    if (ref === "latest") {
      const [newest] = this.list(1);
      if (!newest) throw new GlobalRollbackError("BACKUP_NOT_FOUND", "no run yet in this store");
      return newest;
    }
    if (ref.length < 6 || !/^[a-z0-9TZ-]+$/.test(ref)) {
      throw new GlobalRollbackError(
        "INVALID_BACKUP_ID",
        `invalid run id ${JSON.stringify(ref)}: give an id like r-20260101T120000Z-0123456789abcdef, a unique prefix of 6 characters or more, or latest`,
      );
    }
    const ids = (
      this.db
        .prepare(`SELECT id FROM runs WHERE substr(id, 1, ?) = ? LIMIT 2`)
        .all(ref.length, ref) as Array<{
        id: string;
      }>
    ).map((r) => r.id);
    if (ids.length === 0)
      throw new GlobalRollbackError("BACKUP_NOT_FOUND", `no run ${ref} in this store`);
    if (ids.length > 1)
      throw new GlobalRollbackError(
        "INVALID_BACKUP_ID",
        `${ref} is the start of more than one run id: give more of it`,
      );
    return this.get(ids[0]!)!;
  }

  /** Forget a finished run (retention: its rollback point is gone). */
  delete(id: string): void {
    this.db.prepare(`DELETE FROM runs WHERE id = ? AND finished = 1`).run(id);
  }

  unfinished(): RunRow[] {
    return (
      this.db
        .prepare(`SELECT rowid AS seq, * FROM runs WHERE finished = 0 ORDER BY rowid`)
        .all() as RawRun[]
    ).map(toRun);
  }

  /** The first run of `module` after `seq` (in the catalog's order) that ended `state`. */
  firstAfter(module: string, seq: number, state: string): RunRow | undefined {
    const raw = this.db
      .prepare(
        `SELECT rowid AS seq, * FROM runs WHERE module = ? AND rowid > ? AND state = ?
         ORDER BY rowid LIMIT 1`,
      )
      .get(module, seq, state) as RawRun | undefined;
    return raw ? toRun(raw) : undefined;
  }

  /** The newest runs first, of one module or all. */
  list(limit = 50, module?: string): RunRow[] {
    return (
      this.db
        .prepare(
          `SELECT rowid AS seq, * FROM runs WHERE (@module IS NULL OR module = @module)
           ORDER BY rowid DESC LIMIT @limit`,
        )
        .all({ module: module ?? null, limit }) as RawRun[]
    ).map(toRun);
  }
}
