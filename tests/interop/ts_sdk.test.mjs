// The official TypeScript SDK (@modelcontextprotocol/sdk, pinned in package.json) over
// Streamable HTTP against hubspot-mcp-server on the mock HubSpot. SDK 1.x speaks only the
// initialize-era revisions, so this is the legacy path: it must end up on 2025-11-25. The
// server requires a credential (MCP_AUTH=required), which the client sends as a header.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { LATEST_PROTOCOL_VERSION, McpError } from "@modelcontextprotocol/sdk/types.js";
import { API_KEY, startServer } from "./server.mjs";

let server;
let client;
let transport;

const text = (result) => result.content.filter((c) => c.type === "text").map((c) => c.text).join("");

before(async () => {
  server = await startServer({ MCP_AUTH: "required", MCP_API_KEYS: API_KEY });
  client = new Client({ name: "interop-ts", version: "1.0.0" });
  transport = new StreamableHTTPClientTransport(new URL(server.url), {
    requestInit: { headers: { Authorization: `Bearer ${API_KEY}` } },
  });
  await client.connect(transport);
});

after(async () => {
  await client?.close();
  await server?.stop();
});

test("initialize negotiates the SDK's newest legacy revision", () => {
  assert.equal(LATEST_PROTOCOL_VERSION, "2025-11-25");
  assert.equal(transport.protocolVersion, "2025-11-25");
  assert.equal(client.getServerVersion().name, "hubspot-mcp-server");
  const caps = client.getServerCapabilities();
  assert.ok(caps.tools && caps.resources && caps.prompts);
  assert.match(client.getInstructions(), /HubSpot/);
  assert.equal(transport.sessionId, undefined, "a stateless server mints no Mcp-Session-Id");
});

test("lists tools", async () => {
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name);
  for (const name of ["get_contacts", "get_companies", "get_deals", "create_contact", "search_contacts"]) {
    assert.ok(names.includes(name), `${name} in ${names}`);
  }
});

test("calls get_contacts", async () => {
  const result = await client.callTool({ name: "get_contacts", arguments: { limit: 2, properties: ["email"] } });
  assert.ok(!result.isError, text(result));
  assert.equal(JSON.parse(text(result)).results.length, 2);
  // The SDK negotiates a version with structured results, checked against outputSchema.
  assert.equal(result.structuredContent.results.length, 2);
});

test("creates a contact and finds it again", async () => {
  const email = `ts-${randomUUID().slice(0, 12)}@example.com`;
  const created = await client.callTool({
    name: "create_contact",
    arguments: { firstname: "Ts", lastname: "Client", email, company: "Interop Ltd" },
  });
  assert.ok(!created.isError, text(created));
  const id = JSON.parse(text(created)).id;
  const found = await client.callTool({ name: "search_contacts", arguments: { query: email } });
  assert.deepEqual(JSON.parse(text(found)).results.map((r) => r.id), [id]);
  const again = await client.callTool({ name: "create_contact", arguments: { firstname: "Ts", lastname: "Client", email } });
  assert.equal(again.isError, true, "a HubSpot 409 is a tool error");
  assert.match(text(again), /409/);
  assert.ok(text(again).includes(id), "names the existing record");
});

test("an unknown tool is a JSON-RPC -32602", async () => {
  await assert.rejects(client.callTool({ name: "no_such_tool", arguments: {} }), (err) => {
    assert.ok(err instanceof McpError);
    assert.equal(err.code, -32602);
    return true;
  });
});

test("lists and reads resources", async () => {
  const { resources } = await client.listResources();
  assert.ok(resources.some((r) => r.uri === "hubspot://deals"));
  const read = await client.readResource({ uri: "hubspot://deals" });
  assert.equal(read.contents[0].mimeType, "application/json");
  assert.ok(JSON.parse(read.contents[0].text).results.length > 0);
  const { resourceTemplates } = await client.listResourceTemplates();
  assert.ok(resourceTemplates.some((t) => t.uriTemplate === "hubspot://deals/{id}"));
  const record = await client.readResource({ uri: "hubspot://deals/9001" });
  assert.equal(JSON.parse(record.contents[0].text).id, "9001");
});

test("lists and gets prompts", async () => {
  const { prompts } = await client.listPrompts();
  assert.ok(prompts.some((p) => p.name === "analyze_contacts"));
  const prompt = await client.getPrompt({ name: "analyze_contacts", arguments: { criteria: "churn risk" } });
  assert.equal(prompt.messages[0].role, "user");
  assert.match(prompt.messages[0].content.text, /churn risk/);
});

test("ping", async () => {
  assert.deepEqual(await client.ping(), {});
});

test("without the credential the server refuses the client with 401", async () => {
  const bare = new Client({ name: "interop-ts-bare", version: "1.0.0" });
  await assert.rejects(bare.connect(new StreamableHTTPClientTransport(new URL(server.url))), (err) => {
    assert.match(String(err), /401|-32001|credential/);
    return true;
  });
  assert.ok(!server.log.join("\n").includes(API_KEY), "the key is never logged");
});
