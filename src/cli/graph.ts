/**
 * `spore graph` (ASCII lineage tree) and `spore frontier` (best unbeaten results).
 * @module
 */
import type { Command } from "commander";
import type { ExperimentRecord } from "../protocol/mod.ts";
import type { GraphStore } from "../store/mod.ts";
import {
  type CommonOptions,
  dataDirOf,
  positiveInt,
  withDataDir as withDataDirOption,
  withJson,
} from "./common.ts";
import { withDataDir } from "./context.ts";
import { UserError } from "./errors.ts";
import { shownClasses, withClassOption } from "./classes.ts";
import {
  bpb,
  printJson,
  printRecordsJson,
  safeText,
  shortId,
  statusStyle,
  style,
  table,
} from "./output.ts";

interface GraphOptions extends CommonOptions {
  depth: number;
  root?: string;
  limit: number;
}

interface TreeNode {
  record: ExperimentRecord;
  children: TreeNode[];
  more: number;
}

function line(r: ExperimentRecord): string {
  return `${shortId(r.id)} ${statusStyle(r.status)} ${bpb(r.val_bpb)} ${
    style("dim", safeText(r.gpu_model, 12))
  } ${safeText(r.description, 50)}`;
}

/** Build the lineage tree below `root`, `depth` levels deep, at most `limit` children each. */
export function buildTree(
  graph: GraphStore,
  root: ExperimentRecord,
  depth: number,
  limit: number,
): TreeNode {
  const seen = new Set<string>([root.id]);
  const grow = (record: ExperimentRecord, level: number): TreeNode => {
    if (level >= depth) return { record, children: [], more: graph.children(record.id).length };
    const kids = graph.children(record.id).filter((c) => !seen.has(c.id));
    kids.sort((a, b) => a.val_bpb - b.val_bpb);
    for (const k of kids) seen.add(k.id);
    return {
      record,
      children: kids.slice(0, limit).map((k) => grow(k, level + 1)),
      more: Math.max(0, kids.length - limit),
    };
  };
  return grow(root, 0);
}

/** Render a tree with box-drawing connectors. */
export function renderTree(node: TreeNode, prefix = "", last = true, top = true): string[] {
  const out = [top ? line(node.record) : `${prefix}${last ? "└─ " : "├─ "}${line(node.record)}`];
  const childPrefix = top ? "" : prefix + (last ? "   " : "│  ");
  node.children.forEach((c, i) => {
    const isLast = i === node.children.length - 1 && node.more === 0;
    out.push(...renderTree(c, childPrefix, isLast, false));
  });
  if (node.more > 0) out.push(`${childPrefix}└─ ${style("dim", `… ${node.more} more`)}`);
  return out;
}

function toJson(node: TreeNode): unknown {
  return {
    id: node.record.id,
    status: node.record.status,
    val_bpb: node.record.val_bpb,
    description: node.record.description,
    children: node.children.map(toJson),
    more: node.more,
  };
}

/**
 * The one experiment an id or unique id prefix names.
 * @throws {UserError} when none or several match.
 */
export function resolveExperiment(graph: GraphStore, idOrPrefix: string): ExperimentRecord {
  const matches = graph.search(idOrPrefix, 2).filter((r) =>
    r.id.startsWith(idOrPrefix.toLowerCase())
  );
  if (matches.length !== 1 || matches[0] === undefined) {
    throw new UserError(
      matches.length
        ? `"${idOrPrefix}" matches several experiments; give more characters`
        : `no experiment with id "${safeText(idOrPrefix, 64)}" in this data dir ` +
          "(it may not have synced yet: `spore status` shows the graph)",
    );
  }
  return matches[0];
}

/** Register `graph` and `frontier`. */
export function registerGraph(program: Command): void {
  const graphCmd = program
    .command("graph")
    .description("show the experiment lineage as a tree")
    .option("--depth <n>", "levels to show below each root", positiveInt("--depth"), 4)
    .option("--limit <n>", "children shown per experiment", positiveInt("--limit"), 8)
    .option("--root <id>", "start from this experiment (id or unique prefix)");
  withJson(withDataDirOption(graphCmd)).action(async (opts: GraphOptions) => {
    await withDataDir(dataDirOf(opts), (ctx) => {
      const { graph } = ctx.stores;
      let roots: ExperimentRecord[];
      if (opts.root) {
        roots = [resolveExperiment(graph, opts.root)];
      } else {
        roots = graph.roots(opts.limit);
      }
      const trees = roots.map((r) => buildTree(graph, r, opts.depth, opts.limit));
      if (opts.json) return printJson(trees.map(toJson));
      if (trees.length === 0) {
        return console.log("The graph is empty. Run `spore run` to sync or start research.");
      }
      for (const t of trees) console.log(renderTree(t).join("\n"));
    });
  });

  const frontierCmd = withClassOption(
    program
      .command("frontier")
      .description(
        "list the frontier by research class: kept results no child has beaten, best first",
      )
      .option("--gpu <class>", "only this GPU class (e.g. H100, RTX_4090, CPU)")
      .option(
        "--limit <n>",
        "rows per research class (default: 20 shown; --json lists every row)",
        positiveInt("--limit"),
      ),
  );
  withJson(withDataDirOption(frontierCmd)).action(
    async (opts: CommonOptions & { gpu?: string; limit?: number; class?: string }) => {
      await withDataDir(dataDirOf(opts), async (ctx) => {
        const graph = ctx.stores.graph;
        const { classes } = await shownClasses(graph, opts.class);
        const groups = classes
          // Scripts read --json: every row, page by page, unless they ask for less.
          .map((c) => ({
            c,
            rows: opts.json && opts.limit === undefined
              ? [...graph.frontierOfClassAll(c, opts.gpu)]
              : graph.frontierOfClass(c, opts.gpu, opts.limit ?? 20),
          }))
          .filter((g) => g.rows.length > 0);
        // JSON stays a flat list of records (scripts read it), best first within each class.
        if (opts.json) return printRecordsJson(groups.flatMap((g) => g.rows));
        if (groups.length === 0) {
          const what = [
            opts.gpu ? `GPU class ${safeText(opts.gpu, 32)}` : "",
            opts.class ? `research class ${safeText(opts.class, 64)}` : "",
          ].filter(Boolean).join(" and ");
          return console.log(
            what ? `No frontier experiments for ${what}.` : "The frontier is empty.",
          );
        }
        const names = ctx.stores.profiles.displayNames(
          groups.flatMap((g) => g.rows.map((r) => r.node_id)),
        );
        for (const [i, g] of groups.entries()) {
          if (i > 0) console.log("");
          console.log(
            `${style("bold", safeText(g.c.name, 80))} ${
              style("dim", `(${g.c.frontierSize} on the frontier, ${g.c.count} experiments)`)
            }`,
          );
          console.log(table(
            ["#", "id", "val_bpb", "gpu", "depth", "node", "description"],
            g.rows.map((r, i) => [
              String(i + 1),
              shortId(r.id),
              bpb(r.val_bpb),
              safeText(r.gpu_model, 12),
              String(r.depth),
              safeText(names.get(r.node_id) ?? shortId(r.node_id), 16),
              safeText(r.description, 50),
            ]),
          ));
        }
      });
    },
  );
}
