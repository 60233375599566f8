import { homedir } from "node:os";
import { join } from "node:path";

/**
 * The store used when none is given: `ROLLPOINT_STORE`, else `/var/backups/rollpoint` for root
 * and `$XDG_STATE_HOME/rollpoint` (or `~/.local/state/rollpoint`) for other users.
 */
export function defaultStoreDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ROLLPOINT_STORE) return env.ROLLPOINT_STORE;
  if (process.getuid?.() === 0) return "/var/backups/rollpoint";
  const state = env.XDG_STATE_HOME || join(homedir(), ".local", "state");
  return join(state, "rollpoint");
}
