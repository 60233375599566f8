import type { WrittenContainerConfig } from "./containers/config.js";
import type { DatabaseConfig } from "./databases/config.js";

/** What a rollback point holds: the library's RollbackPointSpec. */
export interface PointSpec {
  moduleName: string;
  description: string;
  files?: ReadonlyArray<string | { path: string; exclude?: string[] }>;
  /** systemd units whose enablement and activity to record. */
  services?: readonly string[];
  databases?: readonly DatabaseConfig[];
  /** Docker or Podman containers: a compose project or single containers. */
  containers?: readonly WrittenContainerConfig[];
}
