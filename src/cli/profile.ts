/**
 * `spore profile show` and `spore profile set`: this node's signed public profile.
 * @module
 */
import type { Command } from "commander";
import { type NodeProfile, PROFILE_TEXT_LIMITS, signProfile } from "../protocol/mod.ts";
import {
  type CommonOptions,
  dataDirOf,
  withDataDir as withDataDirOption,
  withJson,
} from "./common.ts";
import { requireKeys, withDataDir } from "./context.ts";
import { UserError } from "./errors.ts";
import { printJson, safeText, shortId, table } from "./output.ts";

interface SetOptions extends CommonOptions {
  displayName?: string;
  bio?: string;
  website?: string;
  avatarUrl?: string;
  donationAddress?: string;
}

const FIELDS: [keyof SetOptions, keyof typeof PROFILE_TEXT_LIMITS, string][] = [
  ["displayName", "display_name", "--display-name"],
  ["bio", "bio", "--bio"],
  ["website", "website", "--website"],
  ["avatarUrl", "avatar_url", "--avatar-url"],
  ["donationAddress", "donation_address", "--donation-address"],
];

function checkUrl(flag: string, value: string): void {
  if (value === "") return;
  try {
    const u = new URL(value);
    if (u.protocol !== "https:" && u.protocol !== "http:") throw new Error();
  } catch {
    throw new UserError(`${flag} must be an http(s) URL, got "${safeText(value, 60)}"`);
  }
}

/** Build the next signed profile from the previous one and the changed fields. */
export function nextProfile(
  prev: NodeProfile | undefined,
  opts: SetOptions,
  nodeId: string,
  seed: Uint8Array,
  now: number,
): NodeProfile {
  const payload = {
    node_id: nodeId,
    display_name: prev?.display_name ?? "",
    bio: prev?.bio ?? "",
    website: prev?.website ?? "",
    avatar_url: prev?.avatar_url ?? "",
    donation_address: prev?.donation_address ?? "",
    // Newest timestamp wins across the network, so never go backwards or repeat.
    timestamp: Math.max(now, (prev?.timestamp ?? 0) + 1),
    schema_version: 1,
  };
  for (const [opt, field, flag] of FIELDS) {
    const value = opts[opt];
    if (typeof value !== "string") continue;
    if (value.length > PROFILE_TEXT_LIMITS[field]) {
      throw new UserError(`${flag} is limited to ${PROFILE_TEXT_LIMITS[field]} characters`);
    }
    if (field === "website" || field === "avatar_url") checkUrl(flag, value);
    payload[field] = value;
  }
  return signProfile(payload, seed);
}

/** Register `profile show` and `profile set`. */
export function registerProfile(program: Command): void {
  const profile = program.command("profile").description("show or edit this node's public profile");

  const show = profile.command("show").description("show a profile (this node's by default)")
    .argument("[node_id]", "another node's id");
  withJson(withDataDirOption(show)).action(
    async (nodeArg: string | undefined, opts: CommonOptions) => {
      await withDataDir(dataDirOf(opts), (ctx) => {
        const nodeId = nodeArg?.toLowerCase() ?? requireKeys(ctx).nodeId;
        const p = ctx.stores.profiles.get(nodeId);
        if (opts.json) return printJson(p ?? null);
        if (!p) {
          return console.log(
            nodeArg
              ? `No profile known for ${safeText(nodeArg, 64)}.`
              : "No profile yet. Set one with `spore profile set --display-name NAME`.",
          );
        }
        console.log(table(["", ""], [
          ["node", p.node_id],
          ["name", safeText(p.display_name, 64) || "-"],
          ["bio", safeText(p.bio, 100) || "-"],
          ["website", safeText(p.website, 100) || "-"],
          ["avatar", safeText(p.avatar_url, 100) || "-"],
          ["donation", safeText(p.donation_address, 100) || "-"],
          ["updated", new Date(p.timestamp * 1000).toISOString()],
        ]));
      });
    },
  );

  const set = profile.command("set").description(
    "update and sign this node's profile (gossiped when the node runs)",
  )
    .option("--display-name <name>", "public display name")
    .option("--bio <text>", "short description")
    .option("--website <url>", "website URL")
    .option("--avatar-url <url>", "avatar image URL")
    .option("--donation-address <addr>", "donation address");
  withJson(withDataDirOption(set)).action(async (opts: SetOptions) => {
    if (FIELDS.every(([opt]) => opts[opt] === undefined)) {
      throw new UserError(
        "nothing to set: give at least one of " + FIELDS.map((f) => f[2]).join(", "),
      );
    }
    await withDataDir(dataDirOf(opts), (ctx) => {
      const keys = requireKeys(ctx);
      const prev = ctx.stores.profiles.get(keys.nodeId);
      const next = nextProfile(prev, opts, keys.nodeId, keys.seed, Math.floor(Date.now() / 1000));
      ctx.stores.profiles.upsert(next);
      if (opts.json) return printJson(next);
      console.log(
        `Profile signed and saved (id ${shortId(next.id)}). Peers receive it when the node runs.`,
      );
    });
  });
}
