// Sending an outcome where the manifest says: each notification on its own, bounded by its
// timeout, its failure reported and never thrown (an outcome does not change for a dead webhook).

import { loadManifest } from "../manifest/load.js";
import { isRedacted, redactedUrl } from "../manifest/redact.js";
import type { WrittenManifest, WrittenNotification } from "../manifest/types.js";
import type { Containment } from "../processes/containment.js";
import { runCommand } from "../processes/process.js";
import { parseDuration } from "../util/duration.js";
import type { NotifyMessage } from "./message.js";

const DEFAULT_TIMEOUT = "30s";
const DEFAULT_TIMEOUT_MS = 30_000;

/** What one notification did; `target` is printable (a URL's secrets left out). */
export interface NotificationReport {
  target: string;
  ok: boolean;
  error?: string;
}

export interface NotifyContext {
  containment: Containment;
  /** The run's log: a line for each notification, what was sent where (never a URL's secret). */
  log(lines: string[]): void;
}

/** Send `message` to each notification whose `on` names its outcome, in order. */
export async function sendNotifications(
  targets: readonly WrittenNotification[],
  message: NotifyMessage,
  context: NotifyContext,
): Promise<NotificationReport[]> {
  const reports: NotificationReport[] = [];
  for (const [i, target] of targets.entries()) {
    if (target.on && !target.on.includes(message.outcome)) continue;
    const shown = target.url ? redactedUrl(target.url) : (target.command ?? []).join(" ");
    const timeoutMs = parseDuration(target.timeout ?? DEFAULT_TIMEOUT) ?? DEFAULT_TIMEOUT_MS;
    let report: NotificationReport;
    try {
      if (target.url) await post(target.url, message, timeoutMs);
      else await command(target.command ?? [], message, timeoutMs, context, i);
      report = { target: shown, ok: true };
    } catch (error) {
      report = { target: shown, ok: false, error: (error as Error).message };
    }
    context.log([
      report.ok
        ? `notified ${shown} of ${message.outcome}`
        : `could not notify ${shown} of ${message.outcome}: ${report.error}`,
    ]);
    reports.push(report);
  }
  return reports;
}

async function post(url: string, message: NotifyMessage, timeoutMs: number): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": "rollpoint" },
      body: JSON.stringify(message),
      signal: AbortSignal.timeout(timeoutMs),
      redirect: "error",
    });
  } catch (error) {
    // fetch's own messages may quote the URL: only the cause is said, the URL shortened in it.
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const why =
      (error as Error).name === "TimeoutError"
        ? `no answer within ${timeoutMs / 1000}s`
        : (cause?.code ?? cause?.message ?? "the request failed");
    throw new Error(why.split(url).join(redactedUrl(url)));
  }
  await response.body?.cancel();
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
}

// `${run.X}` in a command's words: the run's own fields.
const RUN_FIELD = /\$\{run\.(module|outcome|id|version|host)\}/g;

async function command(
  argv: readonly string[],
  message: NotifyMessage,
  timeoutMs: number,
  context: NotifyContext,
  index: number,
): Promise<void> {
  const fields: Record<string, string> = {
    module: message.module,
    outcome: message.outcome,
    id: message.runId,
    version: message.version ?? "",
    host: message.host,
  };
  const words = argv.map((w) => w.replace(RUN_FIELD, (_, name: string) => fields[name] ?? ""));
  const output: string[] = [];
  const result = await runCommand(words, {
    input: `${message.title}\n\n${message.message}\n`,
    timeoutMs,
    signal: new AbortController().signal,
    jail: context.containment.enter(`notify ${index + 1}`),
    onLines: (lines) => output.push(...lines.slice(-5)),
  });
  if (result.timedOut) throw new Error(`no end within ${timeoutMs / 1000}s`);
  if (result.exitCode !== 0)
    throw new Error(
      `exit ${result.exitCode ?? result.signal}${output.length ? `: ${output.slice(-3).join(" / ")}` : ""}`,
    );
}

/**
 * The notifications of a run as its manifest file has them: the catalog's copy has each URL
 * shortened (its secrets are kept nowhere but the file), so a run resumed or rolled back from
 * the catalog reads the file again. Null when it cannot (gone, changed, or now invalid).
 */
export async function notificationsOf(
  manifest: WrittenManifest,
  manifestFile: string,
  storeDir: string,
): Promise<WrittenNotification[] | null> {
  const targets = manifest.notify ?? [];
  if (!targets.some((t) => t.url && isRedacted(t.url))) return targets;
  if (!manifestFile) return null;
  const loaded = await loadManifest(manifestFile, {
    mode: "run",
    storeDir,
    vars: Object.fromEntries(Object.entries(manifest.vars ?? {}).map(([k, v]) => [k, String(v)])),
  }).catch(() => undefined);
  const again = loaded?.manifest?.notify ?? [];
  // The same notifications, URL for URL, or none: never a message to a place the run did not name.
  if (
    loaded?.manifest?.name !== manifest.name ||
    again.length !== targets.length ||
    again.some((t, i) => (t.url ? redactedUrl(t.url) : undefined) !== targets[i]!.url)
  )
    return null;
  return again;
}
