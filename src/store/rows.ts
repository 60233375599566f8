// The catalog's row types, apart from the catalog itself: the public declarations name them,
// and a library user's type check must not need better-sqlite3's types to read them.

export type BackupType = "file" | "service" | "database" | "container" | "package";
export type BackupStatus = "pending" | "complete";

/** A backup as the catalog holds it. */
export interface BackupRow {
  id: string;
  type: BackupType;
  module: string;
  description: string;
  createdAt: number;
  status: BackupStatus;
  source: string;
  pointId: string | null;
  pointSeq: number | null;
  meta: Record<string, unknown>;
}

export interface PointRow {
  id: string;
  module: string;
  description: string;
  createdAt: number;
  status: BackupStatus;
}
