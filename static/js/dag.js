/**
 * The lineage DAG: Cytoscape.js rendering with the dagre layered layout (vendored in
 * static/vendor). Colors say the status, frontier records are larger and ringed in gold.
 * Node labels are drawn on a canvas, so record text can never become markup here.
 * @module
 */

const cytoscape = globalThis.cytoscape;

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

function label(rec) {
  if (rec.status === "crash") return "crash";
  return typeof rec.val_bpb === "number" ? rec.val_bpb.toFixed(4) : "";
}

/** A handful of nodes would otherwise be blown up to fill the whole panel. */
const MAX_FIT_ZOOM = 1.6;

function nodeElement(rec, frontier) {
  return {
    group: "nodes",
    data: { id: rec.id, status: rec.status, label: label(rec), record: rec },
    classes: frontier.has(rec.id) ? "frontier" : "",
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
    this.cy.on("tap", "node", (e) => {
      this.highlightLineage(e.target);
      onSelect(e.target.data("record"));
    });
    this.cy.on("tap", (e) => {
      if (e.target === this.cy) this.cy.elements().removeClass("lineage");
    });
  }

  /** Replace the graph with a `/api/graph` response and lay it out (resolves when placed). */
  load(graph) {
    this.frontier = new Set(graph.frontier_id);
    const ids = new Set(graph.node.map((n) => n.id));
    const elements = graph.node.map((n) => nodeElement(n, this.frontier));
    for (const e of graph.edge) {
      if (ids.has(e.source) && ids.has(e.target)) {
        elements.push({
          group: "edges",
          data: { id: `${e.source}>${e.target}`, source: e.source, target: e.target },
        });
      }
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
        nodeSep: 12,
        rankSep: 36,
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
    const node = this.cy.add(nodeElement(rec, this.frontier));
    node.addClass("fresh");
    if (rec.parent && this.cy.getElementById(rec.parent).nonempty()) {
      this.cy.add({
        group: "edges",
        data: { id: `${rec.parent}>${rec.id}`, source: rec.parent, target: rec.id },
      });
    }
    // Children that arrived before this parent get their edge now.
    this.cy.nodes().forEach((n) => {
      if (
        n.data("record").parent === rec.id && this.cy.getElementById(`${rec.id}>${n.id()}`).empty()
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
    this.cy.destroy();
  }
}
