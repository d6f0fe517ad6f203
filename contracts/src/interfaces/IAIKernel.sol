// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IAIKernel
/// @notice The dapp-facing interface of the aikernel: ask a staked committee of compute nodes
///         to run a model on a prompt, and receive a verified, typed result.
/// @dev A request is settled by Proof-of-Compute: a committee drawn after submission commits to its
///      outputs, then reveals them; a committee that agrees settles at once, any disagreement
///      escalates to a larger fresh committee whose majority decides. See docs/protocol.md.
interface IAIKernel {
    /// @notice What a dapp asks for.
    /// @param modelId Id of a model registered in the ModelFileSystem.
    /// @param topic Conversation or data topic; context is chained per (msg.sender, topic).
    /// @param input The prompt text (UTF-8), inline. Empty when `inputHash` is used.
    /// @param inputHash sha256 of an input kept off-chain in content-addressed storage
    ///        (IPFS CIDv1 raw / sha2-256 compatible); zero when `input` is inline.
    /// @param extraContext Extra text placed before the conversation (facts, instructions).
    /// @param schema Output schema in the compact encoding of docs/schema.md (see Schema.sol);
    ///        empty means free text.
    /// @param maxTokens Maximum number of tokens the model may generate (>= 1).
    /// @param temperature Sampling temperature in thousandths (0 = greedy, 1000 = 1.0).
    /// @param seed Sampling seed; with the prompt id it keys the counter-based RNG.
    /// @param callback Contract to receive the result: zero for none, otherwise the requester itself
    ///        (`msg.sender` of `infer`), so a callback only ever receives its own prompts' results.
    /// @param callbackGasLimit Gas forwarded to the callback; a failing callback never blocks settlement.
    /// @param committeeSize Number of nodes that independently compute the result (odd, >= 1).
    struct Request {
        uint256 modelId;
        bytes32 topic;
        bytes input;
        bytes32 inputHash;
        bytes extraContext;
        bytes schema;
        uint32 maxTokens;
        uint32 temperature;
        uint64 seed;
        address callback;
        uint32 callbackGasLimit;
        uint16 committeeSize;
    }

    /// @notice Lifecycle of a prompt. `Settled` and `Refunded` are final. `Publishing`: a round
    ///         reached its decision on an output hash and waits for the output bytes.
    enum Status {
        None,
        Committing,
        Revealing,
        Settled,
        Refunded,
        Publishing
    }

    /// @notice A prompt was accepted and paid for.
    event PromptSubmitted(
        uint256 indexed promptId,
        address indexed requester,
        uint256 indexed modelId,
        bytes32 topic,
        uint256 fee
    );

    /// @notice A prompt settled with `output` (ABI-encoded per the schema, or an error, see `isError`).
    event PromptSettled(uint256 indexed promptId, bytes32 indexed outputHash, bytes output);

    /// @notice A prompt ended without a result and its fee went back to the requester.
    event PromptRefunded(uint256 indexed promptId, address indexed requester, uint256 amount);

    /// @notice The callback of a settled prompt was called; `ok` is false when it reverted or ran out of gas.
    event CallbackDelivered(uint256 indexed promptId, address indexed callback, bool ok);

    /// @notice Submits a request; `msg.value` must cover `quote`. Excess is refunded.
    /// @return promptId The id under which the result will be delivered.
    function infer(Request calldata request) external payable returns (uint256 promptId);

    /// @notice The fee for a request with these parameters, in wei: the nodes' fee, the protocol
    ///         fee and the callback's gas (paid to whoever settles the prompt).
    function quote(uint256 modelId, uint32 maxTokens, uint16 committeeSize, uint32 callbackGasLimit)
        external
        view
        returns (uint256 fee);

    /// @notice The current status of a prompt.
    function statusOf(uint256 promptId) external view returns (Status);

    /// @notice The settled output of a prompt; reverts unless it is settled.
    /// @return output ABI-encoded value per the request's schema (or an encoded `AIKernelError`).
    function resultOf(uint256 promptId) external view returns (bytes memory output);

    /// @notice The request as submitted (for nodes and verifiers).
    function requestOf(uint256 promptId) external view returns (Request memory);
}

/// @title IAIKernelCallback
/// @notice Implemented by contracts that receive results (inherit AIKernelConsumer for convenience).
interface IAIKernelCallback {
    /// @notice Called by the kernel once a prompt settles.
    /// @param promptId The prompt.
    /// @param success False when the committee agreed on an error (output is then an encoded `AIKernelError`).
    /// @param output The ABI-encoded result per the request's schema.
    function onAIResult(uint256 promptId, bool success, bytes calldata output) external;
}
