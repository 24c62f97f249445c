import assert from "node:assert/strict";
import { spore, withTemp } from "./helpers.ts";

Deno.test("init creates identity, config and databases; info and status describe them", async () => {
  await withTemp(async (dir) => {
    const init = await spore("init", "--json", "--port", "7555", "--data-dir", dir);
    assert.equal(init.code, 0, init.err);
    const { node_id, created } = JSON.parse(init.out);
    assert.match(node_id, /^[0-9a-f]{64}$/);
    assert.equal(created, true);
    for (
      const f of ["identity/private_key", "config.toml", "db/graph.sqlite", "db/reputation.sqlite"]
    ) {
      await Deno.stat(`${dir}/${f}`);
    }
    const again = JSON.parse((await spore("init", "--json", "--data-dir", dir)).out);
    assert.deepEqual([again.node_id, again.created], [node_id, false]);
    const info = JSON.parse((await spore("info", "--json", "--data-dir", dir)).out);
    assert.equal(info.node_id, node_id);
    assert.equal(info.port, 7555);
    const status = JSON.parse((await spore("status", "--json", "--data-dir", dir)).out);
    assert.equal(status.experiment_count, 0);
    assert.equal(status.best_val_bpb, null);
    const plain = await spore("status", "--data-dir", dir);
    assert.match(plain.out, /experiments\s+0/);
  });
});

Deno.test("profile set signs and stores; show reads it back; bad input is refused", async () => {
  await withTemp(async (dir) => {
    await spore("init", "--data-dir", dir);
    const set = await spore(
      "profile",
      "set",
      "--display-name",
      "Ada",
      "--website",
      "https://ada.example",
      "--json",
      "--data-dir",
      dir,
    );
    assert.equal(set.code, 0, set.err);
    const first = JSON.parse(set.out);
    const set2 = JSON.parse(
      (await spore("profile", "set", "--bio", "GPU poor", "--json", "--data-dir", dir)).out,
    );
    assert.equal(set2.display_name, "Ada");
    assert.equal(set2.bio, "GPU poor");
    assert.ok(set2.timestamp > first.timestamp);
    const show = JSON.parse((await spore("profile", "show", "--json", "--data-dir", dir)).out);
    assert.deepEqual(show, set2);
    const bad = await spore(
      "profile",
      "set",
      "--website",
      "javascript:alert(1)",
      "--data-dir",
      dir,
    );
    assert.equal(bad.code, 1);
    assert.match(bad.err, /--website must be an http\(s\) URL/);
    const none = await spore("profile", "set", "--data-dir", dir);
    assert.match(none.err, /nothing to set/);
  });
});

Deno.test("connect, peer and disconnect manage config.toml; invalid addresses are refused", async () => {
  await withTemp(async (dir) => {
    assert.equal((await spore("connect", "127.0.0.1:7471", "--data-dir", dir)).code, 0);
    const peers = JSON.parse((await spore("peer", "--json", "--data-dir", dir)).out);
    assert.deepEqual(peers.configured, ["127.0.0.1:7471"]);
    assert.deepEqual(peers.bootstrap, []);
    for (const bad of ["localhost", "1.2.3.4:99999", "a b:1"]) {
      const r = await spore("connect", bad, "--data-dir", dir);
      assert.equal(r.code, 1, bad);
      assert.match(r.err, /invalid peer/);
    }
    const missing = await spore("disconnect", "10.9.9.9:1", "--data-dir", dir);
    assert.match(missing.err, /not a configured peer/);
    assert.equal((await spore("disconnect", "127.0.0.1:7471", "--data-dir", dir)).code, 0);
    const after = JSON.parse((await spore("peer", "--json", "--data-dir", dir)).out);
    assert.deepEqual(after.configured, []);
    assert.deepEqual(after.bootstrap, ["peer.sporemesh.com:7470"]);
  });
});

Deno.test("bad input gives one clear error and touches no data", async () => {
  await withTemp(async (dir) => {
    await spore("init", "--data-dir", dir);
    const key = await Deno.readTextFile(`${dir}/identity/private_key`);

    await Deno.writeTextFile(`${dir}/config.toml`, "port = [\n");
    let r = await spore("status", "--data-dir", dir);
    assert.equal(r.code, 1);
    assert.match(r.err, /config\.toml:\d+:\d+: invalid TOML/);
    r = await spore("connect", "1.2.3.4:5", "--data-dir", dir);
    assert.equal(await Deno.readTextFile(`${dir}/config.toml`), "port = [\n");
    await Deno.writeTextFile(`${dir}/config.toml`, 'port = "x"\n');
    r = await spore("info", "--data-dir", dir);
    assert.match(r.err, /"port" must be an integer/);
    await Deno.remove(`${dir}/config.toml`);

    await Deno.writeTextFile(`${dir}/identity/private_key`, "not-hex!");
    r = await spore("status", "--data-dir", dir);
    assert.match(r.err, /private_key: expected 64 hex characters/);
    assert.equal(await Deno.readTextFile(`${dir}/identity/private_key`), "not-hex!");
    await Deno.writeTextFile(`${dir}/identity/private_key`, key);

    const junk = "this is not a database ".repeat(100);
    await Deno.writeTextFile(`${dir}/db/graph.sqlite`, junk);
    for (const f of ["graph.sqlite-wal", "graph.sqlite-shm"]) {
      await Deno.remove(`${dir}/db/${f}`).catch(() => {});
    }
    r = await spore("frontier", "--data-dir", dir);
    assert.equal(r.code, 1);
    assert.match(r.err, /graph\.sqlite/);
    assert.equal(await Deno.readTextFile(`${dir}/db/graph.sqlite`), junk);

    r = await spore("status", "--no-such-flag", "--data-dir", dir);
    assert.equal(r.code, 1);
    assert.match(r.err, /unknown option '--no-such-flag'/);
    r = await spore("graph", "--depth", "0", "--data-dir", dir);
    assert.match(r.err, /--depth must be a positive integer/);
    r = await spore("init", "--port", "70000", "--data-dir", dir);
    assert.match(r.err, /--port must be a number from 0 to 65535/);
  });
});

Deno.test("clean removes synced data but keeps identity; --all removes everything", async () => {
  await withTemp(async (dir) => {
    const d = `${dir}/node`;
    await spore("init", "--data-dir", d);
    const r = await spore("clean", "--yes", "--data-dir", d);
    assert.equal(r.code, 0, r.err);
    await assert.rejects(() => Deno.stat(`${d}/db`));
    await Deno.stat(`${d}/identity/private_key`);
    await Deno.stat(`${d}/config.toml`);
    assert.equal((await spore("clean", "--yes", "--all", "--data-dir", d)).code, 0);
    await assert.rejects(() => Deno.stat(d));
  });
});

Deno.test("every command has generated --help", async () => {
  const top = await spore("--help");
  assert.equal(top.code, 0);
  const names = [...top.out.matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1]).filter((n) =>
    n !== "help"
  );
  assert.ok(names.length >= 8, top.out);
  for (const name of names) {
    assert.ok(name);
    const h = await spore(name, "--help");
    assert.equal(h.code, 0, name);
    assert.match(h.out, new RegExp(`Usage: spore ${name}`));
  }
});

Deno.test("doctor reports a broken config.toml as one failed check and goes on; version takes --data-dir", async () => {
  await withTemp(async (dir) => {
    await Deno.writeTextFile(`${dir}/config.toml`, "port = [\n");
    const r = await spore("doctor", "--json", "--data-dir", dir);
    assert.equal(r.code, 1);
    const report = JSON.parse(r.out);
    const config = report.checks.find((c: { name: string }) => c.name === "config.toml");
    assert.equal(config.status, "fail");
    assert.match(config.fix, /config\.toml:\d+:\d+: invalid TOML/);
    assert.ok(report.checks.length > 3, "the other checks still ran");
    assert.equal(await Deno.readTextFile(`${dir}/config.toml`), "port = [\n");

    const v = await spore("version", "--json", "--data-dir", dir);
    assert.equal(v.code, 0, v.err);
    assert.equal(JSON.parse(v.out).data_dir, dir);
  });
});
