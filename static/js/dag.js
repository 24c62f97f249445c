/**
 * The lineage DAG: Cytoscape.js rendering with the dagre layered layout (vendored in
 * static/vendor). Colors say the status, frontier records are larger and ringed in gold, labels
 * give val_bpb and the change from the parent, and a parent's discarded or crashed leaf children
 * (two or more) are folded into one "+N tried" node that expands on click. Hovering a node shows
 * its description. Node labels are drawn on a canvas, so record text can never become markup.
 * @module
 */
import { clip, h, setChildren } from "./dom.js";

const cytoscape = globalThis.cytoscape;

/** A parent's failed leaf children are folded once there are at least this many. */
const FOLD_AT = 2;

const COLORS = { keep: "#3fb950", discard: "#d29922", crash: "#f85149" };

const STYLE = [
  {
    selector: "node",
    style: {
      "background-color": (n) => COLORS[n.data("status")] ?? "#8b949e",
      width: 14,
      height: 14,
      "border-width": 1,
      "border-color": "#0d1117",
      label: "data(label)",
      "text-wrap": "wrap",
      color: "#8b949e",
      "font-size": 8,
      "text-valign": "bottom",
      "text-margin-y": 3,
      "min-zoomed-font-size": 7,
    },
  },
  {
    selector: "node.frontier",
    style: {
      width: 24,
      height: 24,
      "border-width": 4,
      "border-color": "#e3b341",
      color: "#e6edf3",
      "font-size": 10,
      "font-weight": "bold",
      "z-index": 10,
    },
  },
  {
    selector: "node:selected",
    style: { "border-color": "#58a6ff", "border-width": 4, "overlay-opacity": 0 },
  },
  { selector: "node.fresh", style: { "border-color": "#58a6ff", "border-width": 3 } },
  {
    selector: "node.fold",
    style: {
      shape: "round-rectangle",
      width: (n) => Math.max(40, String(n.data("label")).length * 4.4),
      height: 14,
      padding: 4,
      "background-color": "#30363d",
      "border-color": "#8b949e",
      "border-width": 1,
      "border-style": "dashed",
      color: "#c9d1d9",
      "font-size": 8,
      "text-valign": "center",
      "text-margin-y": 0,
    },
  },
  {
    selector: "edge",
    style: {
      width: 1.2,
      "line-color": "#484f58",
      "target-arrow-color": "#484f58",
      "target-arrow-shape": "triangle",
      "arrow-scale": 0.6,
      "curve-style": "bezier",
    },
  },
  {
    selector: "edge.lineage",
    style: { "line-color": "#e3b341", "target-arrow-color": "#e3b341", width: 2 },
  },
];

/** val_bpb and, when the parent is known and comparable, the change from it. */
function label(rec, parent) {
  if (rec.status === "crash") return "crash";
  if (typeof rec.val_bpb !== "number") return "";
  const v = rec.val_bpb.toFixed(4);
  if (!parent || parent.status === "crash" || typeof parent.val_bpb !== "number") return v;
  const d = rec.val_bpb - parent.val_bpb;
  return `${v}\n${d <= 0 ? "−" : "+"}${Math.abs(d).toFixed(4)}`;
}

/** Failed (discard or crash) records with no child in `records`, grouped by parent. */
function foldable(records) {
  const hasChild = new Set(records.map((r) => r.parent).filter(Boolean));
  const byParent = new Map();
  for (const r of records) {
    if (!r.parent || hasChild.has(r.id) || (r.status !== "discard" && r.status !== "crash")) {
      continue;
    }
    const list = byParent.get(r.parent) ?? [];
    list.push(r);
    byParent.set(r.parent, list);
  }
  for (const [parent, list] of byParent) if (list.length < FOLD_AT) byParent.delete(parent);
  return byParent;
}

function foldLabel(list) {
  const crashes = list.filter((r) => r.status === "crash").length;
  const discards = list.length - crashes;
  const parts = [];
  if (discards) parts.push(`${discards} discarded`);
  if (crashes) parts.push(`${crashes} crashed`);
  return `+${parts.join(", ")}`;
}

/** A handful of nodes would otherwise be blown up to fill the whole panel. */
const MAX_FIT_ZOOM = 1.6;

function nodeElement(rec, frontier, parent) {
  return {
    group: "nodes",
    data: { id: rec.id, status: rec.status, label: label(rec, parent), record: rec },
    classes: frontier.has(rec.id) ? "frontier" : "",
  };
}

function edgeElement(source, target) {
  return { group: "edges", data: { id: `${source}>${target}`, source, target } };
}

function foldElement(parentId, list) {
  return {
    group: "nodes",
    data: { id: `fold:${parentId}`, status: "fold", label: foldLabel(list), folded: list },
    classes: "fold",
  };
}

/** A DAG view bound to a container; `onSelect(record)` runs when a node is clicked. */
export class Dag {
  constructor(container, onSelect) {
    this.cy = cytoscape({
      container,
      style: STYLE,
      minZoom: 0.05,
      maxZoom: 4,
      boxSelectionEnabled: false,
    });
    this.frontier = new Set();
    this.layoutTimer = undefined;
    this.tip = h("div", { class: "dag-tip", hidden: true });
    container.parentElement?.append(this.tip);
    this.cy.on("tap", "node", (e) => {
      if (e.target.hasClass("fold")) {
        this.unfold(e.target);
        return;
      }
      this.highlightLineage(e.target);
      onSelect(e.target.data("record"));
    });
    this.cy.on("mouseover", "node", (e) => this.showTip(e.target));
    this.cy.on("mouseout", "node", () => (this.tip.hidden = true));
    this.cy.on("viewport", () => (this.tip.hidden = true));
    this.cy.on("tap", (e) => {
      if (e.target === this.cy) this.cy.elements().removeClass("lineage");
    });
  }

  /** Replace the graph with a `/api/graph` response and lay it out (resolves when placed). */
  load(graph) {
    this.frontier = new Set(graph.frontier_id);
    const byId = new Map(graph.node.map((n) => [n.id, n]));
    const folds = foldable(graph.node);
    const folded = new Set([...folds.values()].flat().map((r) => r.id));
    const elements = graph.node
      .filter((n) => !folded.has(n.id))
      .map((n) => nodeElement(n, this.frontier, byId.get(n.parent)));
    for (const e of graph.edge) {
      if (byId.has(e.source) && byId.has(e.target) && !folded.has(e.target)) {
        elements.push(edgeElement(e.source, e.target));
      }
    }
    for (const [parent, list] of folds) {
      if (!byId.has(parent)) continue;
      elements.push(foldElement(parent, list), edgeElement(parent, `fold:${parent}`));
    }
    this.cy.elements().remove();
    this.cy.add(elements);
    performance.mark("spore-graph-added");
    return this.layout();
  }

  /** Run the layered layout (parents above children). */
  layout() {
    return new Promise((resolve) => {
      const layout = this.cy.layout({
        name: "dagre",
        rankDir: "TB",
        // Labels are two short lines (val_bpb, change from the parent): room for them side by side.
        nodeSep: 26,
        rankSep: 44,
        animate: false,
        fit: true,
        padding: 24,
      });
      layout.one("layoutstop", () => {
        if (this.cy.zoom() > MAX_FIT_ZOOM) {
          this.cy.zoom(MAX_FIT_ZOOM);
          this.cy.center();
        }
        resolve();
      });
      layout.run();
    });
  }

  /** Add a record that arrived live; relayout shortly after a burst. */
  addRecord(rec) {
    if (this.cy.getElementById(rec.id).nonempty()) return;
    const fold = rec.parent ? this.cy.getElementById(`fold:${rec.parent}`) : this.cy.collection();
    if (fold.nonempty() && (rec.status === "discard" || rec.status === "crash")) {
      // Another failed try of a folded parent: counted in its fold.
      const list = [...fold.data("folded"), rec];
      fold.data({ folded: list, label: foldLabel(list) });
      return;
    }
    const parentNode = rec.parent ? this.cy.getElementById(rec.parent) : undefined;
    const node = this.cy.add(
      nodeElement(rec, this.frontier, parentNode?.nonempty() ? parentNode.data("record") : null),
    );
    node.addClass("fresh");
    if (parentNode?.nonempty()) this.cy.add(edgeElement(rec.parent, rec.id));
    // Children that arrived before this parent get their edge now.
    this.cy.nodes().forEach((n) => {
      if (
        n.data("record")?.parent === rec.id &&
        this.cy.getElementById(`${rec.id}>${n.id()}`).empty()
      ) {
        this.cy.add({
          group: "edges",
          data: { id: `${rec.id}>${n.id()}`, source: rec.id, target: n.id() },
        });
      }
    });
    clearTimeout(this.layoutTimer);
    this.layoutTimer = setTimeout(() => this.layout(), 250);
  }

  /** Records in the view, folded ones included. */
  recordCount() {
    let n = 0;
    this.cy.nodes().forEach((node) => {
      n += node.hasClass("fold") ? node.data("folded").length : 1;
    });
    return n;
  }

  /** Replace a fold with the records it holds, then lay out again. */
  unfold(fold) {
    const parent = fold.id().slice("fold:".length);
    const list = fold.data("folded");
    const parentRec = this.cy.getElementById(parent).data("record");
    fold.remove();
    for (const rec of list) {
      this.cy.add(nodeElement(rec, this.frontier, parentRec));
      this.cy.add(edgeElement(parent, rec.id));
    }
    this.tip.hidden = true;
    return this.layout();
  }

  /** Description (and what a fold holds) beside the hovered node. */
  showTip(node) {
    const rec = node.data("record");
    const text = node.hasClass("fold")
      ? `${node.data("label")} under this parent: click to show them`
      : clip(rec?.description, 160) || "(no description)";
    setChildren(this.tip, h("div", {}, node.data("label")), h("div", { class: "muted" }, text));
    const p = node.renderedPosition();
    this.tip.hidden = false;
    this.tip.style.left = `${Math.round(p.x + 14)}px`;
    this.tip.style.top = `${Math.round(p.y + 10)}px`;
  }

  /** Re-mark frontier nodes from a fresh frontier id list. */
  setFrontier(ids) {
    this.frontier = new Set(ids);
    this.cy.nodes().forEach((n) => {
      if (this.frontier.has(n.id())) n.addClass("frontier");
      else n.removeClass("frontier");
    });
  }

  /** Gold path from the node up to its oldest shown ancestor. */
  highlightLineage(node) {
    this.cy.elements().removeClass("lineage");
    node.predecessors("edge").addClass("lineage");
  }

  /** Select and center a node by id (used by the frontier table). */
  focus(id) {
    const n = this.cy.getElementById(id);
    if (n.empty()) return false;
    this.cy.$(":selected").unselect();
    n.select();
    this.highlightLineage(n);
    this.cy.animate({ center: { eles: n }, zoom: Math.max(this.cy.zoom(), 1) }, { duration: 250 });
    return true;
  }

  destroy() {
    clearTimeout(this.layoutTimer);
    this.tip.remove();
    this.cy.destroy();
  }
}
