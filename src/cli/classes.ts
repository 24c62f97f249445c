/**
 * Research classes on the command line (`spore status`, `spore frontier`): `--class FILTER` and
 * the classes of a graph, named (the embedded workspace's) or shown as dataset and short prepare.
 * @module
 */
import type { Command } from "commander";
import { classKey, classLabel, matchesClassFilter, type NamedClass } from "../protocol/mod.ts";
import type { ClassSummary, GraphStore } from "../store/mod.ts";
import { embeddedClasses } from "../training/research_workspace.ts";
import { UserError } from "./errors.ts";

/** Longest `--class` accepted (a dataset cid, a slash and a prepare cid). */
const MAX_CLASS_FILTER = 256;

/** Add `--class` to `cmd`. */
export function withClassOption(cmd: Command): Command {
  return cmd.option(
    "--class <class>",
    "only this research class: its name (spore-synthetic), DATASET/PREPARE_PREFIX, a dataset_cid " +
      "or a prepare_cid prefix (8+ characters)",
    (v: string) => {
      if (v.length > MAX_CLASS_FILTER) {
        throw new UserError(`--class is at most ${MAX_CLASS_FILTER} characters`);
      }
      return v;
    },
  );
}

/** A class of the graph with its display name. */
export interface ShownClass extends ClassSummary {
  name: string;
  key: string;
}

/** The graph's classes matching `filter` (every class without one), named. */
export async function shownClasses(
  graph: Pick<GraphStore, "classes">,
  filter?: string,
): Promise<{ classes: ShownClass[]; named: NamedClass[] }> {
  const named = await embeddedClasses();
  const classes = graph.classes()
    .filter((c) => filter === undefined || matchesClassFilter(c, filter, named))
    .map((c) => ({ ...c, name: classLabel(c, named), key: classKey(c) }));
  return { classes, named };
}

/** JSON of a class for `--json` outputs. */
export function classJson(c: ShownClass): Record<string, unknown> {
  return {
    name: c.name,
    dataset_cid: c.datasetCid,
    prepare_cid: c.prepareCid,
    experiment_count: c.count,
    frontier_size: c.frontierSize,
    best_val_bpb: c.bestValBpb,
  };
}
