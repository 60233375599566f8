import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The directory holding the `systemctl` stand-in, to put first on PATH. */
export const FIXTURE_BIN = fileURLToPath(new URL("../fixtures/bin", import.meta.url));

export interface FakeUnit {
  active: string;
  unitFile: string;
  /** Make this verb fail, as a unit whose start script exits non-zero would. */
  failOn?: string;
}

/**
 * Units for the `systemctl` stand-in, kept in `dir`; sets SYSTEMCTL_STATE_DIR and PATH for this
 * test process and the children it starts. Returns readers for unit states and the call log.
 */
export function fakeSystemd(dir: string, units: Record<string, FakeUnit>) {
  mkdirSync(dir, { recursive: true });
  for (const [name, state] of Object.entries(units)) {
    writeFileSync(join(dir, `${name}.service.json`), JSON.stringify(state));
  }
  process.env.SYSTEMCTL_STATE_DIR = dir;
  if (!process.env.PATH?.startsWith(FIXTURE_BIN))
    process.env.PATH = `${FIXTURE_BIN}:${process.env.PATH}`;
  return {
    state: (name: string) =>
      JSON.parse(readFileSync(join(dir, `${name}.service.json`), "utf8")) as FakeUnit,
    set: (name: string, state: FakeUnit) =>
      writeFileSync(join(dir, `${name}.service.json`), JSON.stringify(state)),
    calls: () => {
      try {
        return readFileSync(join(dir, "calls.log"), "utf8").trim().split("\n").filter(Boolean);
      } catch {
        return [];
      }
    },
  };
}
