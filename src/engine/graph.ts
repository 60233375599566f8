import type { AnyStateMachine } from "xstate";

interface NodeLike {
  key: string;
  id: string;
  type: string;
  states: Record<string, NodeLike>;
  config: {
    invoke?:
      | { src: string; onDone?: unknown; onError?: unknown }
      | Array<{ src: string; onDone?: unknown; onError?: unknown }>;
    on?: Record<string, unknown>;
    always?: unknown;
    initial?: string;
  };
}

/**
 * The compiled machine as a Mermaid `stateDiagram-v2`, read from the machine itself (its state
 * nodes and their invoke/on transitions), so the picture cannot disagree with what runs.
 * Each transition is drawn in the block of the innermost state that holds both its ends (one
 * that leaves a box is drawn outside it), every state is named last in its own box (Mermaid
 * places a state where it is last mentioned), and a final state nothing leads to (`failed`
 * without --no-rollback) is left out. Checked with Mermaid's own parser and model in test/engine/graph.test.ts.
 */
export function mermaid(machine: AnyStateMachine): string {
  // Mermaid ids are words: dots (nesting) and anything else become underscores.
  const name = (id: string) => id.replace(/^update\./, "").replace(/[^A-Za-z0-9_]/g, "_");
  const targetsOf = (t: unknown): string[] => {
    if (!t) return [];
    if (typeof t === "string") return [t];
    if (Array.isArray(t)) return t.flatMap(targetsOf);
    const target = (t as { target?: unknown }).target;
    return target === undefined ? [] : targetsOf(target);
  };
  const resolve = (from: NodeLike, target: string) =>
    target.startsWith("#")
      ? target.slice(1)
      : `${from.id.split(".").slice(0, -1).join(".")}.${target}`;
  const root = machine.root as unknown as NodeLike;
  const edges: Array<{ from: string; to: string; label: string }> = [];
  const finals: string[] = [];
  const collect = (node: NodeLike) => {
    for (const child of Object.values(node.states)) {
      const edge = (t: unknown, label: string) => {
        for (const target of targetsOf(t))
          edges.push({ from: child.id, to: resolve(child, target), label });
      };
      for (const inv of [child.config.invoke ?? []].flat()) {
        for (const [outcome, transitions] of [
          ["done", inv.onDone],
          ["failed", inv.onError],
        ] as const) {
          for (const t of [transitions ?? []].flat()) {
            const guard = guardOf(t);
            edge(t, `${inv.src} ${outcome}${guard ? ` [${guard}]` : ""}`);
          }
        }
      }
      for (const [event, transitions] of Object.entries(child.config.on ?? {})) {
        for (const t of [transitions ?? []].flat()) {
          const guard = guardOf(t);
          edge(t, `${event}${guard ? ` [${guard}]` : ""}`);
        }
      }
      // Eventless transitions: a skipped undo, the rollback's verdict.
      for (const t of [child.config.always ?? []].flat()) edge(t, guardOf(t) ?? "otherwise");
      if (child.type === "final") finals.push(child.id);
      collect(child);
    }
  };
  collect(root);
  const reached = new Set(edges.map((e) => e.to));
  const parentOf = (id: string) => id.split(".").slice(0, -1).join(".");
  // The innermost state whose box holds both ends: the longest common prefix of their parents.
  const home = (from: string, to: string) => {
    const a = parentOf(from).split(".");
    const b = parentOf(to).split(".");
    let i = 0;
    while (i < a.length && i < b.length && a[i] === b[i]) i++;
    return a.slice(0, i).join(".");
  };
  const lines = ["stateDiagram-v2"];
  const seen = new Set<string>();
  // Mermaid puts a state in the box where it is last mentioned: this level's transitions first
  // (one may name a state of a box below), then each box, naming its states again inside.
  const draw = (node: NodeLike, indent: string) => {
    for (const e of edges) {
      if (home(e.from, e.to) !== node.id) continue;
      const line = `${indent}${name(e.from)} --> ${name(e.to)}: ${e.label}`;
      // A transition declared on a parent and a child is drawn once.
      if (!seen.has(line)) lines.push(line);
      seen.add(line);
    }
    for (const child of Object.values(node.states)) {
      if (Object.keys(child.states).length) {
        lines.push(`${indent}state ${name(child.id)} {`);
        // Transitions into a box go to the box: its initial state is where they arrive.
        if (child.config.initial)
          lines.push(`${indent}  [*] --> ${name(`${child.id}.${child.config.initial}`)}`);
        draw(child, `${indent}  `);
        lines.push(`${indent}}`);
      } else if (child.type !== "final" || reached.has(child.id)) {
        lines.push(`${indent}${name(child.id)}`);
      }
    }
    for (const id of finals)
      if (parentOf(id) === node.id && reached.has(id)) lines.push(`${indent}${name(id)} --> [*]`);
  };
  draw(root, "  ");
  lines.splice(1, 0, "  [*] --> preflight");
  return `${lines.join("\n")}\n`;
}

/** The name of a transition's guard, if it has one. */
function guardOf(transition: unknown): string | undefined {
  const guard = (transition as { guard?: unknown } | null)?.guard;
  if (typeof guard === "string") return guard;
  return (guard as { type?: string } | undefined)?.type;
}
