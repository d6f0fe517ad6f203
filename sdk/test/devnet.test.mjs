// The SDK against a real system: `aikernel devnet` plus three `aikernel node run` processes
// (the aikernel binary from AIKERNEL_BIN, else $CARGO_TARGET_DIR or target/debug). Reads the
// deployment file, lists the model and the nodes, quotes, prepares and submits a bool, a
// choice and a tuple prompt from an EOA and follows them with waitForResult to their typed
// results (the tuple, with one token, ends in the OutputIncomplete error output).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";

import { decodeFunctionData } from "viem";

import {
  AIKernel,
  ErrorCode,
  Schema,
  createAIKernel,
  kernelAbi,
  parseDeployment,
  readDeployment,
} from "@aikernel/sdk";

import { startNetwork } from "./helpers/network.mjs";

// Anvil account #5 (the README's example requester; devnet uses 0 for the admin and 1..3 for nodes).
const REQUESTER = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba";

let net;
let deployment;
/** @type {AIKernel} */
let kernel;

before(async () => {
  net = await startNetwork({ nodes: 3, window: 120 });
  deployment = await readDeployment(net.deploymentFile);
  kernel = createAIKernel({ deployment, rpcUrl: net.rpc, account: REQUESTER });
});

after(async () => {
  await net?.stop();
});

/** Runs `f`; on failure, the node and devnet logs go with the error. */
async function withLogs(f) {
  try {
    return await f();
  } catch (e) {
    console.error(net?.logs());
    throw e;
  }
}

test("reads the deployment file devnet wrote", () => {
  const raw = JSON.parse(readFileSync(net.deploymentFile, "utf8"));
  assert.equal(deployment.chainId, raw.chainId);
  assert.equal(deployment.chainId, 31337);
  assert.equal(typeof deployment.startBlock, "bigint");
  for (const key of ["eai", "models", "scheduler", "gpu", "context", "kernel", "treasury"]) {
    assert.equal(deployment[key].toLowerCase(), raw[key].toLowerCase(), key);
  }
  assert.deepEqual(parseDeployment(raw), deployment);
  assert.throws(() => parseDeployment({ ...raw, kernel: undefined }), /"kernel" is missing/);
});

test("lists the registered model", async () => {
  const models = await kernel.listModels();
  assert.equal(models.length, 1);
  const [m] = models;
  assert.equal(m.id, 1n);
  assert.equal(m.name, "SmolLM2-135M-Instruct.Q4_1");
  assert.equal(m.format, "gguf");
  assert.match(m.driver, /^llm-llama/);
  assert.equal(m.active, true);
  assert.equal(m.feePerToken, 1_000_000_000n);
  assert.ok(m.size > 0n);
  assert.match(m.contentRoot, /^0x[0-9a-f]{64}$/);
});

test("lists the nodes once they have fetched the model, registered and staked", async () => {
  await withLogs(async () => {
    const deadline = Date.now() + 600_000;
    let nodes = [];
    while (Date.now() < deadline) {
      nodes = await kernel.listNodes();
      if (nodes.length === 3 && nodes.every((n) => n.eligible)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(nodes.length, 3, "three nodes registered");
    for (const n of nodes) {
      assert.equal(n.eligible, true, `${n.address} eligible`);
      assert.equal(n.status, "active");
      assert.equal(n.jailed, false);
      assert.ok(n.stake > 0n);
      assert.deepEqual([...n.models], [1n]);
      assert.equal(typeof n.hardware.deviceModel, "string");
    }
    const models = await kernel.listModels();
    assert.equal(models[0].poolSize, 3n);
  });
});

test("quotes and checks a request", async () => {
  const fee = await kernel.quote({ modelId: 1, maxTokens: 16, committeeSize: 3 });
  // The nodes' fee alone: feePerToken x maxTokens x committee.
  assert.ok(fee >= 1_000_000_000n * 16n * 3n, `fee ${fee}`);
  assert.ok(fee > (await kernel.quote({ modelId: 1, maxTokens: 16, committeeSize: 1 })));
  const check = await kernel.checkRequest({ modelId: 1, input: "Is the sky blue?", schema: Schema.boolean(), maxTokens: 16 });
  assert.equal(check.feePerToken, 1_000_000_000n);
  assert.equal(typeof check.workSeconds, "number");
  // An even committee is refused with the kernel's error.
  await assert.rejects(
    kernel.checkRequest({ modelId: 1, input: "x", committeeSize: 2 }),
    /InvalidCommitteeSize/,
  );
});

test("prepareInfer gives the struct and the calldata a dapp passes", async () => {
  const p = await kernel.prepareInfer({
    modelId: 1,
    input: "Is the sky blue?",
    topic: "sdk-test",
    schema: Schema.boolean(),
    maxTokens: 16,
  });
  assert.equal(p.to, deployment.kernel);
  assert.equal(p.value, p.fee);
  assert.equal(p.fee, await kernel.quote({ modelId: 1, maxTokens: 16, committeeSize: 3 }));
  const { functionName, args } = decodeFunctionData({ abi: kernelAbi, data: p.data });
  assert.equal(functionName, "infer");
  assert.deepEqual(args[0], p.request);
  assert.equal(p.request.schema, "0x04");
  assert.equal(p.request.committeeSize, 3);
  assert.equal(p.request.callback, "0x0000000000000000000000000000000000000000");
  // A named topic is keccak256(name), as `aikernel prompt --topic NAME`.
  assert.equal(p.request.topic, "0x" + Buffer.from(p.request.topic.slice(2), "hex").toString("hex"));
  const again = await kernel.prepareInfer({ modelId: 1, input: "x", topic: "sdk-test" });
  assert.equal(again.request.topic, p.request.topic);
});

test("infers a bool, a choice and a tuple and follows them to their typed results", async () => {
  await withLogs(async () => {
    const colors = ["red", "green", "blue"];
    const [yesNo, color, tooShort] = await Promise.all([
      kernel.infer({ modelId: 1, input: "Is the sky blue?", schema: Schema.boolean(), maxTokens: 16 }),
      kernel.infer({
        modelId: 1,
        input: "What colour is the sky on a clear day?",
        schema: Schema.choice(colors),
        maxTokens: 16,
      }),
      // One token cannot complete a tuple: every honest node answers OutputIncomplete.
      kernel.infer({
        modelId: 1,
        input: "Rate the weather from 0 to 100 and say why.",
        schema: Schema.tuple([Schema.integer(0, 100), Schema.text(32)]),
        maxTokens: 1,
      }),
    ]);
    for (const s of [yesNo, color, tooShort]) {
      assert.equal(s.receipt.status, "success");
      assert.ok(s.promptId > 0n);
      assert.ok(s.fee > 0n);
    }
    assert.equal(new Set([yesNo.promptId, color.promptId, tooShort.promptId]).size, 3);

    const stages = new Map();
    const follow = (s) => {
      const seen = [];
      stages.set(s.promptId, seen);
      return kernel.waitForResult(s.promptId, {
        timeoutMs: 900_000,
        onProgress: (p) => {
          assert.equal(p.promptId, s.promptId);
          seen.push(p.stage);
        },
      });
    };
    const [a, b, c] = await Promise.all([follow(yesNo), follow(color), follow(tooShort)]);

    for (const r of [a, b, c]) {
      const seen = stages.get(r.promptId);
      assert.equal(r.status, "settled");
      assert.equal(seen.at(-1), "settled", `stages of ${r.promptId}: ${seen}`);
      for (const stage of ["drawing", "assigned", "committed", "revealed"]) {
        assert.ok(seen.includes(stage), `prompt ${r.promptId} reported ${stage}: ${seen}`);
      }
      assert.ok(r.committee.length >= 3);
      assert.match(r.settleTx, /^0x[0-9a-f]{64}$/);
      assert.ok(r.rewards.length > 0);
      assert.equal(await kernel.statusOf(r.promptId), "settled");
    }

    assert.equal(a.result.ok, true, JSON.stringify(a.error));
    assert.equal(typeof a.value, "boolean");
    assert.equal(a.schema, Schema.boolean());

    assert.equal(b.result.ok, true, JSON.stringify(b.error));
    assert.equal(typeof b.value.index, "number");
    assert.equal(b.value.option, colors[b.value.index]);

    assert.equal(c.result.ok, false);
    assert.equal(c.value, undefined);
    assert.equal(c.error.code, ErrorCode.OutputIncomplete);
    assert.equal(c.error.name, "OutputIncomplete");
    assert.equal(c.output.length, 2 + 36 * 2);

    // resultOf reads the same from the kernel's view.
    assert.deepEqual(await kernel.resultOf(a.promptId), a.result);
    assert.deepEqual(await kernel.resultOf(b.promptId), b.result);
    console.log(
      `bool: ${a.value} (${stages.get(a.promptId).join(" > ")}); choice: ${b.value.option} [${b.value.index}]; tuple: ${c.error.name}`,
    );
  });
});
