// The package's two builds: `require` loads the CommonJS build, `import` the ESM one, both
// with type declarations, and they export the same names.
const assert = require("node:assert/strict");
const { existsSync } = require("node:fs");
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
