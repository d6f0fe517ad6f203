/**
 * Output schemas in the compact encoding of docs/schema.md: builders that return the same bytes
 * as contracts/src/lib/Schema.sol and crates/schema, validation (`isValidSchema`, the rule of
 * `Schema.isValid`), parsing into a tree and the ABI type a value of the schema is encoded as.
 * Proven against contracts/test/fixtures/schema_vectors.json (test/schema.test.ts).
 */
import { bytesToHex, hexToBytes, type Hex } from "viem";

/** Node kinds (the first byte of each node). */
export const SchemaKind = {
  TEXT: 0x01,
  CHOICE: 0x02,
  INT: 0x03,
  BOOL: 0x04,
  ADDRESS: 0x05,
  TUPLE: 0x06,
  ARRAY: 0x07,
} as const;

/** Largest encoded schema, in bytes. */
export const MAX_SCHEMA_BYTES = 1024;
/** Deepest nesting (a top-level leaf is depth 1). */
export const MAX_DEPTH = 4;
/** Largest TEXT maxBytes. */
export const MAX_TEXT_BYTES = 4096;
/** Longest CHOICE option, in bytes. */
export const MAX_OPTION_BYTES = 64;
/** Most TUPLE items. */
export const MAX_TUPLE_ITEMS = 16;
/** Largest ARRAY maxLen. */
export const MAX_ARRAY_LEN = 64;

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/** A parsed schema node. */
export type SchemaNode =
  | { kind: "text"; maxBytes: number }
  | { kind: "choice"; options: string[] }
  | { kind: "int"; min: bigint; max: bigint }
  | { kind: "bool" }
  | { kind: "address" }
  | { kind: "tuple"; items: SchemaNode[] }
  | { kind: "array"; element: SchemaNode; maxLen: number };

/** A schema as the kernel takes it: compact bytes (`0x` = free text). */
export type SchemaBytes = Hex;

/** A builder's argument was out of range (the Solidity builders revert likewise). */
export class SchemaError extends Error {
  override name = "SchemaError";
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

function bytesOf(schema: SchemaBytes | Uint8Array): Uint8Array {
  return typeof schema === "string" ? hexToBytes(schema) : schema;
}

function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
  }
  return out;
}

function be64(v: bigint): Uint8Array {
  const out = new Uint8Array(8);
  let u = BigInt.asUintN(64, v);
  for (let k = 7; k >= 0; k--) {
    out[k] = Number(u & 0xffn);
    u >>= 8n;
  }
  return out;
}

function requireValid(bytes: Uint8Array): Hex {
  const hex = bytesToHex(bytes);
  if (!isValidSchema(bytes)) throw new SchemaError(`SchemaInvalid(${hex})`);
  return hex;
}

// --- builders (Schema.sol) --------------------------------------------------------------

/** Free text: the empty schema, ABI `string`. */
export function freeText(): SchemaBytes {
  return "0x";
}

/** UTF-8 text of at most `maxBytes` bytes (1..=4096); ABI `string`. */
export function text(maxBytes: number): SchemaBytes {
  if (!Number.isInteger(maxBytes) || maxBytes < 1 || maxBytes > MAX_TEXT_BYTES) {
    throw new SchemaError(`SchemaTextMaxBytes(${maxBytes})`);
  }
  return bytesToHex(new Uint8Array([SchemaKind.TEXT, maxBytes >> 8, maxBytes & 0xff]));
}

/** One of `options` (2..=255 distinct UTF-8 strings of 1..=64 bytes); ABI `uint8` (the index). */
export function choice(options: readonly string[]): SchemaBytes {
  const n = options.length;
  if (n < 2 || n > 255) throw new SchemaError(`SchemaChoiceCount(${n})`);
  const parts = [new Uint8Array([SchemaKind.CHOICE, n])];
  options.forEach((option, i) => {
    if (!isWellFormed(option)) throw new SchemaError(`SchemaInvalid: option ${i} is not UTF-8`);
    const b = utf8.encode(option);
    if (b.length === 0 || b.length > MAX_OPTION_BYTES) {
      throw new SchemaError(`SchemaOptionLength(${i}, ${b.length})`);
    }
    parts.push(new Uint8Array([b.length]), b);
  });
  return requireValid(concatBytes(parts));
}

/** An integer in `min..=max` (int64 bounds); ABI `int256` when `min < 0`, else `uint256`. */
export function integer(min: bigint | number, max: bigint | number): SchemaBytes {
  const lo = BigInt(min);
  const hi = BigInt(max);
  if (lo < INT64_MIN || lo > INT64_MAX || hi < INT64_MIN || hi > INT64_MAX) {
    throw new SchemaError(`integer bounds must fit int64: ${lo}..${hi}`);
  }
  if (lo > hi) throw new SchemaError(`SchemaIntRange(${lo}, ${hi})`);
  return bytesToHex(concatBytes([new Uint8Array([SchemaKind.INT]), be64(lo), be64(hi)]));
}

/** `true` or `false`; ABI `bool`. */
export function boolean(): SchemaBytes {
  return bytesToHex(new Uint8Array([SchemaKind.BOOL]));
}

/** A 20-byte address; ABI `address`. */
export function address(): SchemaBytes {
  return bytesToHex(new Uint8Array([SchemaKind.ADDRESS]));
}

/** Alias of {@link address}, the name Schema.sol uses. */
export const addr = address;

/** A fixed sequence of 1..=16 values; at the top level decoded as `abi.decode(output, (T1, .., Tn))`. */
export function tuple(items: readonly SchemaBytes[]): SchemaBytes {
  const n = items.length;
  if (n === 0 || n > MAX_TUPLE_ITEMS) throw new SchemaError(`SchemaTupleArity(${n})`);
  return requireValid(concatBytes([new Uint8Array([SchemaKind.TUPLE, n]), ...items.map(bytesOf)]));
}

/** Up to `maxLen` (1..=64) values of type `element`; ABI `T[]`. */
export function array(element: SchemaBytes, maxLen: number): SchemaBytes {
  if (!Number.isInteger(maxLen) || maxLen < 1 || maxLen > MAX_ARRAY_LEN) {
    throw new SchemaError(`SchemaArrayMaxLen(${maxLen})`);
  }
  return requireValid(concatBytes([new Uint8Array([SchemaKind.ARRAY, maxLen]), bytesOf(element)]));
}

/** The builders under the names of Schema.sol (`Schema.text(64)`, `Schema.boolean()`, ...). */
export const Schema = { freeText, text, choice, integer, boolean, address, addr, tuple, array } as const;

function isWellFormed(s: string): boolean {
  // String.prototype.isWellFormed (Node 20+): no lone surrogates.
  const f = (s as unknown as { isWellFormed?: () => boolean }).isWellFormed;
  if (f) return f.call(s);
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}

// --- validation and parsing -------------------------------------------------------------

/** True when `schema` is a valid v1 encoding (empty = free text); never throws. */
export function isValidSchema(schema: SchemaBytes | Uint8Array): boolean {
  let s: Uint8Array;
  try {
    s = bytesOf(schema);
  } catch {
    return false;
  }
  if (s.length === 0) return true;
  if (s.length > MAX_SCHEMA_BYTES) return false;
  const r = parseNode(s, 0, 1);
  return r !== null && r.end === s.length;
}

/**
 * Parses a schema into its tree; `null` for free text (empty bytes). Throws a SchemaError for
 * an invalid encoding.
 */
export function parseSchema(schema: SchemaBytes | Uint8Array): SchemaNode | null {
  const s = bytesOf(schema);
  if (s.length === 0) return null;
  const r = s.length <= MAX_SCHEMA_BYTES ? parseNode(s, 0, 1) : null;
  if (r === null || r.end !== s.length) {
    throw new SchemaError(`invalid schema ${bytesToHex(s)} (docs/schema.md)`);
  }
  return r.node;
}

/** Encodes a schema tree (the inverse of {@link parseSchema}); validates like the builders. */
export function encodeSchema(node: SchemaNode | null): SchemaBytes {
  if (node === null) return "0x";
  switch (node.kind) {
    case "text":
      return text(node.maxBytes);
    case "choice":
      return choice(node.options);
    case "int":
      return integer(node.min, node.max);
    case "bool":
      return boolean();
    case "address":
      return address();
    case "tuple":
      return tuple(node.items.map(encodeSchema));
    case "array":
      return array(encodeSchema(node.element), node.maxLen);
  }
}

function readBe64(s: Uint8Array, i: number): bigint {
  let v = 0n;
  for (let k = 0; k < 8; k++) v = (v << 8n) | BigInt(s[i + k]!);
  return BigInt.asIntN(64, v);
}

function parseNode(s: Uint8Array, i: number, depth: number): { node: SchemaNode; end: number } | null {
  const n = s.length;
  if (depth > MAX_DEPTH || i >= n) return null;
  const kind = s[i++]!;
  switch (kind) {
    case SchemaKind.TEXT: {
      if (i + 2 > n) return null;
      const m = (s[i]! << 8) | s[i + 1]!;
      if (m === 0 || m > MAX_TEXT_BYTES) return null;
      return { node: { kind: "text", maxBytes: m }, end: i + 2 };
    }
    case SchemaKind.CHOICE: {
      if (i >= n) return null;
      const count = s[i++]!;
      if (count < 2) return null;
      const options: string[] = [];
      const seen = new Set<string>();
      for (let k = 0; k < count; k++) {
        if (i >= n) return null;
        const len = s[i++]!;
        if (len === 0 || len > MAX_OPTION_BYTES || i + len > n) return null;
        let option: string;
        try {
          option = utf8Strict.decode(s.subarray(i, i + len));
        } catch {
          return null;
        }
        if (seen.has(option)) return null;
        seen.add(option);
        options.push(option);
        i += len;
      }
      return { node: { kind: "choice", options }, end: i };
    }
    case SchemaKind.INT: {
      if (i + 16 > n) return null;
      const min = readBe64(s, i);
      const max = readBe64(s, i + 8);
      if (min > max) return null;
      return { node: { kind: "int", min, max }, end: i + 16 };
    }
    case SchemaKind.BOOL:
      return { node: { kind: "bool" }, end: i };
    case SchemaKind.ADDRESS:
      return { node: { kind: "address" }, end: i };
    case SchemaKind.TUPLE: {
      if (i >= n) return null;
      const count = s[i++]!;
      if (count === 0 || count > MAX_TUPLE_ITEMS) return null;
      const items: SchemaNode[] = [];
      for (let k = 0; k < count; k++) {
        const r = parseNode(s, i, depth + 1);
        if (r === null) return null;
        items.push(r.node);
        i = r.end;
      }
      return { node: { kind: "tuple", items }, end: i };
    }
    case SchemaKind.ARRAY: {
      if (i >= n) return null;
      const maxLen = s[i]!;
      if (maxLen === 0 || maxLen > MAX_ARRAY_LEN) return null;
      const r = parseNode(s, i + 1, depth + 1);
      if (r === null) return null;
      return { node: { kind: "array", element: r.node, maxLen }, end: r.end };
    }
    default:
      return null;
  }
}

// --- ABI types --------------------------------------------------------------------------

/** An ABI parameter as viem takes it. */
export interface AbiParam {
  type: string;
  components?: AbiParam[];
}

/** The ABI parameter a value of `node` is encoded as. */
export function abiParam(node: SchemaNode): AbiParam {
  switch (node.kind) {
    case "text":
      return { type: "string" };
    case "choice":
      return { type: "uint8" };
    case "int":
      return { type: node.min < 0n ? "int256" : "uint256" };
    case "bool":
      return { type: "bool" };
    case "address":
      return { type: "address" };
    case "tuple":
      return { type: "tuple", components: node.items.map(abiParam) };
    case "array": {
      const e = abiParam(node.element);
      return { ...e, type: `${e.type}[]` };
    }
  }
}

/** The parameters `abi.decode(output, (...))` takes for a schema (a top-level tuple's items). */
export function abiParams(node: SchemaNode | null): AbiParam[] {
  if (node === null) return [{ type: "string" }];
  if (node.kind === "tuple") return node.items.map(abiParam);
  return [abiParam(node)];
}

/** The Solidity type of a schema's output, as crates/schema's `Schema::abi_type` writes it. */
export function abiType(schema: SchemaNode | null | SchemaBytes): string {
  const node = typeof schema === "string" ? parseSchema(schema) : schema;
  const one = (p: AbiParam): string =>
    p.type.startsWith("tuple")
      ? `(${p.components!.map(one).join(",")})${p.type.slice("tuple".length)}`
      : p.type;
  if (node !== null && node.kind === "tuple") return one(abiParam(node));
  return one(abiParams(node)[0]!);
}
