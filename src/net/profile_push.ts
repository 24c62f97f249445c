/**
 * Profiles pushed, not only synced. A Python node never asks for profiles and has no profile
 * sync: it learns one only when it is pushed to it (PROTOCOL.md section 11). So this node sends
 * its own signed profile to every peer once the handshake is done, and relays profiles that
 * another process wrote to the profile store while the node runs (`spore profile set`) to every
 * ready peer, before the next live sync mark: a mark tells our peers that everything up to it
 * reached them live, so a profile stored behind the network's back must be sent first.
 * @module
 */
import { envelope, type NodeProfile } from "../protocol/mod.ts";
import type { ProfileStore } from "../store/mod.ts";
import { LruSet } from "./lru.ts";

/** Profile ids this process relayed itself, remembered to tell them from other writers'. */
const RELAYED_HERE = 1024;
/** Profiles sent per check; the rest go on the next tick (before the next mark). */
const BATCH = 256;

/** What a push needs from a connection. */
export interface ProfileTarget {
  send(json: string): boolean;
}

/** Pushes our profile at handshake and profiles stored by other processes. */
export class ProfilePush {
  readonly #nodeId: string;
  readonly #profiles: ProfileStore;
  readonly #relayedHere = new LruSet(RELAYED_HERE);
  #seenSeq: number;

  constructor(nodeId: string, profiles: ProfileStore) {
    this.#nodeId = nodeId;
    this.#profiles = profiles;
    this.#seenSeq = profiles.maxSeq();
  }

  /** A peer finished its handshake (hello, or known to be a Python peer): send our profile. */
  ready(peer: ProfileTarget): void {
    const mine = this.#profiles.get(this.#nodeId);
    if (mine) peer.send(envelope("profile", mine));
  }

  /** This process stored and relayed `profile` (from a peer, or published here). */
  relayed(profile: NodeProfile): void {
    this.#relayedHere.add(profile.id);
  }

  /**
   * Relay every profile another process stored since the last check to `targets`. Returns true
   * when all are sent (false: more wait for the next call, so no live mark may cover them yet).
   */
  sendForeign(targets: ProfileTarget[]): boolean {
    if (this.#profiles.maxSeq() <= this.#seenSeq) return true;
    const batch = this.#profiles.afterSeq(this.#seenSeq, BATCH);
    for (const { seq, profile } of batch) {
      this.#seenSeq = seq;
      if (this.#relayedHere.has(profile.id)) continue;
      const json = envelope("profile", profile);
      for (const t of targets) t.send(json);
    }
    return this.#profiles.maxSeq() <= this.#seenSeq;
  }
}
