import assert from "node:assert/strict";
import { join } from "node:path";
import {
  ConfigError,
  ensureConfigFile,
  ensureIdentity,
  loadConfig,
  loadIdentity,
  loadKnownPeers,
  loadLlmConfig,
  resolveDataDir,
  saveLlmConfig,
  trainMemoryLimit,
  updateConfig,
} from "../src/config.ts";
import { verifierSettings } from "../src/verify/mod.ts";
import { vectors } from "./protocol/vectors.ts";
import { withTemp } from "./cli/helpers.ts";

Deno.test("data dir: flag, then SPORE_HOME, then ~/.spore", () => {
  const prev = Deno.env.get("SPORE_HOME");
  try {
    Deno.env.set("SPORE_HOME", "/tmp/from-env");
    assert.equal(resolveDataDir("/tmp/flag"), "/tmp/flag");
    assert.equal(resolveDataDir(), "/tmp/from-env");
    Deno.env.delete("SPORE_HOME");
    assert.ok(resolveDataDir().endsWith("/.spore"));
  } finally {
    if (prev === undefined) Deno.env.delete("SPORE_HOME");
    else Deno.env.set("SPORE_HOME", prev);
  }
});

Deno.test("identity is created 0600 in a 0700 dir and reloads unchanged", async () => {
  await withTemp(async (dir) => {
    const { keys, created } = await ensureIdentity(dir);
    assert.ok(created);
    assert.equal((await Deno.stat(`${dir}/identity`)).mode! & 0o777, 0o700);
    assert.equal((await Deno.stat(`${dir}/identity/private_key`)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${dir}/identity/node_id`)).mode! & 0o777, 0o600);
    assert.equal(await Deno.readTextFile(`${dir}/identity/node_id`), keys.nodeId);
    const again = await ensureIdentity(dir);
    assert.equal(again.created, false);
    assert.equal(again.keys.nodeId, keys.nodeId);
  });
});

Deno.test("a Python node's identity files load to the same node id", async () => {
  await withTemp(async (dir) => {
    const k = vectors.keys[0]!;
    await Deno.mkdir(`${dir}/identity`, { recursive: true });
    await Deno.writeTextFile(`${dir}/identity/private_key`, k.private_key_hex);
    await Deno.writeTextFile(`${dir}/identity/node_id`, k.node_id);
    assert.equal((await loadIdentity(dir))?.nodeId, k.node_id);
  });
});

Deno.test("a malformed private_key is a clear error and is never replaced", async () => {
  for (const bad of ["xyz", "ab".repeat(16), "zz".repeat(32)]) {
    await withTemp(async (dir) => {
      await Deno.mkdir(`${dir}/identity`, { recursive: true });
      await Deno.writeTextFile(`${dir}/identity/private_key`, bad);
      await assert.rejects(() => ensureIdentity(dir), (e: Error) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, /private_key: expected 64 hex characters/);
        return true;
      });
      assert.equal(await Deno.readTextFile(`${dir}/identity/private_key`), bad);
    });
  }
});

Deno.test("node_id disagreeing with the key is reported", async () => {
  await withTemp(async (dir) => {
    await Deno.mkdir(`${dir}/identity`, { recursive: true });
    await Deno.writeTextFile(`${dir}/identity/private_key`, vectors.keys[0]!.private_key_hex);
    await Deno.writeTextFile(`${dir}/identity/node_id`, vectors.keys[1]!.node_id);
    await assert.rejects(() => loadIdentity(dir), /does not match/);
  });
});

Deno.test("config.toml: defaults, Python keys, and round trip keeping unknown keys", async () => {
  await withTemp(async (dir) => {
    const d = await loadConfig(dir);
    assert.equal(d.port, 7470);
    assert.deepEqual(d.peer, []);
    await Deno.writeTextFile(
      `${dir}/config.toml`,
      `host = "127.0.0.1"\nport = 7471\ndata_dir = "${dir}"\npeer = ["10.0.0.1:7470"]\nfuture = 1\n`,
    );
    const c = await loadConfig(dir);
    assert.equal(c.host, "127.0.0.1");
    assert.equal(c.port, 7471);
    assert.deepEqual(c.peer, ["10.0.0.1:7470"]);
    await updateConfig(dir, { peer: ["10.0.0.2:7470"] });
    const text = await Deno.readTextFile(`${dir}/config.toml`);
    assert.match(text, /future = 1/);
    assert.deepEqual((await loadConfig(dir)).peer, ["10.0.0.2:7470"]);
  });
});

Deno.test("corrupt or wrong-typed config.toml names the file and line, and is left as is", async () => {
  const cases: [string, RegExp][] = [
    ['host = "x"\nport = = 3\n', /config\.toml:2:\d+: invalid TOML/],
    ['port = "seventy"\n', /config\.toml: "port" must be an integer/],
    ["peer = [1, 2]\n", /"peer" must be a list of strings/],
    ['peer = ["nope"]\n', /"peer" entry "nope" is not host:port/],
    ["port = 99999\n", /not a port/],
  ];
  for (const [text, re] of cases) {
    await withTemp(async (dir) => {
      await Deno.writeTextFile(`${dir}/config.toml`, text);
      await assert.rejects(() => loadConfig(dir), (e: Error) => {
        assert.ok(e instanceof ConfigError, String(e));
        assert.match(e.message, re);
        return true;
      });
      await assert.rejects(() => updateConfig(dir, { port: 1 }), ConfigError);
      assert.equal(await Deno.readTextFile(`${dir}/config.toml`), text);
    });
  }
});

Deno.test("llm.toml is written 0600 and read back; known_peer skips junk lines", async () => {
  await withTemp(async (dir) => {
    await saveLlmConfig(dir, { provider: "anthropic", api_key: "sk-1", model: "m" });
    assert.equal((await Deno.stat(`${dir}/llm.toml`)).mode! & 0o777, 0o600);
    assert.deepEqual(await loadLlmConfig(dir), {
      provider: "anthropic",
      api_key: "sk-1",
      model: "m",
      base_url: undefined,
      max_token: undefined,
      temperature: undefined,
    });
    await Deno.writeTextFile(
      `${dir}/known_peer`,
      "1.2.3.4:7470\ngarbage\n\n1.2.3.4:7470\nh.example:1\n",
    );
    assert.deepEqual(await loadKnownPeers(dir), ["1.2.3.4:7470", "h.example:1"]);
  });
});

Deno.test("config.toml: a misspelt key is named with the key it probably meant", async () => {
  await withTemp(async (dir) => {
    await Deno.writeTextFile(
      `${dir}/config.toml`,
      "prot = 7471\nmax_peer = 9\nzzzzzz = 1\nport = 7472\n",
    );
    const c = await loadConfig(dir);
    assert.equal(c.port, 7472);
    const w = c.warnings ?? [];
    assert.equal(w.length, 3, w.join("\n"));
    assert.match(w[0]!, /unknown key "prot" is ignored \(did you mean "port"\?\)/);
    assert.match(w[1]!, /unknown key "max_peer" is ignored \(did you mean "max_peers"\?\)/);
    assert.match(w[2]!, /unknown key "zzzzzz" is ignored; known keys: .*web_port/);
    await Deno.writeTextFile(`${dir}/config.toml`, 'host = "127.0.0.1"\n');
    assert.equal((await loadConfig(dir)).warnings, undefined);
  });
});

Deno.test("config.toml: written with its defaults when missing, never over an existing one", async () => {
  await withTemp(async (dir) => {
    assert.equal(await ensureConfigFile(dir), true);
    const text = await Deno.readTextFile(`${dir}/config.toml`);
    assert.match(text, /port = 7470/);
    assert.match(text, /host = "0\.0\.0\.0"/);
    assert.match(text, /peer = \[\s*\]/);
    await Deno.writeTextFile(`${dir}/config.toml`, "port = 7999\n");
    assert.equal(await ensureConfigFile(dir), false);
    assert.equal(await Deno.readTextFile(`${dir}/config.toml`), "port = 7999\n");
  });
});

Deno.test("config: train_memory_limit is checked on load and defaults to half the RAM", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.deepEqual(trainMemoryLimit(await loadConfig(dir)), { kind: "share", percent: 50 });
    await Deno.writeTextFile(join(dir, "config.toml"), 'train_memory_limit = "2GiB"\n');
    assert.deepEqual(trainMemoryLimit(await loadConfig(dir)), { kind: "bytes", bytes: 2 ** 31 });
    await Deno.writeTextFile(join(dir, "config.toml"), 'train_memory_limit = "lots"\n');
    await assert.rejects(() => loadConfig(dir), /train_memory_limit.*not a memory limit/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config.toml: accept_unsigned_control is read (the env var still overrides it)", async () => {
  await withTemp(async (dir) => {
    await Deno.writeTextFile(`${dir}/config.toml`, "accept_unsigned_control = true\n");
    const c = await loadConfig(dir);
    assert.equal(c.accept_unsigned_control, true);
    assert.equal(c.warnings, undefined, "a known key, not a misspelling");
    const env = (vars: Record<string, string>) => (n: string) => vars[n];
    assert.equal(verifierSettings(c, env({})).acceptUnsigned, true);
    assert.equal(
      verifierSettings(c, env({ SPORE_ACCEPT_UNSIGNED_CONTROL: "0" })).acceptUnsigned,
      false,
    );
    assert.equal(verifierSettings(await loadConfig(`${dir}/none`), env({})).acceptUnsigned, false);
    await Deno.writeTextFile(`${dir}/config.toml`, 'accept_unsigned_control = "yes"\n');
    await assert.rejects(() => loadConfig(dir), /"accept_unsigned_control" must be a boolean/);
  });
});
