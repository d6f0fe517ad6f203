/**
 * @aikernel/sdk: smart contracts ask aikernel for LLM inference; this package does it from
 * TypeScript: read a deployment, quote, infer, follow a prompt to its typed result, build and
 * check output schemas, decode outputs, list models and nodes.
 */
export * from "./client.js";
export * from "./deployment.js";
export * from "./output.js";
export * from "./schema.js";
export * from "./generated/abis.js";
