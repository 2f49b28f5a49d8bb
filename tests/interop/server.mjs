// Starts `hubspot-mcp-server serve --mock fixtures/hubspot` on 127.0.0.1 with a free port
// (PORT=0) and resolves to its `/mcp` URL, read from the start-up log line. The binary is
// $HUBSPOT_MCP_BIN, else the cargo debug build.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { createInterface } from "node:readline";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const FIXTURES = join(ROOT, "fixtures", "hubspot");

export function binary() {
  if (process.env.HUBSPOT_MCP_BIN) return process.env.HUBSPOT_MCP_BIN;
  const target = process.env.CARGO_TARGET_DIR || join(ROOT, "target");
  return join(target, "debug", "hubspot-mcp-server");
}

/** An MCP_API_KEYS key for the servers that need a credential (docs/security.md). */
export const API_KEY = "interop-api-key-0123456789abcdef";

/** Starts the server with `env` added to its environment and a data directory of its own
 * (removed when it stops); resolves to { url, stop }. */
export function startServer(env = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), "hubspot-mcp-interop-"));
  const child = spawn(binary(), ["serve", "--mock", FIXTURES], {
    env: { PATH: process.env.PATH, HOST: "127.0.0.1", PORT: "0", LOG_LEVEL: "info", DATA_DIR: dataDir, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const log = [];
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`server did not start:\n${log.join("\n")}`));
    }, 20_000);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    createInterface({ input: child.stderr }).on("line", (line) => {
      log.push(line);
      const match = /listening on http:\/\/(127\.0\.0\.1:\d+)/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolvePromise({
          url: `http://${match[1]}/mcp`,
          log,
          stop: () =>
            new Promise((done) => {
              const finish = () => {
                rmSync(dataDir, { recursive: true, force: true });
                done();
              };
              if (child.exitCode !== null) return finish();
              child.once("exit", finish);
              child.kill("SIGTERM");
            }),
        });
      }
    });
  });
}
