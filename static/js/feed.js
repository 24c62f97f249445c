/**
 * The live activity feed: every /ws event as one line, newest first, kept for the session so
 * it survives moving between pages.
 * @module
 */
import { ago, bpb, clip, expLink, h, nodeLink, recBpb, setChildren, shortId } from "./dom.js";

const MAX_ITEMS = 100;

/** Feed entries and the list element currently showing them. */
export class Feed {
  constructor() {
    this.items = [];
    this.list = undefined;
  }

  /** Seed with recent records (shown as past activity). */
  seed(records) {
    if (this.items.length > 0) return;
    this.items = records.map((r) => ({
      msg: { type: "experiment", data: r },
      at: r.timestamp,
      fresh: false,
    }));
    this.render();
  }

  /** Add a live message on top. */
  push(msg) {
    this.items.unshift({ msg, at: Date.now() / 1000, fresh: true });
    this.items.length = Math.min(this.items.length, MAX_ITEMS);
    this.render();
  }

  /** The feed's panel element (created once per page render). */
  element() {
    this.list = h("ol", { class: "feed", "data-testid": "feed" });
    this.render();
    return this.list;
  }

  render() {
    if (!this.list) return;
    if (this.items.length === 0) {
      setChildren(this.list, h("li", { class: "empty" }, "Waiting for activity…"));
      return;
    }
    setChildren(this.list, this.items.map((it) => this.#item(it)));
    for (const it of this.items) it.fresh = false;
  }

  #item({ msg, at, fresh }) {
    const { icon, line, detail } = describe(msg);
    return h(
      "li",
      { class: fresh ? "new" : "", dataset: { type: msg.type, id: msg.data?.id ?? "" } },
      h("span", { class: `ico ${icon}` }),
      h(
        "div",
        { class: "body" },
        h("div", { class: "line1" }, line),
        detail && h("div", { class: "line2" }, detail),
      ),
      h("span", { class: "when" }, ago(at)),
    );
  }
}

/** How this node judged a control event: shown so a relayed forgery never reads as an outcome. */
function judged(d) {
  if (d.state === "refused") {
    return h("span", { class: "muted" }, " · refused (not backed by signed evidence)");
  }
  if (d.state === "pending") return h("span", { class: "muted" }, " · pending evidence");
  return "";
}

function describeControl(msg) {
  const base = describeEvent(msg);
  const d = msg.data ?? {};
  if (d.state === "refused") base.icon = "";
  base.line = [...base.line, judged(d)];
  return base;
}

function describe(msg) {
  return ["verification", "challenge", "challenge_response", "dispute"].includes(msg.type)
    ? describeControl(msg)
    : describeEvent(msg);
}

function describeEvent(msg) {
  const d = msg.data ?? {};
  switch (msg.type) {
    case "experiment": {
      const { who, what } = splitDescription(d.description);
      return {
        icon: ["keep", "discard", "crash"].includes(d.status) ? d.status : "",
        line: [
          h("b", { class: "bpb" }, recBpb(d)),
          " ",
          h("span", { class: `st-${d.status}` }, d.status),
          " · ",
          nodeLink(d.node_id, d.node_display_name),
        ],
        // The change itself, on its own line (two lines at most), its author's tag first.
        detail: [
          who && h("span", { class: "tag" }, who),
          who && " ",
          expLink(d.id, clip(what, 160) || shortId(d.id)),
        ],
      };
    }
    case "profile":
      return {
        icon: "peer",
        line: [nodeLink(d.node_id, d.display_name), " updated their profile"],
      };
    case "verification":
      return {
        icon: "control",
        line: [
          nodeLink(d.verifier_id),
          " verified ",
          expLink(d.experiment_id),
          ` (${bpb(d.verifier_bpb)})`,
        ],
      };
    case "challenge":
      return {
        icon: "crash",
        line: [
          nodeLink(d.challenger_id),
          " challenged ",
          expLink(d.experiment_id),
          ` (${bpb(d.challenger_bpb)})`,
        ],
      };
    case "challenge_response":
      return {
        icon: "control",
        line: [nodeLink(d.verifier_id), " answered a challenge on ", expLink(d.experiment_id)],
      };
    case "dispute":
      return {
        icon: d.outcome === "rejected" ? "crash" : "keep",
        line: [
          "dispute on ",
          expLink(d.experiment_id),
          ` ${d.outcome === "rejected" ? "rejected" : "upheld"}`,
        ],
      };
    case "peer":
      return {
        icon: "peer",
        line: [
          `peer ${d.state === "up" ? "connected" : "disconnected"}: `,
          h("span", { class: "mono" }, clip(d.address, 60)),
        ],
      };
    default:
      return { icon: "", line: clip(msg.type, 40) };
  }
}

/**
 * A description's informative part: `mutator: LR 0.04 -> 0.05` becomes the tag `mutator` and the
 * change `LR 0.04 -> 0.05`, so a narrow panel shows what changed rather than who proposed it.
 */
export function splitDescription(text) {
  const t = String(text ?? "").trim();
  const m = /^([a-z][\w.-]{0,24}):\s+(\S.*)$/s.exec(t);
  return m ? { who: m[1], what: m[2] } : { who: "", what: t };
}
