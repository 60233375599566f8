// What a container backup keeps in its row's metadata: enough to put the member back without the
// engine's help beyond its own verbs (images by ID, containers by their recorded shape, volumes
// and compose files as file backups of the same point).

import type { BackupRow } from "../../store/rows.js";
import type { ContainerConfig } from "./config.js";
import type { ContainerRecord, InspectedContainer } from "./record.js";

export interface RecordedImage {
  /** `sha256:<hex>`. */
  id: string;
  /** Every reference (repo:tag) that named it when the point was taken. */
  refs: string[];
  /** rollpoint's own reference, which keeps it from deletion while the point lives. */
  keep: string;
  /** With saveImages: the store's object holding `save`'s archive. */
  saved?: string;
  size: number;
  /** The image's own entrypoint: a recreate passes it only when the container's differs. */
  entrypoint: string[];
}

export interface RecordedVolume {
  name: string;
  driver: string;
  labels: Record<string, string>;
  mountpoint: string;
  /** The file backup of its mountpoint (a part of the same point). */
  backupId: string;
}

/** A file the compose project is made of (the compose file, its .env), as a file backup. */
export interface RecordedFile {
  path: string;
  backupId: string;
}

export interface ContainerMeta {
  member: ContainerConfig;
  containers: ContainerRecord[];
  images: RecordedImage[];
  volumes: RecordedVolume[];
  files: RecordedFile[];
  /** `inspect` as the engine gave it, whole, for whoever needs more than what is compared. */
  inspected: InspectedContainer[];
}

export function containerMeta(row: Pick<BackupRow, "meta">): ContainerMeta {
  return row.meta as unknown as ContainerMeta;
}

/** The argument the engine takes for an image ID (Podman wants the bare hex). */
export function imageArg(member: Pick<ContainerConfig, "engine">, id: string): string {
  return member.engine === "podman" ? id.replace(/^sha256:/, "") : id;
}
