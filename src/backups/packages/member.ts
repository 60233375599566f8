// The packages member kind: Debian packages through dpkg and apt.

import { existsSync } from "node:fs";
import { join } from "node:path";
import { describeError } from "../../errors.js";
import type { WrittenStep } from "../../manifest/types.js";
import type { MemberEntries, MemberKind, PreflightCheck } from "../member-kind.js";
import { NOTHING_OUTSIDE } from "../member-kind.js";
import { backupServices } from "../services/kind.js";
import { aptRequests, namedPackages, resolvePackages } from "./config.js";
import { cachedDebName, packageStates, simulate } from "./dpkg.js";
import { packagesMeta, packagesProof, preparePackagesRestore } from "./restore.js";
import { APT_CACHE, memberPackages, obtainDeb, takePackages } from "./take.js";

type Written = string | { name: string };

export const packageMembers: MemberKind<MemberEntries["packages"], Written> = {
  type: "package",
  phase: "data",
  // One operation restores all of them: counted as one set, not as its packages.
  noun: ["package set", "package sets"],
  resolve: (entries, _env, _point, steps: readonly WrittenStep[] = []) =>
    resolvePackages(entries, steps),
  planLines: (entries) => [
    ...(namedPackages(entries).length ? [`packages ${namedPackages(entries).join(", ")}`] : []),
    ...aptRequests(entries).map(
      (r) => `packages that step ${r.step} would change (simulated with apt-get -s at preflight)`,
    ),
    ...(entries.length
      ? ["services their packages ship (stopped before the restore, returned after)"]
      : []),
  ],
  // One backup for all: dpkg's database is one state of the host. The units its packages ship
  // are a service backup taken along: stopped with the point's services before any data is put
  // back, returned with them after (a package's service must not run while its data comes back).
  members: (entries) =>
    entries.length
      ? [
          { key: "packages", target: describe(entries) },
          {
            key: "packages-services",
            target: "the services their packages ship",
            as: { type: "service", phase: "state" },
          },
        ]
      : [],
  async preflight(entries, context) {
    const checks: PreflightCheck[] = [];
    let newBytes = 0;
    try {
      for (const { step, apt } of aptRequests(entries)) {
        const changes = await simulate(apt);
        checks.push({
          ok: true,
          subject: `apt step ${step}`,
          detail: changes.length
            ? changes
                .map(
                  (c) =>
                    `${c.action === "remove" ? "remove" : c.from ? "upgrade" : "install"} ${c.name}${c.from ? ` ${c.from}` : ""}${c.to ? ` → ${c.to}` : ""}`,
                )
                .join(", ")
            : "changes nothing",
        });
      }
      const names = await memberPackages(entries);
      for (const state of await packageStates(names)) {
        if (!state.installed) {
          checks.push({
            ok: true,
            subject: `package ${state.name}`,
            detail: `${state.status}: recorded as such (a rollback removes what the update installs)`,
          });
          continue;
        }
        const cached = existsSync(join(APT_CACHE, cachedDebName(state)));
        let source = "in apt's cache";
        if (!cached) {
          try {
            const deb = await obtainDeb(state);
            deb.cleanup();
            source = deb.from === "download" ? "downloadable" : "rebuilt with dpkg-repack";
          } catch (error) {
            checks.push({
              ok: false,
              subject: `package ${state.name}`,
              detail: describeError(error),
            });
            continue;
          }
        }
        checks.push({
          ok: true,
          subject: `package ${state.name}`,
          detail: `${state.version} (${state.architecture}), its .deb ${source}`,
        });
        newBytes += Math.ceil((state.installedSize * 1024) / context.blockSize) * context.blockSize;
      }
    } catch (error) {
      checks.push({ ok: false, subject: "packages", detail: describeError(error) });
    }
    return { checks, newBytes, newFiles: 0 };
  },
  async take(entries, { store, services, label }) {
    if (!entries.length) return;
    const { units } = packagesMeta(await takePackages(store, entries, label()));
    await backupServices(store, services, units ?? [], label());
  },
  prepareRestore: preparePackagesRestore,
  async preview(_store, row) {
    return packagesProof(packagesMeta(row));
  },
  describeBackup(meta) {
    return packagesMeta({ meta }).packages.map(
      (p) =>
        `package ${p.name.padEnd(28)} ${(p.version || "-").padEnd(20)} ${p.status}${p.debFrom ? ` (.deb from ${p.debFrom})` : ""}${p.conffiles.length ? `, ${p.conffiles.length} conffile(s)` : ""}`,
    );
  },
  ...NOTHING_OUTSIDE,
};

function describe(entries: readonly MemberEntries["packages"][]): string {
  const named = namedPackages(entries);
  const steps = aptRequests(entries).map((r) => r.step);
  return [named.join(" "), steps.length ? `and what ${steps.join(", ")} change` : ""]
    .filter(Boolean)
    .join(" ");
}
