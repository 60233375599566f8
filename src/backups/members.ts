// The registry of member kinds: the one place that says which kinds a rollback point can hold
// and in which order it takes them (a restore takes the `data` ones in reverse). Plan, preflight,
// point creation and restore, preview, verify, prune and `backups show` iterate or look up this
// table; nothing else dispatches on a member's kind. A kind is its folder plus one line here.

import { GlobalRollbackError } from "../errors.js";
import type { RuleCode } from "../manifest/diagnostics.js";
import type { Finding, RuleContext } from "../manifest/findings.js";
import type { WrittenManifest, WrittenRollbackPoint, WrittenStep } from "../manifest/types.js";
import type { BackupRow, BackupType } from "../store/rows.js";
import { setExternalDiscard } from "../store/store.js";
import { resolveContainer, type WrittenContainerConfig } from "./containers/config.js";
import { containerMembers } from "./containers/member.js";
import { databaseMembers } from "./databases/member.js";
import { fileMembers } from "./files/member.js";
import type { MemberEntries, MemberKind } from "./member-kind.js";
import type { RollbackOperation } from "./outcomes.js";
import type { PackageEntry } from "./packages/config.js";
import { packageMembers } from "./packages/member.js";
import { serviceMembers } from "./services/member.js";

/** An entry of kind K as the manifest writes it. */
type Written<K extends keyof MemberEntries> = NonNullable<WrittenRollbackPoint[K]>[number];

type Registry = { [K in keyof MemberEntries]: MemberKind<MemberEntries[K], Written<K>> };

/**
 * In the order a point takes them: containers, files, databases, then the services' states last.
 * Data members are restored in reverse, so containers come back last, onto their bind-mounted
 * files and their databases already restored (they are stopped before any of it: `quiesce`).
 */
export const MEMBER_KINDS: Registry = {
  containers: containerMembers,
  files: fileMembers,
  packages: packageMembers,
  databases: databaseMembers,
  services: serviceMembers,
};

/** What a point holds, by kind (each list may be absent). */
export type MemberLists = { [K in keyof MemberEntries]?: readonly MemberEntries[K][] };

/**
 * A rollback point's members by kind, from the manifest's `rollbackPoint` or the library's spec
 * (their keys are the registry's): every kind's list passes through by its key; file targets
 * become `{path, exclude}` (the library also takes a bare path).
 */
export function memberListsOf(
  point: Omit<MemberLists, "files" | "containers" | "packages"> & {
    files?: ReadonlyArray<string | { path: string; exclude?: string[] }>;
    containers?: readonly WrittenContainerConfig[];
    packages?: ReadonlyArray<string | PackageEntry>;
  },
): MemberLists {
  return {
    ...point,
    files: (point.files ?? []).map((f) =>
      typeof f === "string" ? { path: f, exclude: [] } : { path: f.path, exclude: f.exclude ?? [] },
    ),
    // The loader resolved them already (nothing is read then); the library's spec may not have.
    containers: (point.containers ?? []).map((c) => resolveContainer(c, process.env)),
    packages: (point.packages ?? []).map((p) => (typeof p === "string" ? { name: p } : p)),
  };
}

/**
 * The manifest's rollback point with every kind's entries resolved once (their defaults, from
 * the caller's environment): what plan, preflight, the engine and `recover` read.
 */
export function resolvePoint(
  point: WrittenRollbackPoint,
  env: NodeJS.ProcessEnv,
  steps: readonly WrittenStep[],
): WrittenRollbackPoint {
  const out: Record<string, unknown> = { ...point };
  for (const key of Object.keys(MEMBER_KINDS) as Array<keyof MemberEntries>) {
    const kind = MEMBER_KINDS[key] as MemberKind<unknown, unknown>;
    if (!kind.resolve) continue;
    // A kind may hold entries the steps imply (an apt step's packages) with none written.
    const resolved = kind.resolve(point[key] ?? [], env, point, steps);
    if (point[key] || resolved.length) out[key] = resolved;
  }
  // Typed as written, holding each kind's resolved entries: what plan, run and recover read.
  return out as WrittenRollbackPoint;
}

/** Each kind's rules of validation, its findings' paths placed under `rollbackPoint.<key>`. */
export function memberRules(): Array<
  [code: RuleCode, rule: (m: WrittenManifest, ctx: RuleContext) => Finding[]]
> {
  return (Object.keys(MEMBER_KINDS) as Array<keyof MemberEntries>).flatMap((key) => {
    const rules = (MEMBER_KINDS[key] as MemberKind<unknown, unknown>).rules;
    if (!rules) return [];
    return [
      [
        rules.code,
        (m: WrittenManifest, ctx: RuleContext) =>
          rules
            .check(m.rollbackPoint?.[key] ?? [], ctx)
            .map((f) => ({ ...f, path: ["rollbackPoint", key, ...f.path] })),
      ],
    ];
  });
}

/** The point's members as `plan` prints them, a line each, in the registry's order. */
export function pointLines(lists: MemberLists): string[] {
  return eachKind(lists).flatMap(({ kind, entries }) => kind.planLines(entries));
}

/** The members for the point that keeps the failed state: as each kind wants them kept. */
export function evidenceLists(lists: MemberLists): MemberLists {
  const out: Record<string, unknown> = {};
  for (const { key, kind, entries } of eachKind(lists))
    out[key] = kind.forEvidence ? kind.forEvidence(entries) : entries;
  return out as MemberLists;
}

/** What a restore proved, counted by kind: "2 protected paths, 1 database, 3 units". */
export function coverageOf(operations: readonly RollbackOperation[]): string {
  return Object.values(MEMBER_KINDS)
    .flatMap((k) => {
      const kind = k as MemberKind<unknown, unknown>;
      const n = operations
        .filter((o) => o.backupType === kind.type)
        .reduce((sum, o) => sum + (kind.countOf ? kind.countOf(o) : 1), 0);
      return n ? [`${n} ${n === 1 ? kind.noun[0] : kind.noun[1]}`] : [];
    })
    .join(", ");
}

/** Each kind with its entries in `lists`, in the registry's order. */
export function eachKind(
  lists: MemberLists,
): Array<{ key: keyof MemberEntries; kind: MemberKind<unknown>; entries: readonly unknown[] }> {
  return (Object.keys(MEMBER_KINDS) as Array<keyof MemberEntries>).map((key) => ({
    key,
    kind: MEMBER_KINDS[key] as MemberKind<unknown, unknown>,
    entries: lists[key] ?? [],
  }));
}

/** A planned member: its restore state's key, its catalog seq, its kind's type and phase. */
export interface PlannedMember {
  key: string;
  seq: number;
  what: BackupType;
  phase: "data" | "state";
  target: string;
}

/** Every member a point of `lists` holds, in the order taken (seq = its catalog point_seq). */
export function plannedMembers(lists: MemberLists): PlannedMember[] {
  let seq = 0;
  return eachKind(lists).flatMap(({ kind, entries }) =>
    kind.members(entries).map(({ as, ...m }) => ({
      ...m,
      seq: seq++,
      what: as?.type ?? kind.type,
      phase: as?.phase ?? kind.phase,
    })),
  );
}

const BY_TYPE = new Map<string, MemberKind<unknown>>(
  Object.values(MEMBER_KINDS).map((k) => [k.type, k as MemberKind<unknown>]),
);

/** The catalog's member types, for `backups list --type`. */
export const MEMBER_TYPES: readonly BackupType[] = [...BY_TYPE.keys()] as BackupType[];

/** The kind of a stored backup. */
export function kindOf(row: Pick<BackupRow, "type" | "id">): MemberKind<unknown> {
  const kind = BY_TYPE.get(row.type);
  if (!kind) {
    throw new GlobalRollbackError(
      "STORE_ERROR",
      `backup ${row.id} is of type ${JSON.stringify(row.type)}, which this rollpoint does not know: upgrade rollpoint`,
      { context: { backupId: row.id } },
    );
  }
  return kind;
}

/** Drop what a backup keeps outside the store, whatever its kind (nothing for most). */
export function discardExternal(row: BackupRow): Promise<void> {
  return kindOf(row).discardExternal(row);
}

/** What a committed run no longer needs outside the store, whatever the kind. */
export function afterCommit(row: BackupRow): Promise<void> {
  return kindOf(row).afterCommit(row);
}

/** What is wrong with a backup's part outside the store, whatever its kind. */
export function checkExternal(row: BackupRow): Promise<string | undefined> {
  return kindOf(row).checkExternal(row);
}

// Crash cleanup (in the store, which knows no kinds) drops the external part of every pending
// backup it removes: a clone snapshot half-made when the runner died.
setExternalDiscard(discardExternal);
