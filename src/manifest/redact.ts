import type { WrittenManifest } from "./types.js";

/**
 * The manifest as the catalog keeps it (recovery rebuilds the run from it): without inline
 * database passwords, which must never reach the store. Recovery then finds the password through
 * passwordEnv, PGPASSWORD or ~/.pgpass, one more reason an inline password is warned about.
 */
export function withoutPasswords(manifest: WrittenManifest): WrittenManifest {
  const databases = manifest.rollbackPoint?.databases;
  if (!databases?.some((d) => d.password !== undefined)) return manifest;
  return {
    ...manifest,
    rollbackPoint: {
      ...manifest.rollbackPoint,
      databases: databases.map(({ password: _secret, ...rest }) => rest),
    },
  };
}
