// The MCP Inspector CLI (@modelcontextprotocol/inspector, pinned in package.json) against
// hubspot-mcp-server: the exact commands docs/clients.md shows, listing tools and calling one, in
// the Inspector's default (legacy) era and with --protocol-era auto (modern). The Inspector
// needs Node >= 22.19, so it runs on the Node 22 that the `node` package puts in
// node_modules/.bin; its catalog and secrets go to a throw-away HOME.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { API_KEY, binary, FIXTURES, startServer } from "./server.mjs";

const run = promisify(execFile);
const here = import.meta.dirname;
const NODE22 = join(here, "node_modules", ".bin", "node");
const INSPECTOR = join(here, "node_modules", ".bin", "mcp-inspector");

let server;
let home;

before(async () => {
  server = await startServer();
  home = mkdtempSync(join(tmpdir(), "inspector-home-"));
});

after(async () => {
  await server?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

/** `mcp-inspector --cli <url> ...args`, as in docs/clients.md; resolves to the parsed stdout. */
function inspector(...args) {
  return inspectorOn(server.url, ...args);
}

/** `mcp-inspector --cli <target> ...args`; a target is a URL or a command and its args. */
async function inspectorOn(target, ...args) {
  const targets = Array.isArray(target) ? target : [target];
  const { stdout } = await run(NODE22, [INSPECTOR, "--cli", ...targets, ...args], {
    env: { PATH: process.env.PATH, HOME: home, NO_COLOR: "1" },
    timeout: 60_000,
  });
  return JSON.parse(stdout);
}

function rpcsSince(mark) {
  return server.log.slice(mark).join("\n");
}

for (const era of ["legacy", "auto"]) {
  const extra = era === "legacy" ? [] : ["--protocol-era", era];
  const handshake = era === "legacy" ? "rpc=initialize" : "rpc=server/discover";

  test(`inspector --cli lists tools (${era})`, async () => {
    const mark = server.log.length;
    const result = await inspector(...extra, "--method", "tools/list");
    const names = result.tools.map((t) => t.name);
    assert.ok(names.includes("get_contacts") && names.includes("create_contact"), names.join(","));
    assert.ok(rpcsSince(mark).includes(handshake), `expected ${handshake}:\n${rpcsSince(mark)}`);
    assert.ok(!/ POST \/mcp 4\d\d /.test(rpcsSince(mark)), `no request refused:\n${rpcsSince(mark)}`);
  });

  test(`inspector --cli calls get_contacts (${era})`, async () => {
    const result = await inspector(
      ...extra,
      "--method", "tools/call", "--tool-name", "get_contacts", "--tool-arg", "limit=2",
    );
    assert.notEqual(result.isError, true);
    assert.equal(JSON.parse(result.content[0].text).results.length, 2);
  });
}

test("inspector --cli over stdio lists tools and calls one", async () => {
  const command = [binary(), "stdio", "--mock", FIXTURES];
  const listed = await inspectorOn(command, "--method", "tools/list");
  assert.ok(listed.tools.some((t) => t.name === "get_deals"));
  const called = await inspectorOn(
    command,
    "--protocol-era", "auto",
    "--method", "tools/call", "--tool-name", "get_deals", "--tool-arg", "limit=1",
  );
  assert.equal(JSON.parse(called.content[0].text).results.length, 1);
});

test("inspector --cli sends the credential with --header, as docs/clients.md shows", async () => {
  const guarded = await startServer({ MCP_AUTH: "required", MCP_API_KEYS: API_KEY });
  try {
    const listed = await inspectorOn(
      guarded.url, "--header", `Authorization: Bearer ${API_KEY}`, "--method", "tools/list",
    );
    assert.ok(listed.tools.some((t) => t.name === "get_contacts"));
    await assert.rejects(inspectorOn(guarded.url, "--method", "tools/list"));
    assert.ok(guarded.log.some((line) => / POST \/mcp 401 /.test(line)), guarded.log.join("\n"));
  } finally {
    await guarded.stop();
  }
});
