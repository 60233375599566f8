import { existsSync } from "node:fs";

/** sd_booted(3): systemd is the running init (its units run; systemd-run works). */
export const systemdBooted = (): boolean => existsSync("/run/systemd/system");
