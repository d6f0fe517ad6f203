/**
 * Settled outputs read with their request's schema: the typed value, or the deterministic
 * error the committee agreed on (docs/protocol.md, crates/schema/src/display.rs).
 */
import {
  decodeAbiParameters,
  encodeAbiParameters,
  hexToBytes,
  toFunctionSelector,
  type Address,
  type Hex,
} from "viem";

import { abiParams, parseSchema, type SchemaBytes, type SchemaNode } from "./schema.js";

/** `bytes4(keccak256("AIKernelError(uint8)"))`: 0x76152ceb. */
export const ERROR_SELECTOR: Hex = toFunctionSelector("AIKernelError(uint8)");

/** Deterministic failures every honest node reaches identically (crates/schema/src/error_code.rs). */
export const ErrorCode = {
  InvalidSchema: 1,
  InputTooLong: 2,
  Unsupported: 3,
  InvalidInput: 4,
  OutputIncomplete: 5,
  InputUnavailable: 6,
} as const;
export type ErrorCodeName = keyof typeof ErrorCode;

const ERROR_NAMES: Record<number, ErrorCodeName> = Object.fromEntries(
  Object.entries(ErrorCode).map(([name, code]) => [code, name as ErrorCodeName]),
);

const ERROR_MESSAGES: Record<number, string> = {
  1: "the output schema does not parse",
  2: "the prompt and maxTokens do not fit the model's context",
  3: "the model's driver cannot serve this request",
  4: "the input or the extra context is not UTF-8 text",
  5: "generation ended before the answer was a complete value of the schema (raise maxTokens or simplify the schema)",
  6: "the nodes could not find the off-chain input (its inputHash)",
};

/** The name of an error code (`"unknown"` for codes no version defines). */
export function errorName(code: number): ErrorCodeName | "unknown" {
  return ERROR_NAMES[code] ?? "unknown";
}

/** An error output decoded. */
export interface OutputError {
  code: number;
  name: ErrorCodeName | "unknown";
  message: string;
}

/** A choice value: the option's index (what the contract receives) and its text. */
export interface ChoiceValue {
  index: number;
  option: string;
}

/**
 * A decoded value: text → string, choice → {index, option}, int → bigint, bool → boolean,
 * address → checksummed address, tuple and array → arrays of values.
 */
export type Value = string | bigint | boolean | Address | ChoiceValue | Value[];

/** An output read with its schema. */
export type DecodedOutput =
  | { ok: true; value: Value }
  | { ok: false; error: OutputError };

/** The output did not decode as a value of its schema (nor as an error). */
export class OutputDecodeError extends Error {
  override name = "OutputDecodeError";
}

/**
 * The error code of an error output: `abi.encodeWithSelector(ERROR_SELECTOR, code)`, 36 bytes
 * (Schema.sol's `errorCode`); `undefined` for anything else.
 */
export function errorCode(output: Hex | Uint8Array): number | undefined {
  const b = typeof output === "string" ? hexToBytes(output) : output;
  if (b.length !== 36) return undefined;
  const sel = hexToBytes(ERROR_SELECTOR);
  for (let i = 0; i < 4; i++) if (b[i] !== sel[i]) return undefined;
  for (let i = 4; i < 35; i++) if (b[i] !== 0) return undefined;
  return b[35];
}

/** Decodes an error output; `undefined` when `output` is not one. */
export function decodeError(output: Hex | Uint8Array): OutputError | undefined {
  const code = errorCode(output);
  if (code === undefined) return undefined;
  return { code, name: errorName(code), message: ERROR_MESSAGES[code] ?? "the committee agreed the request cannot be served" };
}

/**
 * Reads a settled output with its request's schema (bytes, a parsed tree, or `null`/`"0x"` for
 * free text). An output whose length is 4 mod 32 is an error output (it must then be well
 * formed); anything else must be the canonical ABI encoding of a value that conforms to the
 * schema (crates/schema's `decode_output`). Throws OutputDecodeError otherwise.
 */
export function decodeOutput(
  schema: SchemaBytes | SchemaNode | null,
  output: Hex | Uint8Array,
): DecodedOutput {
  const bytes = typeof output === "string" ? hexToBytes(output) : output;
  if (bytes.length % 32 === 4) {
    const error = decodeError(bytes);
    if (!error) throw new OutputDecodeError(`malformed error output (${bytes.length} bytes)`);
    return { ok: false, error };
  }
  const node = typeof schema === "string" ? parseSchema(schema) : schema;
  const params = abiParams(node);
  let raw: readonly unknown[];
  try {
    raw = decodeAbiParameters(params, bytes);
  } catch (e) {
    throw new OutputDecodeError(`output does not decode as ${describe(params)}: ${(e as Error).message}`);
  }
  const reencoded = encodeAbiParameters(params, raw as unknown[]);
  if (reencoded.toLowerCase() !== bytesHex(bytes)) {
    throw new OutputDecodeError("output is not the canonical ABI encoding of its value");
  }
  let value: Value;
  if (node === null) value = raw[0] as string;
  else if (node.kind === "tuple") value = node.items.map((item, i) => convert(item, raw[i]));
  else value = convert(node, raw[0]);
  return { ok: true, value };
}

function bytesHex(b: Uint8Array): string {
  let s = "0x";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

function describe(params: { type: string }[]): string {
  return `(${params.map((p) => p.type).join(",")})`;
}

/** Converts viem's decoded value for `node`, checking it conforms (lengths, ranges, indexes). */
function convert(node: SchemaNode, raw: unknown): Value {
  switch (node.kind) {
    case "text": {
      const s = raw as string;
      if (new TextEncoder().encode(s).length > node.maxBytes) {
        throw new OutputDecodeError(`text longer than ${node.maxBytes} bytes`);
      }
      return s;
    }
    case "choice": {
      const index = Number(raw);
      const option = node.options[index];
      if (option === undefined) throw new OutputDecodeError(`choice index ${index} out of range`);
      return { index, option };
    }
    case "int": {
      const v = raw as bigint;
      if (v < node.min || v > node.max) {
        throw new OutputDecodeError(`integer ${v} outside ${node.min}..=${node.max}`);
      }
      return v;
    }
    case "bool":
      return raw as boolean;
    case "address":
      return raw as Address;
    case "tuple": {
      const items = raw as readonly unknown[];
      return node.items.map((item, i) => convert(item, items[i]));
    }
    case "array": {
      const items = raw as readonly unknown[];
      if (items.length > node.maxLen) {
        throw new OutputDecodeError(`array of ${items.length} values, at most ${node.maxLen} allowed`);
      }
      return items.map((item) => convert(node.element, item));
    }
  }
}
