import { GlobalRollbackError } from "../../errors.js";

/** A unit's state as recorded in a service backup and compared on restore. */
export interface UnitState {
  /** The full unit name, e.g. `nginx.service`. */
  unit: string;
  /** systemd's ActiveState: `active`, `inactive`, `failed`, `activating`, ... */
  activeState: string;
  /** systemd's UnitFileState: `enabled`, `disabled`, `masked`, `static`, ... */
  unitFileState: string;
}

export type ServiceAction =
  | "start"
  | "stop"
  | "restart"
  | "reload"
  | "enable"
  | "disable"
  | "mask"
  | "unmask";

/**
 * What rollpoint needs from an init system. The systemd implementation drives `systemctl`; the
 * tests run it against a real systemd booted in a container.
 */
export interface ServiceManager {
  /** Current states, in the order asked. A unit that does not exist is an error naming it. */
  states(units: readonly string[]): Promise<UnitState[]>;
  /** Apply one action to units, in order; throws with the command's message on failure. */
  act(action: ServiceAction, units: readonly string[]): Promise<void>;
  /**
   * Re-read unit files (`systemctl daemon-reload`). Called before units are returned to their
   * recorded states, because the restore may just have put back their unit files.
   */
  reload?(): Promise<void>;
  /**
   * How long a started unit must stay up before it counts as started. systemd reports a
   * `Type=simple` start as done when it forks; a binary that exits a moment later shows up
   * only as `failed` afterwards. 0 or absent: no wait.
   */
  readonly settleMs?: number;
}

/** systemd's unit-name characters; a leading `-` only for the root mount and slice. */
const UNIT_NAME = /^(-\.(mount|slice)|[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@-]*)$/;

/**
 * `nginx` → `nginx.service`, as systemctl reads it. A name systemd would not accept is refused
 * here too (the library does not go through the manifest's schema): `-Hhost` is an option.
 */
export function unitName(name: string): string {
  if (!UNIT_NAME.test(name) || name.length > 255) {
    throw new GlobalRollbackError(
      "INVALID_ARGUMENT",
      `${JSON.stringify(name)} is not a systemd unit name (letters, digits, ":_.\\@-", not starting with "-")`,
      { context: { unit: name } },
    );
  }
  return /\.(service|socket|timer|target|mount|automount|path|slice|scope|swap|device)$/.test(name)
    ? name
    : `${name}.service`;
}
