/** The node's version, shown by `spore version` and sent in `hello`. */
export const VERSION = "0.1.0";

/** Agent string sent to peers. */
export const AGENT = `spore-ts/${VERSION}`;
