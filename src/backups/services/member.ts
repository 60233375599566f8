// The services member kind: one backup of every unit's recorded state, returned after the data.

import { describeError } from "../../errors.js";
import { type MemberEntries, type MemberKind, NOTHING_OUTSIDE } from "../member-kind.js";
import { operation } from "../operation.js";
import { backupServices, recordedUnits } from "./kind.js";
import { actionsFor, returnUnitsTo } from "./restore.js";

export const serviceMembers: MemberKind<MemberEntries["services"]> = {
  type: "service",
  phase: "state",
  noun: ["unit", "units"],
  countOf: (operation) => operation.units?.length ?? 0,
  planLines: (units) => (units.length ? [`services ${units.join(", ")}`] : []),
  // All units are one backup (one state of the host), so one member, whatever their number.
  members: (units) => (units.length ? [{ key: "services", target: units.join(" ") }] : []),
  async preflight(units, { services }) {
    if (!units.length) return { checks: [], newBytes: 0, newFiles: 0 };
    try {
      const states = await services.states([...units]);
      return {
        checks: states.map((s) => ({
          ok: true,
          subject: s.unit,
          detail: `${s.activeState}, ${s.unitFileState || "no unit file state"}`,
        })),
        newBytes: 0,
        newFiles: 0,
      };
    } catch (error) {
      return {
        checks: [
          { ok: false, subject: `services ${units.join(", ")}`, detail: describeError(error) },
        ],
        newBytes: 0,
        newFiles: 0,
      };
    }
  },
  async take(units, { store, services, label }) {
    if (units.length) await backupServices(store, services, units, label());
  },
  // Nothing to verify: the states are in the row itself.
  async prepareRestore(_store, row, services) {
    return {
      row,
      apply: async () => {
        // The files restored before this may include unit files: systemd must read them first.
        await services.reload?.();
        const units = await returnUnitsTo(services, recordedUnits(row));
        const failed = units.filter((u) => !u.ok);
        const changed = units.some((u) => u.actions.length > 0);
        return operation(row, {
          outcome: failed.length > 0 ? "failed" : changed ? "restored" : "unchanged",
          units,
          ...(failed.length > 0
            ? {
                error: {
                  code: "SERVICE_FAILED",
                  message: `${failed.length} of ${units.length} units did not return to their recorded state: ${failed.map((u) => u.error).join("; ")}`,
                },
              }
            : {}),
        });
      },
    };
  },
  async preview(_store, row, services) {
    const recorded = recordedUnits(row);
    const now = await services.states(recorded.map((u) => u.unit));
    return recorded.flatMap((want, i) => {
      const actions = actionsFor(now[i]!, want);
      return actions.length
        ? [
            `${want.unit}: ${actions.join(", ")} (now ${now[i]!.activeState}/${now[i]!.unitFileState}, recorded ${want.activeState}/${want.unitFileState})`,
          ]
        : [];
    });
  },
  describeBackup(meta) {
    const units =
      (meta.units as Array<{ unit: string; activeState: string; unitFileState: string }>) ?? [];
    return units.map(
      (u) => `unit    ${u.unit.padEnd(32)} ${u.activeState.padEnd(10)} ${u.unitFileState}`,
    );
  },
  ...NOTHING_OUTSIDE,
};
