// The package's two builds: `require` loads the CommonJS build, `import` the ESM one, both
// with type declarations, and they export the same names.
const assert = require("node:assert/strict");
const { existsSync, mkdtempSync, rmSync, writeFileSync } = require("node:fs");
const { tmpdir } = require("node:os");
const { join } = require("node:path");
const { test } = require("node:test");

test("require loads the CommonJS build and import the ESM build, with the same exports", async () => {
  const cjs = require("@aikernel/sdk");
  const esm = await import("@aikernel/sdk");
  assert.equal(require.resolve("@aikernel/sdk"), join(__dirname, "..", "dist", "cjs", "index.js"));
  assert.deepEqual(Object.keys(cjs).filter((k) => k !== "default").sort(), Object.keys(esm).filter((k) => k !== "default").sort());
  assert.equal(cjs.Schema.choice(["yes", "no"]), "0x020203796573026e6f");
  assert.equal(esm.Schema.choice(["yes", "no"]), "0x020203796573026e6f");
  assert.equal(typeof cjs.AIKernel, "function");
  assert.ok(Array.isArray(cjs.kernelAbi) && cjs.kernelAbi.some((e) => e.name === "infer"));
  for (const build of ["esm", "cjs"]) {
    assert.ok(existsSync(join(__dirname, "..", "dist", build, "index.d.ts")), `${build} declarations`);
  }
});

test("the CommonJS build reads a deployment file", async () => {
  const { readDeployment } = require("@aikernel/sdk");
  const dir = mkdtempSync(join(tmpdir(), "aikernel-sdk-cjs-"));
  try {
    const a = "0x5fbdb2315678afecb367f032d93f642f64180aa3";
    const file = join(dir, "deployment.json");
    const keys = ["eai", "models", "scheduler", "gpu", "context", "kernel", "treasury"];
    writeFileSync(file, JSON.stringify({ chainId: 31337, startBlock: 7, ...Object.fromEntries(keys.map((k) => [k, a])) }));
    const d = await readDeployment(file);
    assert.equal(d.chainId, 31337);
    assert.equal(d.startBlock, 7n);
    assert.equal(d.kernel, "0x5FbDB2315678afecb367f032d93F642f64180aa3");
    await assert.rejects(readDeployment(join(dir, "missing.json")), /reading deployment file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
