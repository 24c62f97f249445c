/**
 * Explorer UI entry: hash router, header stats, and the live feed shared by every page.
 * Routes: #/ dashboard, #/experiment/<id>, #/node/<id>, #/search/<text>.
 * @module
 */
import { api, connectLive } from "./js/api.js";
import { showDashboard } from "./js/dashboard.js";
import { bpb, h, isId, setChildren } from "./js/dom.js";
import { showExperiment } from "./js/experiment.js";
import { Feed } from "./js/feed.js";
import { showNode } from "./js/node.js";
import { showSearch } from "./js/search.js";

const main = document.getElementById("main");
const feed = new Feed();
/** The page being shown, when it wants live messages. */
let page;
let statsTimer;

async function refreshStats() {
  try {
    const s = await api("/api/stat");
    setChildren(
      document.getElementById("stats"),
      stat(Number(s.experiment_count).toLocaleString(), "experiments", "stat-count"),
      stat(Number(s.frontier_size).toLocaleString(), "frontier"),
      stat(bpb(s.best_val_bpb), "best bpb"),
      peersStat(s),
    );
  } catch { /* the header keeps the last figures */ }
}

/** Peers; none is a warning, with the reason (the last dial error per address) on hover. */
function peersStat(s) {
  const el = stat(String(s.peer_count), "peers", "stat-peers");
  if (s.peer_count > 0) return el;
  el.classList.add("stat-warn");
  const n = s.network;
  const why = n
    ? [
      ...n.last_errors.map((e) => `${e.address}: ${e.error}`),
      ...n.dialing.filter((a) => !n.last_errors.some((e) => e.address === a))
        .map((a) => `${a}: dialing`),
    ]
    : [];
  el.title = "no peers connected" + (why.length ? `\n${why.join("\n")}` : "") +
    "\nto join: spore connect HOST:PORT, or spore run --peer HOST:PORT";
  return el;
}

function stat(value, label, testId) {
  return h(
    "div",
    { class: "stat" },
    h("b", { "data-testid": testId }, value),
    h("span", {}, label),
  );
}

async function route() {
  page?.destroy?.();
  page = undefined;
  delete document.body.dataset.ready;
  const hash = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
  const [kind, ...rest] = hash.split("/");
  const arg = rest.join("/");
  try {
    if (kind === "experiment" && isId(arg)) {
      await showExperiment(main, arg);
    } else if (kind === "node" && isId(arg)) {
      page = await showNode(main, arg);
    } else if (kind === "search" && arg.trim() !== "") {
      await showSearch(main, arg);
    } else if (kind === "" || kind === undefined) {
      page = await showDashboard(main, feed);
    } else {
      main.replaceChildren(
        h(
          "div",
          { class: "page" },
          h("h1", {}, "No such page"),
          h(
            "p",
            {},
            "Pages are #/experiment/ID and #/node/ID (64 hex characters each) and #/search/TEXT.",
          ),
          h("p", {}, h("a", { href: "#/" }, "Back to the explorer")),
        ),
      );
    }
  } catch (err) {
    main.replaceChildren(
      h(
        "div",
        { class: "page" },
        h("h1", {}, err.status === 404 ? "Not found" : "Something went wrong"),
        h("p", { class: "error" }, err.message),
        h("p", {}, h("a", { href: "#/" }, "Back to the explorer")),
      ),
    );
  }
  globalThis.scrollTo(0, 0);
  document.body.dataset.ready = "1";
  performance.mark("spore-ready");
}

document.getElementById("search").addEventListener("submit", (e) => {
  e.preventDefault();
  const q = document.getElementById("q").value.trim();
  if (q !== "") location.hash = `#/search/${encodeURIComponent(q)}`;
});

connectLive(
  (msg) => {
    // Run progress (several a second while training) feeds the run card, not the activity list.
    if (msg.type === "run") {
      page?.onLive?.(msg);
      return;
    }
    feed.push(msg);
    page?.onLive?.(msg);
    clearTimeout(statsTimer);
    statsTimer = setTimeout(refreshStats, 300);
  },
  (on) => {
    document.getElementById("live").className = `live ${on ? "on" : "off"}`;
    document.getElementById("live-text").textContent = on ? "live" : "reconnecting";
  },
);

globalThis.addEventListener("hashchange", route);
api("/api/recent?limit=20").then((r) => feed.seed(r)).catch(() => {});
refreshStats();
setInterval(refreshStats, 30_000);
route();

/**
 * Test hooks: the dashboard's Cytoscape instance (to find a node's on-screen position) and its
 * progress chart (to count the points it drew).
 */
globalThis.__spore = {
  get cy() {
    return page?.dag?.cy;
  },
  get chart() {
    return page?.chart;
  },
};
