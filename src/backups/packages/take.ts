// Taking a packages member: every named package and every one an apt step would touch, each
// with its version, architecture and status, its installed .deb kept in the store (apt's cache,
// else a download of that exact version, else dpkg-repack), its conffiles as file backups of
// the same point. A package that is not installed is recorded as absent (a rollback removes it).

import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GlobalRollbackError } from "../../errors.js";
import type { BackupRow } from "../../store/rows.js";
import type { Store } from "../../store/store.js";
import { systemdBooted } from "../../util/systemd-booted.js";
import { dumpEntry } from "../databases/dump.js";
import type { Entry } from "../files/entry.js";
import { backupFiles } from "../files/kind.js";
import { type BackupLabel, recordBackup } from "../record.js";
import { aptRequests, namedPackages, type PackageEntry } from "./config.js";
import {
  cachedDebName,
  conffilesOf,
  type PackageState,
  packageStates,
  simulate,
  tool,
  unitsShippedBy,
} from "./dpkg.js";

export const APT_CACHE = "/var/cache/apt/archives";

export interface RecordedPackage extends PackageState {
  /** The store's object holding the installed version's .deb (installed packages only). */
  deb?: string;
  /** Where the .deb came from: apt's cache, a download, dpkg-repack. */
  debFrom?: "cache" | "download" | "repack";
  conffiles: Array<{ path: string; backupId: string }>;
}

export interface PackagesMeta {
  packages: RecordedPackage[];
  /** The systemd units the installed ones ship (their states: the service backup taken along). */
  units?: string[];
}

// Without systemd as the init (a container's Debian) no unit runs.

/** The units the installed `names` ship, where systemd runs them; none elsewhere. */
export const runnableUnits = (names: readonly string[]): Promise<string[]> =>
  systemdBooted() ? unitsShippedBy(names) : Promise.resolve([]);

/** Every package the member holds: the named ones and what each apt step would touch. */
export async function memberPackages(entries: readonly PackageEntry[]): Promise<string[]> {
  const names = new Set(namedPackages(entries));
  for (const { apt } of aptRequests(entries))
    for (const change of await simulate(apt)) names.add(change.name);
  return [...names].sort();
}

export async function takePackages(
  store: Store,
  entries: readonly PackageEntry[],
  label: BackupLabel,
): Promise<BackupRow> {
  const part: BackupLabel = {
    description: label.description,
    moduleName: label.moduleName,
    ...(label.pointId ? { pointId: label.pointId } : {}),
  };
  const names = await memberPackages(entries).catch((error: unknown) => {
    throw new GlobalRollbackError("BACKUP_FAILED", `packages: ${(error as Error).message}`, {
      cause: error,
    });
  });
  return recordBackup(store, { type: "package", source: names.join(" ") }, label, async () => {
    const listing: Entry[] = [];
    const packages: RecordedPackage[] = [];
    for (const state of await packageStates(names)) {
      const recorded: RecordedPackage = { ...state, conffiles: [] };
      if (state.installed) {
        const { file, from, cleanup } = await obtainDeb(state);
        try {
          const put = await store.objects.adoptTempFile(copyToTemp(store, file));
          listing.push({ ...dumpEntry(put), rel: cachedDebName(state) });
          recorded.deb = put.hash;
          recorded.debFrom = from;
        } finally {
          cleanup();
        }
        for (const path of await conffilesOf(state.name)) {
          const row = await backupFiles(store, { path, exclude: [], ...part });
          recorded.conffiles.push({ path, backupId: row.id });
        }
      }
      packages.push(recorded);
    }
    const units = await runnableUnits(packages.filter((p) => p.installed).map((p) => p.name));
    const meta: PackagesMeta = { packages, units };
    return {
      entries: listing.sort((a, b) => (a.rel < b.rel ? -1 : 1)),
      meta: meta as unknown as Record<string, unknown>,
    };
  });
}

function copyToTemp(store: Store, file: string): string {
  const temp = store.objects.tempPath();
  copyFileSync(file, temp);
  return temp;
}

/**
 * The installed version's .deb: apt's cache, else `apt-get download` of that exact version,
 * else `dpkg-repack` of the installed files. None: the point is refused (never taken without a
 * way back).
 */
export async function obtainDeb(
  state: PackageState,
): Promise<{ file: string; from: "cache" | "download" | "repack"; cleanup: () => void }> {
  const cached = join(APT_CACHE, cachedDebName(state));
  if (existsSync(cached)) return { file: cached, from: "cache", cleanup: () => {} };
  const dir = mkdtempSync(join(tmpdir(), "rollpoint-deb-"));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  const found = () => readdirSync(dir).find((f) => f.endsWith(".deb"));
  const tried: string[] = [];
  try {
    await tool("apt-get", ["download", `${state.name}=${state.version}`], dir);
    const file = found();
    if (file) return { file: join(dir, file), from: "download", cleanup };
  } catch (error) {
    tried.push((error as Error).message);
  }
  try {
    await tool("dpkg-repack", [state.name], dir);
    const file = found();
    if (file) return { file: join(dir, file), from: "repack", cleanup };
  } catch (error) {
    tried.push((error as Error).message);
  }
  cleanup();
  throw new GlobalRollbackError(
    "BACKUP_FAILED",
    `no .deb of ${state.name} ${state.version} can be kept: not in ${APT_CACHE}, not downloadable, and dpkg-repack could not rebuild it (${tried.join("; ")}); install dpkg-repack, or keep the .deb in apt's cache`,
    { context: { path: state.name } },
  );
}
