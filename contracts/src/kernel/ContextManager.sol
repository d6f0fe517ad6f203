// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title ContextManager
/// @notice Per (account, topic) chains of context entries with a rolling hash root. The kernel
///         appends a Prompt entry when a prompt is submitted and a Result entry when it settles;
///         the account (topic owner) and the feeders it allows append Feed entries without
///         inference. Raw data lives only in `ContextAppended` events; the chain stores its
///         length and root, which is all a node needs to check a context it rebuilt.
/// @dev Byte rules (docs/protocol.md): entryHash = keccak256(abi.encode(uint8 kind, uint256 promptId,
///      keccak256(data), bytes32 dataHash)); root' = keccak256(abi.encode(root, entryHash)).
contract ContextManager is AccessControl {
    /// @notice Entry kinds.
    uint8 public constant KIND_PROMPT = 0;
    /// @notice A settled output.
    uint8 public constant KIND_RESULT = 1;
    /// @notice Data appended without inference.
    uint8 public constant KIND_FEED = 2;
    /// @notice Role allowed to append Prompt and Result entries (DecentralizedInference).
    bytes32 public constant KERNEL_ROLE = keccak256("KERNEL_ROLE");
    /// @notice Largest `data` of a Feed entry, in bytes.
    uint256 public constant MAX_FEED_BYTES = 8192;

    /// @notice A chain's state.
    struct Chain {
        bytes32 root;
        uint64 length;
    }

    mapping(address => mapping(bytes32 => Chain)) internal _chains;
    /// @notice Whether `feeder` may append to `(account, topic)`.
    mapping(address => mapping(bytes32 => mapping(address => bool))) public isFeeder;

    /// @notice An entry was appended at `index`; `root` is the chain root after it.
    event ContextAppended(
        address indexed account,
        bytes32 indexed topic,
        uint64 index,
        uint8 kind,
        uint256 indexed promptId,
        bytes data,
        bytes32 dataHash,
        bytes32 root
    );
    /// @notice A topic owner allowed or disallowed a feeder.
    event FeederSet(address indexed account, bytes32 indexed topic, address indexed feeder, bool allowed);

    /// @notice The caller is neither the account nor an allowed feeder of the topic.
    error NotFeeder(address account, bytes32 topic, address caller);
    /// @notice A Feed entry with neither data nor hash, or with too much data.
    error InvalidFeed();

    /// @param admin Receives DEFAULT_ADMIN_ROLE (grants KERNEL_ROLE to the kernel).
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice Allows or disallows `feeder` to append Feed entries to the caller's `topic`.
    /// @param topic The caller's topic.
    /// @param feeder The feeder.
    /// @param allowed Whether it may append.
    function setFeeder(bytes32 topic, address feeder, bool allowed) external {
        isFeeder[msg.sender][topic][feeder] = allowed;
        emit FeederSet(msg.sender, topic, feeder, allowed);
    }

    /// @notice Appends a Feed entry (context without inference) to `(account, topic)`.
    /// @param account The topic owner.
    /// @param topic The topic.
    /// @param data Inline data (may be empty when `dataHash` names off-chain data).
    /// @param dataHash Content hash of off-chain data, or zero.
    /// @return index The entry's index.
    function appendContext(address account, bytes32 topic, bytes calldata data, bytes32 dataHash)
        external
        returns (uint64 index)
    {
        if (msg.sender != account && !isFeeder[account][topic][msg.sender]) {
            revert NotFeeder(account, topic, msg.sender);
        }
        if ((data.length == 0 && dataHash == bytes32(0)) || data.length > MAX_FEED_BYTES) {
            revert InvalidFeed();
        }
        (index,) = _append(account, topic, KIND_FEED, 0, data, dataHash);
    }

    /// @notice Appends a prompt's Prompt entry; returns the chain state before it.
    /// @param account The requester (msg.sender of infer).
    /// @param topic The topic.
    /// @param promptId The prompt.
    /// @param data The inline input (empty when `dataHash` is used).
    /// @param dataHash The request's inputHash, or zero.
    /// @return length Chain length before the entry (the prompt's context is entries [0, length)).
    /// @return root Chain root before the entry.
    function appendPrompt(
        address account,
        bytes32 topic,
        uint256 promptId,
        bytes calldata data,
        bytes32 dataHash
    ) external onlyRole(KERNEL_ROLE) returns (uint64 length, bytes32 root) {
        return _append(account, topic, KIND_PROMPT, promptId, data, dataHash);
    }

    /// @notice Appends a settled prompt's Result entry.
    /// @param account The requester.
    /// @param topic The topic.
    /// @param promptId The prompt.
    /// @param output The settled output.
    function appendResult(address account, bytes32 topic, uint256 promptId, bytes calldata output)
        external
        onlyRole(KERNEL_ROLE)
    {
        _append(account, topic, KIND_RESULT, promptId, output, bytes32(0));
    }

    /// @notice A chain's current length and root.
    /// @param account The account.
    /// @param topic The topic.
    function chainOf(address account, bytes32 topic) external view returns (uint64 length, bytes32 root) {
        Chain storage c = _chains[account][topic];
        return (c.length, c.root);
    }

    /// @notice The hash of one entry, per docs/protocol.md.
    /// @param kind Entry kind.
    /// @param promptId Prompt id (0 for Feed).
    /// @param data Inline data.
    /// @param dataHash Off-chain content hash or zero.
    function entryHash(uint8 kind, uint256 promptId, bytes calldata data, bytes32 dataHash)
        external
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(kind, promptId, keccak256(data), dataHash));
    }

    function _append(
        address account,
        bytes32 topic,
        uint8 kind,
        uint256 promptId,
        bytes calldata data,
        bytes32 dataHash
    ) internal returns (uint64 length, bytes32 root) {
        Chain storage c = _chains[account][topic];
        root = c.root;
        length = c.length;
        bytes32 entry = keccak256(abi.encode(kind, promptId, keccak256(data), dataHash));
        bytes32 next = keccak256(abi.encode(root, entry));
        c.root = next;
        c.length = length + 1;
        emit ContextAppended(account, topic, length, kind, promptId, data, dataHash, next);
    }
}
