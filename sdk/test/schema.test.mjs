// Schema builders, validation and output decoding against the shared vectors the Solidity
// library and the Rust crate are tested with (contracts/test/fixtures/schema_vectors.json).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  ERROR_SELECTOR,
  ErrorCode,
  OutputDecodeError,
  Schema,
  SchemaError,
  abiType,
  decodeError,
  decodeOutput,
  encodeSchema,
  errorCode,
  errorName,
  isValidSchema,
  parseSchema,
} from "@aikernel/sdk";

const vectors = JSON.parse(
  readFileSync(new URL("../../contracts/test/fixtures/schema_vectors.json", import.meta.url), "utf8"),
);

test("the fixture has every schema vector", () => {
  assert.equal(vectors.schemas.length, vectors.schemaCount);
  assert.ok(vectors.schemas.length > 100);
});

for (const v of vectors.schemas) {
  test(`schema vector: ${v.name} (${v.valid ? "valid" : "invalid"})`, () => {
    assert.equal(isValidSchema(v.schema), v.valid, `isValidSchema(${v.schema})`);
    if (v.valid) {
      // Parsed and rebuilt with the builders: the same bytes.
      assert.equal(encodeSchema(parseSchema(v.schema)), v.schema);
    } else {
      assert.throws(() => parseSchema(v.schema), SchemaError);
    }
  });
}

test("builders give the bytes of Schema.sol", () => {
  const byName = Object.fromEntries(vectors.schemas.map((v) => [v.name, v.schema]));
  assert.equal(Schema.freeText(), byName["free text"]);
  assert.equal(Schema.text(1), byName["text 1"]);
  assert.equal(Schema.text(4096), byName["text 4096"]);
  assert.equal(Schema.choice(["yes", "no"]), byName["choice yes/no"]);
  assert.equal(Schema.choice(["é", "✓"]), byName["choice utf8"]);
  assert.equal(Schema.integer(-5, 5), byName["int -5..5"]);
  assert.equal(Schema.integer(-(2n ** 63n), 2n ** 63n - 1n), byName["int full range"]);
  assert.equal(Schema.integer(7, 7), byName["int min == max"]);
  assert.equal(Schema.boolean(), byName["bool"]);
  assert.equal(Schema.address(), byName["address"]);
  assert.equal(Schema.addr(), byName["address"]);
  assert.equal(Schema.tuple([Schema.boolean()]), byName["tuple 1"]);
  assert.equal(Schema.tuple(Array(16).fill(Schema.boolean())), byName["tuple 16"]);
  assert.equal(Schema.array(Schema.address(), 1), byName["array 1"]);
  assert.equal(Schema.array(Schema.address(), 64), byName["array 64"]);
  assert.equal(
    Schema.tuple([Schema.array(Schema.text(16), 4), Schema.choice(["a", "b"]), Schema.address()]),
    byName["nested mix"],
  );
});

test("builders refuse what Schema.sol reverts on", () => {
  assert.throws(() => Schema.text(0), /SchemaTextMaxBytes/);
  assert.throws(() => Schema.text(4097), /SchemaTextMaxBytes/);
  assert.throws(() => Schema.choice(["only"]), /SchemaChoiceCount/);
  assert.throws(() => Schema.choice(Array.from({ length: 256 }, (_, i) => `o${i}`)), /SchemaChoiceCount/);
  assert.throws(() => Schema.choice(["a", ""]), /SchemaOptionLength/);
  assert.throws(() => Schema.choice(["a", "x".repeat(65)]), /SchemaOptionLength/);
  assert.throws(() => Schema.choice(["a", "a"]), /SchemaInvalid/);
  assert.throws(() => Schema.integer(5, -5), /SchemaIntRange/);
  assert.throws(() => Schema.tuple([]), /SchemaTupleArity/);
  assert.throws(() => Schema.tuple(Array(17).fill(Schema.boolean())), /SchemaTupleArity/);
  assert.throws(() => Schema.array(Schema.boolean(), 0), /SchemaArrayMaxLen/);
  assert.throws(() => Schema.array(Schema.boolean(), 65), /SchemaArrayMaxLen/);
  // Depth 4 is the most.
  const deep = Schema.array(Schema.array(Schema.array(Schema.boolean(), 1), 1), 1);
  assert.equal(isValidSchema(deep), true);
  assert.throws(() => Schema.array(deep, 1), /SchemaInvalid/);
});

/** A decoded value written as the vector's `text` (what the model generated). */
function asText(value, top = true) {
  if (typeof value === "string") {
    if (/^0x[0-9a-fA-F]{40}$/.test(value)) return value.toLowerCase();
    return top ? value : JSON.stringify(value);
  }
  if (typeof value === "bigint" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return `[${value.map((v) => asText(v, false)).join(", ")}]`;
  // A choice.
  return top ? value.option : JSON.stringify(value.option);
}

for (const [name, v] of Object.entries(vectors.outputs)) {
  test(`output vector: ${name} (${v.abiType})`, () => {
    assert.equal(abiType(v.schema), v.abiType);
    const r = decodeOutput(v.schema, v.output);
    assert.equal(r.ok, true);
    assert.equal(asText(r.value), v.text);
    // Decoding takes the parsed tree as well as the bytes.
    assert.deepEqual(decodeOutput(parseSchema(v.schema), v.output), r);
  });
}

test("output values are typed: choice, int, bool, address, tuple, array", () => {
  const o = vectors.outputs;
  assert.deepEqual(decodeOutput(o.choice.schema, o.choice.output).value, { index: 1, option: "medium" });
  assert.equal(decodeOutput(o.intSigned.schema, o.intSigned.output).value, -42n);
  assert.equal(decodeOutput(o.intUnsigned.schema, o.intUnsigned.output).value, 65535n);
  assert.equal(decodeOutput(o.intMin.schema, o.intMin.output).value, -(2n ** 63n));
  assert.equal(decodeOutput(o.bool.schema, o.bool.output).value, true);
  assert.equal(decodeOutput(o.address.schema, o.address.output).value, "0x00000000000000000000000000000000DeaDBeef");
  assert.deepEqual(decodeOutput(o.tuple.schema, o.tuple.output).value, [42n, 'ok "fine"', true]);
  assert.deepEqual(decodeOutput(o.array.schema, o.array.output).value, [1n, -2n, 3n]);
  assert.deepEqual(decodeOutput(o.nested.schema, o.nested.output).value, [
    ["x", "yz"],
    { index: 1, option: "b" },
    "0x000000000000000000000000000000000000bEEF",
  ]);
  assert.equal(decodeOutput("0x", o.free.output).value, "free text ✓");
  assert.equal(decodeOutput(null, o.free.output).value, "free text ✓");
});

test("outputs that break their schema are refused", () => {
  const o = vectors.outputs;
  // Choice index 1 of a yes/no/... schema is fine; index 3 of 3 options is not.
  const three = "0x" + "00".repeat(31) + "03";
  assert.throws(() => decodeOutput(o.choice.schema, three), OutputDecodeError);
  // 65535 is outside 0..=100.
  assert.throws(() => decodeOutput(Schema.integer(0, 100), o.intUnsigned.output), OutputDecodeError);
  // Three values where at most two are allowed.
  assert.throws(() => decodeOutput(Schema.array(Schema.integer(-10, 10), 2), o.array.output), OutputDecodeError);
  // A bool word of 2 is not canonical.
  assert.throws(() => decodeOutput(Schema.boolean(), "0x" + "00".repeat(31) + "02"), OutputDecodeError);
  // Truncated.
  assert.throws(() => decodeOutput(Schema.boolean(), "0x00"), OutputDecodeError);
});

test("error vectors: 36 bytes, the selector, then the code", () => {
  assert.equal(ERROR_SELECTOR, "0x76152ceb");
  const names = ["InvalidSchema", "InputTooLong", "Unsupported", "InvalidInput", "OutputIncomplete"];
  assert.equal(vectors.errors.length, names.length);
  for (const e of vectors.errors) {
    assert.equal(errorCode(e.output), e.code);
    const r = decodeOutput(Schema.boolean(), e.output);
    assert.equal(r.ok, false);
    assert.equal(r.error.code, e.code);
    assert.equal(r.error.name, names[e.code - 1]);
    assert.equal(ErrorCode[r.error.name], e.code);
    assert.ok(r.error.message.length > 0);
    // Whatever the schema: the error is told by its length.
    assert.equal(decodeOutput("0x", e.output).error.code, e.code);
  }
  const six = ERROR_SELECTOR + "00".repeat(31) + "06";
  assert.deepEqual(decodeError(six).name, "InputUnavailable");
  assert.equal(errorName(6), "InputUnavailable");
  assert.equal(errorName(99), "unknown");
  assert.equal(decodeOutput(Schema.text(8), six).error.code, 6);
  // Not errors: a value, a wrong selector, a code word above 255.
  assert.equal(errorCode(vectors.outputs.bool.output), undefined);
  assert.equal(errorCode("0xdeadbeef" + "00".repeat(31) + "01"), undefined);
  assert.equal(errorCode(ERROR_SELECTOR + "00".repeat(30) + "0101"), undefined);
  // A 36-byte output that is not a well-formed error does not decode.
  assert.throws(() => decodeOutput(Schema.boolean(), "0xdeadbeef" + "00".repeat(31) + "01"), OutputDecodeError);
});
