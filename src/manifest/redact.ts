import type { WrittenManifest } from "./types.js";

/**
 * The manifest as the catalog keeps it (recovery rebuilds the run from it): without inline
 * database passwords and without what a notification URL may hide a token in (its user info,
 * path and query), none of which may reach the store. Recovery finds a password through
 * passwordEnv, PGPASSWORD or ~/.pgpass, and a notification's URL in the manifest file itself.
 */
export function withoutSecrets(manifest: WrittenManifest): WrittenManifest {
  const databases = manifest.rollbackPoint?.databases;
  const passwords = databases?.some((d) => d.password !== undefined);
  const urls = manifest.notify?.some((n) => n.url !== undefined);
  if (!passwords && !urls) return manifest;
  return {
    ...manifest,
    ...(passwords && databases
      ? {
          rollbackPoint: {
            ...manifest.rollbackPoint,
            databases: databases.map(({ password: _secret, ...rest }) => rest),
          },
        }
      : {}),
    ...(urls && manifest.notify
      ? { notify: manifest.notify.map((n) => (n.url ? { ...n, url: redactedUrl(n.url) } : n)) }
      : {}),
  };
}

// Stands for what was left out; the URL parser would have percent-encoded it in a real URL.
const HIDDEN = "…";

/**
 * A URL as it may be printed, logged and stored: scheme, host and port; the rest (an ntfy
 * topic, a Gotify token, a Healthchecks UUID, a password) replaced by `…`.
 */
export function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    const more = u.pathname.length > 1 || u.search || u.hash || u.username || u.password;
    return `${u.protocol}//${u.host}/${more ? HIDDEN : ""}`;
  } catch {
    return HIDDEN;
  }
}

/** True for a URL `redactedUrl` shortened: the real one is only in the manifest file. */
export const isRedacted = (url: string): boolean => url.includes(HIDDEN);
