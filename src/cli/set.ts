/**
 * `spore set`: configure the LLM that proposes experiments (`llm.toml`, mode 0600), or show the
 * configuration with the key masked and the table of providers.
 * @module
 */
import type { Command } from "commander";
import { dataPaths, type LlmConfig, loadLlmConfig, saveLlmConfig } from "../config.ts";
import { providerInfo, providerNames, PROVIDERS } from "../research/llm/mod.ts";
import { type CommonOptions, dataDirOf, withDataDir, withJson } from "./common.ts";
import { UserError } from "./errors.ts";
import { printJson, safeText, style, table } from "./output.ts";

interface SetOptions extends CommonOptions {
  model?: string;
  baseUrl?: string;
}

/** Show enough of a key to recognize it, never enough to use it. */
export function maskKey(key: string): string {
  if (key.length === 0) return "(none)";
  if (key.length < 12) return "*".repeat(Math.min(key.length, 8));
  return `${key.slice(0, 3)}…${key.slice(-4)}`;
}

// deno-lint-ignore no-control-regex -- control characters are what we reject
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Check `spore set` arguments and build the config to write; throws UserError. */
export function buildLlmConfig(
  provider: string,
  key: string,
  opts: { model?: string; baseUrl?: string },
  previous?: LlmConfig,
): LlmConfig {
  const info = providerInfo(provider);
  if (!info) {
    throw new UserError(
      `unknown provider "${safeText(provider, 40)}"; choose one of ${providerNames().join(", ")}`,
    );
  }
  if (!key || /\s/.test(key) || CONTROL.test(key)) {
    throw new UserError(
      "the API key must be non-empty and contain no spaces or control characters",
    );
  }
  const model = opts.model?.trim() ?? "";
  if (opts.model !== undefined && (!model || CONTROL.test(model) || model.length > 200)) {
    throw new UserError("--model must be a non-empty model name");
  }
  let baseUrl: string | undefined;
  if (opts.baseUrl !== undefined) {
    const url = URL.canParse(opts.baseUrl) ? new URL(opts.baseUrl) : undefined;
    if (!url || !/^https?:$/.test(url.protocol)) {
      throw new UserError(
        `--base-url must be an http(s) URL such as ${info.defaultBaseUrl}, got "${
          safeText(opts.baseUrl, 80)
        }"`,
      );
    }
    baseUrl = opts.baseUrl.replace(/\/+$/, "");
  }
  // Tuning keys a user wrote by hand survive a key change for the same provider.
  const same = previous?.provider === info.name;
  return {
    provider: info.name,
    api_key: key,
    model: model || info.defaultModel,
    base_url: baseUrl,
    max_token: same ? previous?.max_token : undefined,
    temperature: same ? previous?.temperature : undefined,
  };
}

async function loadPrevious(dataDir: string): Promise<LlmConfig | undefined> {
  try {
    return await loadLlmConfig(dataDir);
  } catch {
    return undefined; // a broken file is replaced by the new, valid one
  }
}

function show(config: LlmConfig | undefined, path: string, json: boolean | undefined): void {
  const providers = PROVIDERS.map((p) => ({
    provider: p.name,
    api: p.api,
    default_model: p.defaultModel,
    default_base_url: p.defaultBaseUrl,
  }));
  const current = config
    ? {
      provider: config.provider,
      model: config.model || providerInfo(config.provider)?.defaultModel || "",
      base_url: config.base_url ?? providerInfo(config.provider)?.defaultBaseUrl ?? "",
      api_key: maskKey(config.api_key),
    }
    : null;
  if (json) return printJson({ path, config: current, providers });
  if (current) {
    console.log(table(["", ""], [
      ["provider", current.provider],
      ["model", safeText(current.model)],
      ["base url", safeText(current.base_url)],
      ["api key", current.api_key],
      ["file", path],
    ]));
  } else {
    console.log(
      `${style("yellow", "no LLM configured")}: \`spore run\` uses the built-in mutator ` +
        "(spore-mutator). Configure one with `spore set <provider> <key>`.",
    );
  }
  console.log("");
  console.log(table(
    ["provider", "api", "default model", "default base url"],
    providers.map((p) => [p.provider, p.api, p.default_model, p.default_base_url]),
  ));
}

/** Register `set`. */
export function registerSet(program: Command): void {
  const cmd = program
    .command("set")
    .description("configure the LLM provider (no arguments: show the configuration)")
    .argument("[provider]", `one of ${providerNames().join(", ")}`)
    .argument("[key]", "API key (stored in llm.toml, mode 0600)")
    .option("--model <name>", "model name (default: the provider's default)")
    .option("--base-url <url>", "API base URL (e.g. a local OpenAI-compatible server)");
  withJson(withDataDir(cmd)).action(
    async (provider: string | undefined, key: string | undefined, opts: SetOptions) => {
      const dataDir = dataDirOf(opts);
      const path = dataPaths(dataDir).llm;
      if (provider === undefined) return show(await loadLlmConfig(dataDir), path, opts.json);
      if (key === undefined) {
        throw new UserError(`missing the API key: spore set ${safeText(provider, 40)} <key>`);
      }
      const config = buildLlmConfig(provider, key, opts, await loadPrevious(dataDir));
      await saveLlmConfig(dataDir, config);
      if (opts.json) return show(config, path, true);
      console.log(
        `LLM set: ${config.provider} / ${safeText(config.model)} (key ${
          maskKey(config.api_key)
        }) in ${path}`,
      );
    },
  );
}
