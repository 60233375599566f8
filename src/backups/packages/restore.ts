// Putting packages back: remove what the update installed (purged: its conffiles were not there
// either), reinstall every recorded version from the kept .debs (never from the network, all in
// one dpkg run so that they satisfy each other), let dpkg finish what a failed maintainer script
// left half-done, restore the conffiles, then read it all back: each version and status as
// recorded, `dpkg --audit` silent, the conffiles exact.

import { describeError } from "../../errors.js";
import type { BackupRow } from "../../store/rows.js";
import type { Store } from "../../store/store.js";
import { pausePoint } from "../../util/pause-point.js";
import { type PreparedRestore, verifiedEntries } from "../operation.js";
import type { RollbackOperation } from "../outcomes.js";
import { applyParts, type PreparedPart, prepareParts, stepwiseOutcome } from "../parts.js";
import type { ServiceManager } from "../services/manager.js";
import { NONINTERACTIVE, packageStates, selectionOf, tool } from "./dpkg.js";
import { type PackagesMeta, type RecordedPackage, runnableUnits } from "./take.js";

export const packagesMeta = (row: Pick<BackupRow, "meta">) => row.meta as unknown as PackagesMeta;

export async function preparePackagesRestore(
  store: Store,
  row: BackupRow,
  services: ServiceManager,
): Promise<PreparedRestore> {
  // Every kept .deb re-hashed before dpkg is asked to install one.
  await verifiedEntries(store, row);
  const meta = packagesMeta(row);
  const parts = await prepareParts(
    store,
    row,
    services,
    meta.packages.flatMap((p) => p.conffiles.map((c) => ({ what: c.path, backupId: c.backupId }))),
  );
  return { row, apply: () => applyPackagesRestore(store, row, meta, parts, services) };
}

async function applyPackagesRestore(
  store: Store,
  row: BackupRow,
  meta: PackagesMeta,
  parts: readonly PreparedPart[],
  services: ServiceManager,
): Promise<RollbackOperation> {
  const done: string[] = [];
  const problems: string[] = [];
  try {
    const now = new Map(
      (await packageStates(meta.packages.map((p) => p.name))).map((s) => [s.name, s]),
    );
    // A unit only the update's versions ship: its file goes with them, so it is stopped first
    // (the recorded ones are the service backup's: stopped before this, returned after).
    const shipped = await runnableUnits(
      [...now.values()].filter((s) => s.installed).map((s) => s.name),
    );
    const theirs = shipped.filter((u) => !(meta.units ?? []).includes(u));
    if (theirs.length) {
      await services.act("stop", theirs);
      done.push(`stopped ${theirs.join(", ")} (the update's)`);
    }
    // Not there at all before: purged. Removed before with its conffiles kept: removed again.
    // Despite dependencies: what depends on them now is a version the update brought, which the
    // reinstall below replaces (nothing recorded needed them: its dependencies were met without).
    const added = meta.packages.filter((p) => !p.version && now.get(p.name)?.version);
    if (added.length) {
      await tool("dpkg", [
        "--purge",
        "--force-depends",
        ...NONINTERACTIVE.dpkgOptions,
        ...added.map((p) => p.name),
      ]);
      done.push(`purged ${added.map((p) => p.name).join(", ")}`);
    }
    const removed = meta.packages.filter(
      (p) => p.version && !p.installed && now.get(p.name)?.installed,
    );
    if (removed.length) {
      await tool("dpkg", [
        "--remove",
        ...NONINTERACTIVE.dpkgOptions,
        ...removed.map((p) => p.name),
      ]);
      done.push(`removed ${removed.map((p) => p.name).join(", ")}`);
    }
    const back = meta.packages.filter((p) => p.installed && differs(p, now.get(p.name)));
    pausePoint("packages:reinstall");
    if (back.length) {
      await tool("dpkg", [
        "--install",
        ...NONINTERACTIVE.dpkgOptions,
        ...back.map((p) => store.objects.pathOf(p.deb!)),
      ]);
      done.push(`reinstalled ${back.map((p) => `${p.name} ${p.version}`).join(", ")}`);
    }
    // A package a failed maintainer script left half-configured or unpacked: dpkg finishes it.
    await tool("dpkg", ["--configure", "-a", ...NONINTERACTIVE.dpkgOptions]);
    // A hold the update released (to upgrade a held package) is set again, and one it added is
    // released: the selection is part of what was recorded.
    const after = await packageStates(meta.packages.map((p) => p.name));
    const held = (status: string) => selectionOf(status) === "hold";
    const marks = [
      ["hold", (was: boolean, is: boolean) => was && !is, "held %s again"],
      [
        "unhold",
        (was: boolean, is: boolean) => !was && is,
        "released the hold the update put on %s",
      ],
    ] as const;
    for (const [mark, wanted, said] of marks) {
      const names = meta.packages
        .filter((p, i) => p.installed && wanted(held(p.status), held(after[i]!.status)))
        .map((p) => p.name);
      if (names.length) {
        await tool("apt-mark", [mark, ...names]);
        done.push(said.replace("%s", names.join(", ")));
      }
    }
  } catch (error) {
    problems.push(describeError(error));
  }
  await applyParts(parts, done, problems);
  problems.push(...(await packagesProof(meta)));
  return stepwiseOutcome(row, "packages are", done, problems);
}

function differs(
  recorded: RecordedPackage,
  now: { version: string; installed: boolean } | undefined,
): boolean {
  return !now?.installed || now.version !== recorded.version;
}

/** Each package's version and status read back, and dpkg's own audit: a phrase per difference. */
export async function packagesProof(meta: PackagesMeta): Promise<string[]> {
  const out: string[] = [];
  try {
    const now = await packageStates(meta.packages.map((p) => p.name));
    meta.packages.forEach((p, i) => {
      const live = now[i]!;
      if (p.installed && (live.version !== p.version || live.status !== p.status))
        out.push(
          `${p.name} is ${live.version || "not installed"} (${live.status}), recorded ${p.version} (${p.status})`,
        );
      if (!p.installed && live.status !== p.status)
        out.push(
          `${p.name} is ${live.version || "not installed"} (${live.status}), recorded ${p.status}`,
        );
    });
    const installed = meta.packages.filter((p) => p.installed).map((p) => p.name);
    if (installed.length) {
      // Every installed file as dpkg recorded it; conffiles are proven by their own backups (an
      // admin's edit is what was recorded, and dpkg would call it changed).
      const verify = (
        await tool("dpkg", ["--verify", ...installed]).catch(
          (e: { stdout?: string }) => e.stdout ?? "",
        )
      )
        .split("\n")
        .filter((l) => l.trim() && !/^\S+\s+c\s/.test(l));
      if (verify.length) out.push(`dpkg --verify reports: ${verify.slice(0, 5).join(" / ")}`);
    }
    const audit = (await tool("dpkg", ["--audit"])).trim();
    if (audit) out.push(`dpkg --audit reports: ${audit.split("\n").slice(0, 5).join(" / ")}`);
  } catch (error) {
    out.push(`could not be read back: ${describeError(error)}`);
  }
  return out;
}
