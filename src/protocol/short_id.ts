/**
 * Short forms of 64-hex ids and digests, for people: the one place their lengths are chosen.
 * @module
 */

/** Characters of an id shown on terminals, in research progress and in the explorer. */
export const SHORT_ID = 12;

/**
 * Characters of an id in the verifier's log lines (tests that follow a node's log match them).
 */
export const LOG_ID = 8;

/** The first `length` characters of an id or digest. */
export function shortId(id: string, length: number = SHORT_ID): string {
  return id.slice(0, length);
}
