// A real aikernel network for the SDK's tests: `aikernel devnet` (anvil, the kernel deployed,
// the default model registered, node accounts funded) and `aikernel node run` processes, as
// crates/cli/tests/common/mod.rs sets one up. Every process runs in a process group of its
// own and is stopped when the tests end, fail or are interrupted.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

/**
 * The aikernel binary: AIKERNEL_BIN, else `$CARGO_TARGET_DIR/debug/aikernel` (where
 * scripts/test.sh's `cargo test` builds it), else the checkout's target/debug/aikernel.
 */
export function aikernelBin() {
  if (process.env.AIKERNEL_BIN) return resolve(process.env.AIKERNEL_BIN);
  const target = process.env.CARGO_TARGET_DIR ? resolve(ROOT, process.env.CARGO_TARGET_DIR) : join(ROOT, "target");
  return join(target, "debug", "aikernel");
}

const live = new Set();
const dirs = new Set();

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

function exited(child, ms) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((res) => {
    const t = setTimeout(() => res(false), ms);
    child.once("exit", () => (clearTimeout(t), res(true)));
  });
}

/** SIGINT (devnet stops its anvil on it), then SIGKILL to the whole group after `ms`. */
async function stopProc(child, ms = 10_000) {
  killGroup(child, "SIGINT");
  if (!(await exited(child, ms))) killGroup(child, "SIGKILL");
  await exited(child, 2_000);
  killGroup(child, "SIGKILL"); // anything the process left behind in its group
  live.delete(child);
}

// Last resort: the test process exits (normally, on an uncaught error, or on a signal).
function killAll() {
  for (const child of live) killGroup(child, "SIGKILL");
  if (!process.env.AIKERNEL_SDK_KEEP) for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}
process.on("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.once(sig, () => {
    killAll();
    process.exit(130);
  });
}

function spawnGroup(cmd, args, opts) {
  const child = spawn(cmd, args, { ...opts, detached: true });
  live.add(child);
  child.once("exit", () => live.delete(child));
  return child;
}

async function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

/** Starts a devnet and `nodes` node processes; call `stop()` when done. */
export async function startNetwork({ nodes = 3, window = 120 } = {}) {
  const bin = aikernelBin();
  if (!existsSync(bin)) {
    throw new Error(`${bin} not found: build it with \`cargo build -p aikernel\` or set AIKERNEL_BIN`);
  }
  const env = { ...process.env, NO_COLOR: "1" };
  const tools = join(ROOT, ".tools", "bin");
  if (!env.AIKERNEL_FOUNDRY_BIN && existsSync(join(tools, "anvil"))) env.AIKERNEL_FOUNDRY_BIN = tools;
  const dir = mkdtempSync(join(tmpdir(), "aikernel-sdk-"));
  dirs.add(dir);
  const port = await freePort();
  const rpc = `http://127.0.0.1:${port}`;
  const deploymentFile = join(dir, "deployment.json");
  // Nodes keep verified model chunks here, shared across runs (content-addressed).
  const cache = process.env.AIKERNEL_SDK_NODE_CACHE ?? join(tmpdir(), "aikernel-sdk-node-cache");
  mkdirSync(cache, { recursive: true });
  const procs = [];
  const logFiles = [];

  const stop = async () => {
    // Nodes first, then the chain.
    await Promise.all(procs.slice(1).map((p) => stopProc(p)));
    if (procs[0]) await stopProc(procs[0]);
    if (!process.env.AIKERNEL_SDK_KEEP) rmSync(dir, { recursive: true, force: true });
    dirs.delete(dir);
  };

  const logs = (lines = 40) =>
    logFiles
      .map((f) => {
        let text = "";
        try {
          text = readFileSync(f, "utf8");
        } catch {
          // not written yet
        }
        return `===== ${f} =====\n${text.split("\n").slice(-lines).join("\n")}`;
      })
      .join("\n");

  try {
    const devnetLog = join(dir, "devnet.log");
    logFiles.push(devnetLog);
    const devnet = spawnGroup(
      bin,
      ["devnet", "--port", String(port), "--nodes", String(nodes), "--window", String(window), "--deployment", deploymentFile],
      { env, stdio: ["ignore", "pipe", openSync(devnetLog, "a")] },
    );
    procs.push(devnet);
    await new Promise((res, rej) => {
      let out = "";
      const t = setTimeout(() => rej(new Error(`devnet did not serve within 180 s:\n${out}`)), 180_000);
      devnet.stdout.on("data", (d) => {
        out += d;
        if (out.includes("serving until Ctrl-C")) {
          clearTimeout(t);
          res();
        }
      });
      devnet.once("exit", (code) => {
        clearTimeout(t);
        rej(new Error(`devnet exited (${code}) before serving:\n${out}\n${logs()}`));
      });
    });
    devnet.stdout.resume();

    for (let i = 1; i <= nodes; i++) {
      const log = join(dir, `node-${i}.log`);
      logFiles.push(log);
      const fd = openSync(log, "a");
      procs.push(
        spawnGroup(
          bin,
          [
            "-v",
            "node",
            "run",
            "--no-progress",
            "--rpc",
            rpc,
            "--deployment",
            deploymentFile,
            "--key-file",
            join(dir, "keys", `node-${i}.key`),
            "--data-dir",
            join(dir, `node-${i}`),
            "--cache-dir",
            cache,
          ],
          { env, stdio: ["ignore", fd, fd] },
        ),
      );
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { rpc, port, dir, deploymentFile, stop, logs };
}
