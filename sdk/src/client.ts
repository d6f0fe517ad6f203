/**
 * The kernel from TypeScript: quote and check a request, submit it (from an EOA, or prepare the
 * struct and calldata a dapp contract passes), follow a prompt to its settled, typed result,
 * and list models and nodes. Typed by the forge ABIs (src/generated/abis.ts).
 */
import {
  bytesToHex,
  createPublicClient,
  createWalletClient,
  defineChain,
  encodeFunctionData,
  http,
  isHex,
  keccak256,
  nonceManager,
  parseEventLogs,
  stringToHex,
  zeroAddress,
  zeroHash,
  type Account,
  type Address,
  type Chain,
  type Hash,
  type Hex,
  type PublicClient,
  type TransactionReceipt,
  type Transport,
  type WalletClient,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";

import { gpuManagementAbi, kernelAbi, modelFileSystemAbi, promptSchedulerAbi } from "./generated/abis.js";
import type { Deployment } from "./deployment.js";
import { decodeOutput, type DecodedOutput, type OutputError, type Value } from "./output.js";
import { parseSchema, type SchemaBytes } from "./schema.js";

/** Lifecycle of a prompt (`IAIKernel.Status`). `settled` and `refunded` are final. */
export const PROMPT_STATUSES = ["none", "committing", "revealing", "settled", "refunded", "publishing"] as const;
export type PromptStatus = (typeof PROMPT_STATUSES)[number];

/** `IAIKernel.Request`, as viem encodes it. */
export interface KernelRequest {
  modelId: bigint;
  topic: Hex;
  input: Hex;
  inputHash: Hex;
  extraContext: Hex;
  schema: Hex;
  maxTokens: number;
  temperature: number;
  seed: bigint;
  callback: Address;
  callbackGasLimit: number;
  committeeSize: number;
}

/** What to ask; everything but `modelId` and an input has the CLI's default. */
export interface InferParams {
  /** A model registered in the ModelFileSystem. */
  modelId: bigint | number;
  /** The prompt: UTF-8 text or raw bytes. Omit when `inputHash` is given. */
  input?: string | Uint8Array;
  /** sha256 of an input kept off-chain (then `input` is empty). */
  inputHash?: Hex;
  /**
   * The conversation: a 32-byte hex topic continues it, any other string names it
   * (`keccak256(name)`, as `aikernel prompt --topic NAME`); omitted, a fresh random topic.
   */
  topic?: Hex | string;
  /** Extra text placed before the conversation. */
  extraContext?: string | Uint8Array;
  /** Output schema (the builders of ./schema); default free text. */
  schema?: SchemaBytes;
  /** Most tokens the model may generate; default 128. */
  maxTokens?: number;
  /** Sampling temperature in thousandths; default 0 (greedy). */
  temperature?: number;
  /** Sampling seed; default 0. */
  seed?: bigint | number;
  /** Contract receiving the result (must be the requester); default none. */
  callback?: Address;
  /** Gas forwarded to the callback; default 0. */
  callbackGasLimit?: number;
  /** Nodes that compute the result independently (odd, 1..15); default 3. */
  committeeSize?: number;
}

/** What `prepareInfer` returns: the struct a dapp passes to `IAIKernel.infer` and the call itself. */
export interface PreparedInfer {
  request: KernelRequest;
  /** The fee (`quote`), to send as `msg.value`. */
  fee: bigint;
  /** The kernel (`IAIKernel`) address. */
  to: Address;
  /** `infer(request)` calldata. */
  data: Hex;
  /** Same as `fee`. */
  value: bigint;
}

/** A submitted prompt. */
export interface Submitted {
  promptId: bigint;
  hash: Hash;
  receipt: TransactionReceipt;
  fee: bigint;
  topic: Hex;
  request: KernelRequest;
}

/** The hot state of a prompt (`promptInfo`). */
export interface PromptInfo {
  status: PromptStatus;
  round: number;
  commits: number;
  reveals: number;
  commitDeadline: number;
  revealDeadline: number;
}

/** A step of a prompt's life, as `waitForResult` sees it. */
export type Progress =
  | { stage: "drawing"; promptId: bigint; round: number; info: PromptInfo }
  | { stage: "assigned"; promptId: bigint; round: number; committee: Address[]; info: PromptInfo }
  | { stage: "committed"; promptId: bigint; round: number; commits: number; committeeSize: number; info: PromptInfo }
  | { stage: "revealing"; promptId: bigint; round: number; info: PromptInfo }
  | { stage: "revealed"; promptId: bigint; round: number; reveals: number; commits: number; info: PromptInfo }
  | { stage: "escalated"; promptId: bigint; fromRound: number; round: number; info: PromptInfo }
  | { stage: "publishing"; promptId: bigint; round: number; info: PromptInfo }
  | { stage: "nudged"; promptId: bigint; round: number; hash: Hash; info: PromptInfo }
  | { stage: "settled"; promptId: bigint; round: number; info: PromptInfo }
  | { stage: "refunded"; promptId: bigint; round: number; info: PromptInfo };

export interface WaitOptions {
  /** Called once per stage change. */
  onProgress?: (p: Progress) => void;
  /** Give up after this long (the prompt goes on); default 600 000 ms. */
  timeoutMs?: number;
  /** How often the prompt's state is read; default 250 ms. */
  pollIntervalMs?: number;
  /**
   * With a wallet client, end an overdue round with `settle` (anyone may), so the wait always
   * ends, as `aikernel prompt --wait` does; default true.
   */
  settleOverdue?: boolean;
  /** Where event scans start; default the deployment's start block. */
  fromBlock?: bigint;
  /** Aborts the wait. */
  signal?: AbortSignal;
}

/** A settled prompt. */
export interface PromptResult {
  promptId: bigint;
  status: "settled";
  /** The settled output bytes. */
  output: Hex;
  /** keccak256 of the output. */
  outputHash: Hex;
  /** The request's schema. */
  schema: Hex;
  /** The output decoded: `{ok: true, value}` or `{ok: false, error}`. */
  result: DecodedOutput;
  /** The typed value; undefined for an error output. */
  value?: Value;
  /** The error the committee agreed on; undefined for a value. */
  error?: OutputError;
  /** The committee of the deciding round. */
  committee: Address[];
  /** The round that decided. */
  round: number;
  settleTx?: Hash;
  settleBlock?: bigint;
  /** Fees paid to nodes (RewardPaid). */
  rewards: { node: Address; eth: bigint }[];
}

/** The prompt ended without a result; its fee went back to the requester. */
export class PromptRefundedError extends Error {
  override name = "PromptRefundedError";
  constructor(
    readonly promptId: bigint,
    readonly amount?: bigint,
    readonly hash?: Hash,
  ) {
    super(`prompt ${promptId} was refunded: no committee reached a majority`);
  }
}

/** `waitForResult` gave up; the prompt may still settle (wait again to resume). */
export class WaitTimeoutError extends Error {
  override name = "WaitTimeoutError";
  constructor(
    readonly promptId: bigint,
    readonly info: PromptInfo,
  ) {
    super(
      `timed out waiting for prompt ${promptId} (round ${info.round}, ${info.status}, ${info.commits} committed, ${info.reveals} revealed); it may still settle`,
    );
  }
}

/** A registered model (`ModelFileSystem.getModel`). */
export interface ModelRow {
  id: bigint;
  name: string;
  driver: string;
  format: string;
  contentRoot: Hex;
  size: bigint;
  chunkSize: number;
  uris: readonly string[];
  minMemoryMiB: bigint;
  minDeviceCount: number;
  feePerToken: bigint;
  tokensPerSecond: number;
  active: boolean;
  /** Nodes in the model's scheduling pool. */
  poolSize: bigint;
}

export const NODE_STATUSES = ["none", "active", "paused", "exiting"] as const;
export type NodeStatus = (typeof NODE_STATUSES)[number];

/** A node that registered since the deployment (`GPUManagement.nodeInfo` and friends). */
export interface NodeRow {
  address: Address;
  status: NodeStatus;
  stake: bigint;
  unbonding: bigint;
  unbondingEnd: bigint;
  jailed: boolean;
  jailedUntil: bigint;
  pooled: boolean;
  eligible: boolean;
  hardware: { deviceModel: string; memoryMiB: bigint; deviceCount: number };
  models: readonly bigint[];
  /** ETH fees earned and not withdrawn (`earningsOf`). */
  earnings: bigint;
  /** EAI block rewards accrued (`pendingRewards`). */
  pendingRewards: bigint;
}

/** Options of {@link AIKernel}. */
export interface AIKernelOptions {
  deployment: Deployment;
  publicClient: PublicClient<Transport, Chain | undefined>;
  /** Signs `infer` (and `settle` nudges); required for `infer`. */
  walletClient?: WalletClient<Transport, Chain | undefined, Account>;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(t), reject(signal.reason)), { once: true });
  });

const utf8 = new TextEncoder();
const toBytesHex = (v: string | Uint8Array | undefined): Hex =>
  v === undefined ? "0x" : typeof v === "string" ? stringToHex(v) : bytesToHex(v);

function randomTopic(): Hex {
  const b = new Uint8Array(32);
  globalThis.crypto.getRandomValues(b);
  return bytesToHex(b);
}

/** The `IAIKernel.Request` for `p`, with the CLI's defaults. */
export function buildRequest(p: InferParams): KernelRequest {
  if ((p.input === undefined) === (p.inputHash === undefined)) {
    throw new Error("give exactly one of input and inputHash");
  }
  let topic: Hex;
  if (p.topic === undefined) topic = randomTopic();
  else if (isHex(p.topic) && p.topic.length === 66) topic = p.topic;
  else topic = keccak256(utf8.encode(p.topic));
  return {
    modelId: BigInt(p.modelId),
    topic,
    input: toBytesHex(p.input),
    inputHash: p.inputHash ?? zeroHash,
    extraContext: toBytesHex(p.extraContext),
    schema: p.schema ?? "0x",
    maxTokens: p.maxTokens ?? 128,
    temperature: p.temperature ?? 0,
    seed: BigInt(p.seed ?? 0),
    callback: p.callback ?? zeroAddress,
    callbackGasLimit: p.callbackGasLimit ?? 0,
    committeeSize: p.committeeSize ?? 3,
  };
}

function promptInfo(p: {
  status: number;
  round: number;
  commits: number;
  reveals: number;
  commitDeadline: number;
  revealDeadline: number;
}): PromptInfo {
  return {
    status: PROMPT_STATUSES[p.status] ?? "none",
    round: p.round,
    commits: p.commits,
    reveals: p.reveals,
    commitDeadline: p.commitDeadline,
    revealDeadline: p.revealDeadline,
  };
}

/** A client of one kernel deployment. */
export class AIKernel {
  readonly deployment: Deployment;
  readonly publicClient: PublicClient<Transport, Chain | undefined>;
  readonly walletClient?: WalletClient<Transport, Chain | undefined, Account>;

  constructor(options: AIKernelOptions) {
    this.deployment = options.deployment;
    this.publicClient = options.publicClient;
    this.walletClient = options.walletClient;
  }

  // --- fees and checks -------------------------------------------------------------------

  /**
   * The fee for a request, in wei (`IAIKernel.quote`): the nodes' fee, the protocol fee and the
   * callback's gas.
   */
  async quote(p: Pick<InferParams, "modelId" | "maxTokens" | "committeeSize" | "callbackGasLimit">): Promise<bigint> {
    return this.publicClient.readContract({
      address: this.deployment.kernel,
      abi: kernelAbi,
      functionName: "quote",
      args: [BigInt(p.modelId), p.maxTokens ?? 128, p.committeeSize ?? 3, p.callbackGasLimit ?? 0],
    });
  }

  /**
   * Checks a request as `infer` will (`ModelFileSystem.checkRequest` with the kernel's
   * maxTokens limit); reverts with the kernel's error when it would be refused.
   */
  async checkRequest(p: InferParams): Promise<{ feePerToken: bigint; workSeconds: number }> {
    const r = buildRequest({ ...p, topic: p.topic ?? zeroHash });
    const config = await this.publicClient.readContract({
      address: this.deployment.kernel,
      abi: kernelAbi,
      functionName: "config",
    });
    const maxTokensLimit = config[5];
    const inputLength = BigInt((r.input.length - 2) / 2);
    const [feePerToken, workSeconds] = await this.publicClient.readContract({
      address: this.deployment.models,
      abi: modelFileSystemAbi,
      functionName: "checkRequest",
      args: [
        r.modelId,
        r.schema,
        {
          committeeSize: BigInt(r.committeeSize),
          maxTokens: BigInt(r.maxTokens),
          maxTokensLimit: BigInt(maxTokensLimit),
          inputLength,
          inputHashSet: r.inputHash !== zeroHash,
          extraContextLength: BigInt((r.extraContext.length - 2) / 2),
        },
      ],
    });
    return { feePerToken, workSeconds };
  }

  // --- submitting ------------------------------------------------------------------------

  /**
   * The request struct and the `infer` call for `p`: what a dapp contract passes to
   * `IAIKernel.infer` (with `fee` as value), or what any wallet sends to the kernel.
   */
  async prepareInfer(p: InferParams): Promise<PreparedInfer> {
    const request = buildRequest(p);
    if (request.schema !== "0x") parseSchema(request.schema); // fail early, locally
    const fee = await this.quote(request);
    const data = encodeFunctionData({ abi: kernelAbi, functionName: "infer", args: [request] });
    return { request, fee, to: this.deployment.kernel, data, value: fee };
  }

  /** Submits a request from the wallet client's account, paying `quote`; waits for the receipt. */
  async infer(p: InferParams): Promise<Submitted> {
    const wallet = this.requireWallet("infer");
    const { request, fee } = await this.prepareInfer(p);
    // Simulating first turns a refusal into the kernel's decoded error.
    const sim = await this.publicClient.simulateContract({
      address: this.deployment.kernel,
      abi: kernelAbi,
      functionName: "infer",
      args: [request],
      value: fee,
      account: wallet.account,
    });
    const hash = await wallet.writeContract({ ...sim.request, chain: wallet.chain ?? null, account: wallet.account });
    const receipt = await this.publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") throw new Error(`infer transaction ${hash} reverted`);
    const [submitted] = parseEventLogs({ abi: kernelAbi, eventName: "PromptSubmitted", logs: receipt.logs });
    if (!submitted) throw new Error(`infer transaction ${hash} emitted no PromptSubmitted`);
    return { promptId: submitted.args.promptId, hash, receipt, fee: submitted.args.fee, topic: request.topic, request };
  }

  // --- reading prompts -------------------------------------------------------------------

  /** The prompt's status. */
  async statusOf(promptId: bigint): Promise<PromptStatus> {
    const s = await this.publicClient.readContract({
      address: this.deployment.kernel,
      abi: kernelAbi,
      functionName: "statusOf",
      args: [promptId],
    });
    return PROMPT_STATUSES[s] ?? "none";
  }

  /** The prompt's round, commits, reveals and deadlines. */
  async promptInfo(promptId: bigint): Promise<PromptInfo> {
    const p = await this.publicClient.readContract({
      address: this.deployment.kernel,
      abi: kernelAbi,
      functionName: "promptInfo",
      args: [promptId],
    });
    return promptInfo(p);
  }

  /** The committee of the prompt's current round (empty until drawn). */
  async committeeOf(promptId: bigint): Promise<Address[]> {
    return [
      ...(await this.publicClient.readContract({
        address: this.deployment.kernel,
        abi: kernelAbi,
        functionName: "committeeOf",
        args: [promptId],
      })),
    ];
  }

  /** The request as submitted. */
  async requestOf(promptId: bigint): Promise<KernelRequest> {
    return this.publicClient.readContract({
      address: this.deployment.kernel,
      abi: kernelAbi,
      functionName: "requestOf",
      args: [promptId],
    });
  }

  /** The settled output decoded with the prompt's schema; throws unless settled. */
  async resultOf(promptId: bigint): Promise<DecodedOutput> {
    const [request, output] = await Promise.all([
      this.requestOf(promptId),
      this.publicClient.readContract({
        address: this.deployment.kernel,
        abi: kernelAbi,
        functionName: "resultOf",
        args: [promptId],
      }),
    ]);
    return decodeOutput(request.schema, output);
  }

  /**
   * Follows a prompt through committee draws, commits, reveals, escalations and publication
   * until it is final (as `aikernel prompt wait` does), reporting each stage to `onProgress`;
   * resolves with the decoded, typed result. A refund rejects with PromptRefundedError, a
   * timeout with WaitTimeoutError.
   */
  async waitForResult(promptId: bigint, options: WaitOptions = {}): Promise<PromptResult> {
    const poll = options.pollIntervalMs ?? 250;
    const deadline = Date.now() + (options.timeoutMs ?? 600_000);
    const nudge = (options.settleOverdue ?? true) && this.walletClient !== undefined;
    const emit = (p: Progress) => options.onProgress?.(p);
    const request = await this.requestOf(promptId);
    let committee: Address[] = [];
    let seen: PromptInfo | undefined;
    let info: PromptInfo;
    for (;;) {
      info = await this.promptInfo(promptId);
      if (info.status === "none") throw new Error(`prompt ${promptId} does not exist`);
      const round = info.round;
      if (seen && info.round !== seen.round) {
        committee = [];
        emit({ stage: "escalated", promptId, fromRound: seen.round, round, info });
      }
      if (!seen || info.round !== seen.round) emit({ stage: "drawing", promptId, round, info });
      if (committee.length === 0 && info.status !== "settled" && info.status !== "refunded") {
        committee = await this.committeeOf(promptId);
        if (committee.length > 0) emit({ stage: "assigned", promptId, round, committee, info });
      }
      const sameRound = seen !== undefined && seen.round === info.round;
      const before = sameRound ? seen! : { commits: 0, reveals: 0, status: "committing" as PromptStatus };
      if (info.commits !== before.commits) {
        emit({ stage: "committed", promptId, round, commits: info.commits, committeeSize: committee.length, info });
      }
      if (
        (info.status === "revealing" || info.status === "publishing" || info.status === "settled") &&
        before.status === "committing" &&
        info.reveals === 0
      ) {
        emit({ stage: "revealing", promptId, round, info });
      } else if (info.status === "revealing" && before.status !== "revealing") {
        emit({ stage: "revealing", promptId, round, info });
      }
      if (info.reveals !== before.reveals) {
        emit({ stage: "revealed", promptId, round, reveals: info.reveals, commits: info.commits, info });
      }
      if (info.status === "publishing" && seen?.status !== "publishing") {
        emit({ stage: "publishing", promptId, round, info });
      }
      seen = info;
      if (info.status === "settled" || info.status === "refunded") break;
      if (Date.now() > deadline) throw new WaitTimeoutError(promptId, info);
      if (nudge && committee.length > 0) {
        const now = await this.chainTime();
        if (overdue(now, info, committee.length)) {
          const hash = await this.trySettle(promptId);
          if (hash) emit({ stage: "nudged", promptId, round, hash, info });
        }
      }
      await sleep(poll, options.signal);
    }
    const fromBlock = options.fromBlock ?? this.deployment.startBlock;
    if (info.status === "refunded") {
      emit({ stage: "refunded", promptId, round: info.round, info });
      const [log] = await this.publicClient.getContractEvents({
        address: this.deployment.kernel,
        abi: kernelAbi,
        eventName: "PromptRefunded",
        args: { promptId },
        fromBlock,
      });
      throw new PromptRefundedError(promptId, log?.args.amount, log?.transactionHash ?? undefined);
    }
    emit({ stage: "settled", promptId, round: info.round, info });
    const [settledLogs, rewardLogs] = await Promise.all([
      this.publicClient.getContractEvents({
        address: this.deployment.kernel,
        abi: kernelAbi,
        eventName: "PromptSettled",
        args: { promptId },
        fromBlock,
      }),
      this.publicClient.getContractEvents({
        address: this.deployment.kernel,
        abi: kernelAbi,
        eventName: "RewardPaid",
        args: { promptId },
        fromBlock,
      }),
    ]);
    const settled = settledLogs[0];
    const output: Hex =
      settled?.args.output ??
      (await this.publicClient.readContract({
        address: this.deployment.kernel,
        abi: kernelAbi,
        functionName: "resultOf",
        args: [promptId],
      }));
    const result = decodeOutput(request.schema, output);
    if (committee.length === 0) committee = await this.committeeOf(promptId);
    return {
      promptId,
      status: "settled",
      output,
      outputHash: keccak256(output),
      schema: request.schema,
      result,
      value: result.ok ? result.value : undefined,
      error: result.ok ? undefined : result.error,
      committee,
      round: info.round,
      settleTx: settled?.transactionHash ?? undefined,
      settleBlock: settled?.blockNumber ?? undefined,
      rewards: rewardLogs.map((l) => ({ node: l.args.node!, eth: l.args.eth! })),
    };
  }

  /** The latest block's timestamp (deadlines are block timestamps). */
  private async chainTime(): Promise<number> {
    const block = await this.publicClient.getBlock({ blockTag: "latest" });
    return Number(block.timestamp);
  }

  /** Sends `settle` for an overdue round; undefined when it is not due after all or fails. */
  private async trySettle(promptId: bigint): Promise<Hash | undefined> {
    const wallet = this.walletClient!;
    try {
      const sim = await this.publicClient.simulateContract({
        address: this.deployment.kernel,
        abi: kernelAbi,
        functionName: "settle",
        args: [promptId],
        account: wallet.account,
      });
      const hash = await wallet.writeContract({ ...sim.request, chain: wallet.chain ?? null, account: wallet.account });
      const receipt = await this.publicClient.waitForTransactionReceipt({ hash });
      return receipt.status === "success" ? hash : undefined;
    } catch {
      return undefined;
    }
  }

  // --- models and nodes ------------------------------------------------------------------

  /** Every registered model (ids 1..modelCount) with its spec, state and pool size. */
  async listModels(): Promise<ModelRow[]> {
    const count = await this.publicClient.readContract({
      address: this.deployment.models,
      abi: modelFileSystemAbi,
      functionName: "modelCount",
    });
    const rows: ModelRow[] = [];
    for (let id = 1n; id <= count; id++) {
      const [[spec, active], poolSize] = await Promise.all([
        this.publicClient.readContract({
          address: this.deployment.models,
          abi: modelFileSystemAbi,
          functionName: "getModel",
          args: [id],
        }),
        this.publicClient.readContract({
          address: this.deployment.scheduler,
          abi: promptSchedulerAbi,
          functionName: "poolSize",
          args: [id],
        }),
      ]);
      rows.push({ id, ...spec, active, poolSize });
    }
    return rows;
  }

  /** Every node that registered since the deployment's start block (NodeRegistered), with its state. */
  async listNodes(): Promise<NodeRow[]> {
    const logs = await this.publicClient.getContractEvents({
      address: this.deployment.gpu,
      abi: gpuManagementAbi,
      eventName: "NodeRegistered",
      fromBlock: this.deployment.startBlock,
    });
    const addresses = [...new Set(logs.map((l) => l.args.node!))];
    return Promise.all(
      addresses.map(async (address) => {
        const [info, eligible, earnings, pendingRewards] = await Promise.all([
          this.publicClient.readContract({
            address: this.deployment.gpu,
            abi: gpuManagementAbi,
            functionName: "nodeInfo",
            args: [address],
          }),
          this.publicClient.readContract({
            address: this.deployment.gpu,
            abi: gpuManagementAbi,
            functionName: "isEligible",
            args: [address],
          }),
          this.publicClient.readContract({
            address: this.deployment.kernel,
            abi: kernelAbi,
            functionName: "earningsOf",
            args: [address],
          }),
          this.publicClient.readContract({
            address: this.deployment.gpu,
            abi: gpuManagementAbi,
            functionName: "pendingRewards",
            args: [address],
          }),
        ]);
        return {
          address,
          status: NODE_STATUSES[info.status] ?? "none",
          stake: info.stake,
          unbonding: info.unbonding,
          unbondingEnd: info.unbondingEnd,
          jailed: info.jailed,
          jailedUntil: info.jailedUntil,
          pooled: info.pooled,
          eligible,
          hardware: info.hardware,
          models: info.models,
          earnings,
          pendingRewards,
        };
      }),
    );
  }

  private requireWallet(what: string): WalletClient<Transport, Chain | undefined, Account> {
    if (!this.walletClient) throw new Error(`${what} needs a walletClient with an account`);
    return this.walletClient;
  }
}

/**
 * True once `settle` can end the round at chain time `t`: after the reveal (or publication)
 * deadline, or after the commit deadline with too few commits for a majority of `k`.
 */
function overdue(t: number, p: PromptInfo, k: number): boolean {
  const tooFew = p.status === "committing" && t > p.commitDeadline && p.commits < Math.floor(k / 2) + 1;
  return tooFew || t > p.revealDeadline;
}

/** Options of {@link createAIKernel}. */
export interface CreateOptions {
  deployment: Deployment;
  /** JSON-RPC endpoint; default http://127.0.0.1:8545. */
  rpcUrl?: string;
  /** A private key (or viem account) to sign `infer` and `settle`. */
  account?: Hex | Account;
}

/** A client over HTTP for a deployment, with a wallet when `account` is given. */
export function createAIKernel(options: CreateOptions): AIKernel {
  const rpcUrl = options.rpcUrl ?? "http://127.0.0.1:8545";
  const chain = defineChain({
    id: options.deployment.chainId,
    name: `aikernel-${options.deployment.chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
  const transport = http(rpcUrl);
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 250 });
  const account =
    options.account === undefined
      ? undefined
      : typeof options.account === "string"
        ? // The nonce manager lets concurrent `infer` calls from one account get distinct nonces.
          privateKeyToAccount(options.account, { nonceManager })
        : options.account;
  const walletClient = account ? createWalletClient({ chain, transport, account }) : undefined;
  return new AIKernel({
    deployment: options.deployment,
    publicClient: publicClient as PublicClient<Transport, Chain | undefined>,
    walletClient: walletClient as WalletClient<Transport, Chain | undefined, Account> | undefined,
  });
}
