/**
 * The deployment file `aikernel deploy` and `aikernel devnet` write (crates/chain/src/deploy.rs,
 * `Deployment`): the chain id, the block of the first deployment transaction and the address of
 * each kernel contract, with camelCase keys.
 */
import { getAddress, type Address } from "viem";

/** Addresses of a deployed kernel. */
export interface Deployment {
  /** Chain id the kernel lives on. */
  chainId: number;
  /** Block of the first deployment transaction (where event scans start). */
  startBlock: bigint;
  /** The EAI token. */
  eai: Address;
  /** ModelFileSystem. */
  models: Address;
  /** PromptScheduler. */
  scheduler: Address;
  /** GPUManagement. */
  gpu: Address;
  /** ContextManager. */
  context: Address;
  /** DecentralizedInference, the `IAIKernel` entry point. */
  kernel: Address;
  /** Protocol treasury. */
  treasury: Address;
}

const ADDRESS_KEYS = ["eai", "models", "scheduler", "gpu", "context", "kernel", "treasury"] as const;

/** Parses a deployment file's JSON text (or the object it holds); throws on a missing or bad field. */
export function parseDeployment(json: string | Record<string, unknown>): Deployment {
  const o = (typeof json === "string" ? JSON.parse(json) : json) as Record<string, unknown>;
  if (o === null || typeof o !== "object") throw new Error("deployment: not a JSON object");
  const num = (key: string): bigint => {
    const v = o[key];
    if (typeof v !== "number" && typeof v !== "string" && typeof v !== "bigint") {
      throw new Error(`deployment: "${key}" is missing or not a number`);
    }
    return BigInt(v);
  };
  const out: Partial<Deployment> = { chainId: Number(num("chainId")), startBlock: num("startBlock") };
  for (const key of ADDRESS_KEYS) {
    const v = o[key];
    if (typeof v !== "string") throw new Error(`deployment: "${key}" is missing`);
    try {
      out[key] = getAddress(v);
    } catch {
      throw new Error(`deployment: "${key}" is not an address: ${v}`);
    }
  }
  return out as Deployment;
}

/** Reads a deployment file (Node.js only; in a browser, fetch it and call {@link parseDeployment}). */
export async function readDeployment(path: string): Promise<Deployment> {
  const { readFile } = await import("node:fs/promises");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new Error(`reading deployment file ${path}: ${(e as Error).message}`);
  }
  try {
    return parseDeployment(text);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}
