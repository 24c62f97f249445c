/**
 * DOM building without HTML strings. Every piece of record text (descriptions, names, diffs)
 * is untrusted: it only ever becomes a text node, never markup.
 * @module
 */

const HEX64 = /^[0-9a-f]{64}$/;

/** True for a 64-hex id (experiment, node or artifact), the only ids we put into links. */
export function isId(s) {
  return typeof s === "string" && HEX64.test(s);
}

/**
 * Create an element. `attrs` values are set with setAttribute/properties (never innerHTML);
 * `on*` keys add listeners; children are nodes or strings (as text).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "href") {
      el.setAttribute("href", safeHref(value));
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Only in-app hash links and http(s) URLs; anything else (javascript:, data:) becomes inert. */
export function safeHref(value) {
  const s = String(value);
  if (s.startsWith("#/")) return s;
  try {
    const url = new URL(s);
    if (url.protocol === "http:" || url.protocol === "https:") return url.href;
  } catch { /* not a URL */ }
  return "#";
}

/** Replace an element's children. */
export function setChildren(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** Link to an experiment page. */
export function expLink(id, text) {
  if (!isId(id)) return h("span", {}, "?");
  return h(
    "a",
    { href: `#/experiment/${id}`, class: text === undefined ? "mono" : "" },
    text ?? shortId(id),
  );
}

/** Link to a node page, showing its display name when it has one. */
export function nodeLink(nodeId, displayName) {
  if (!isId(nodeId)) return h("span", {}, "?");
  return h(
    "a",
    { href: `#/node/${nodeId}`, class: displayName ? "node-name" : "mono", title: nodeId },
    displayName ? clip(displayName, 40) : shortId(nodeId),
  );
}

/** First 12 hex digits. */
export function shortId(id) {
  return String(id).slice(0, 12);
}

/** Cut long untrusted text for one line. */
export function clip(s, max = 80) {
  const t = String(s ?? "").replace(/\s+/g, " ").trim();
  return t.length > max ? t.slice(0, max - 1) + "…" : t;
}

/** A record's val_bpb for humans: a crash has no meaningful value. */
export function recBpb(rec) {
  return rec?.status === "crash" ? "–" : bpb(rec?.val_bpb);
}

/** val_bpb for humans. */
export function bpb(x) {
  return typeof x === "number" && Number.isFinite(x) ? x.toFixed(4) : "–";
}

/** "3 min ago" style age of a unix-seconds timestamp. */
export function ago(ts) {
  const s = Math.max(0, Math.floor(Date.now() / 1000 - Number(ts)));
  if (!Number.isFinite(s)) return "?";
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

/** Full date of a unix-seconds timestamp. */
export function dateText(ts) {
  const d = new Date(Number(ts) * 1000);
  return Number.isNaN(d.getTime())
    ? "?"
    : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

/** Status pill (keep / discard / crash). */
export function statusBadge(status) {
  const s = ["keep", "discard", "crash"].includes(status) ? status : "unknown";
  return h("span", { class: `badge status-${s}` }, s);
}

/** Colored unified diff: one line element per diff line, classed by its first character. */
export function diffView(diff) {
  const text = String(diff ?? "");
  if (text.trim() === "") {
    return h("p", { class: "muted" }, "No diff (baseline or unchanged code).");
  }
  const lines = text.replace(/\n$/, "").split("\n");
  return h(
    "pre",
    { class: "diff", "data-testid": "diff" },
    lines.map((line) => {
      const cls = line.startsWith("+++") || line.startsWith("---")
        ? "d-file"
        : line.startsWith("@@")
        ? "d-hunk"
        : line.startsWith("+")
        ? "d-add"
        : line.startsWith("-")
        ? "d-del"
        : "d-ctx";
      return h("span", { class: `dl ${cls}` }, line, "\n");
    }),
  );
}
