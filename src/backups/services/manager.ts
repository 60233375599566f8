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
 * What rollpoint needs from an init system. The systemd implementation drives `systemctl`; tests
 * use it too, with a `systemctl` stand-in on PATH.
 */
export interface ServiceManager {
  /** Current states, in the order asked. A unit that does not exist is an error naming it. */
  states(units: readonly string[]): Promise<UnitState[]>;
  /** Apply one action to units, in order; throws with the command's message on failure. */
  act(action: ServiceAction, units: readonly string[]): Promise<void>;
}

/** `nginx` → `nginx.service`, as systemctl reads it. */
export function unitName(name: string): string {
  return /\.(service|socket|timer|target|mount|automount|path|slice|scope|swap|device)$/.test(name)
    ? name
    : `${name}.service`;
}
