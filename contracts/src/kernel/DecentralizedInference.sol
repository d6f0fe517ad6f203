// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAIKernel} from "../interfaces/IAIKernel.sol";
import {ModelFileSystem} from "./ModelFileSystem.sol";
import {PromptScheduler} from "./PromptScheduler.sol";
import {GPUManagement} from "./GPUManagement.sol";
import {ContextManager} from "./ContextManager.sol";
import {RequestBlob} from "./RequestBlob.sol";
import {KernelCore} from "./KernelCore.sol";
import {KernelExtension} from "./KernelExtension.sol";

/// @title DecentralizedInference
/// @notice The dapp-facing kernel: takes requests and fees, runs Proof-of-Compute over committees
///         that the PromptScheduler draws after submission, pays the nodes whose output is the final
///         answer, slashes the others, and delivers the result to the requester's callback.
/// @dev Rules (docs/protocol.md):
///      - A round's committee is drawn from a pool snapshot taken when the round was created, with
///        the hash of a later block: nobody who sends a transaction can know it in advance.
///      - Commitments bind prompt, round, node and a round-bound hash of the answer (the output and
///        the trace of the logits that produced it), so an answer can neither be guessed without
///        running the model nor copied from another round, and stays private until a round decides.
///      - Round 0 settles only when every revealed output agrees (and a majority revealed); any
///        disagreement escalates to a larger, freshly drawn committee whose strict majority decides.
///      - At settlement every revealer of every round is judged against the final answer: agreeing
///        ones share the fee, the others are slashed; silence after a commit costs the same.
///      Storage per prompt: one packed slot (`Prompt`), the request as a code blob (RequestBlob),
///      each round's committee packed into raw slots, one slot per member, and the result bytes.
contract DecentralizedInference is KernelCore, IAIKernel {
    /// @dev Selector prefix of the kernel's static self-calls into the extension.
    bytes4 internal constant VIEW_ROUTE = bytes4(keccak256("aikernel.kernel.view"));

    /// @notice Code that runs some entry points on this contract's storage (KernelExtension).
    address public immutable extension;

    /// @notice A call that no entry point takes.
    error UnknownEntryPoint();

    /// @param admin The owner: sets the parameters and the treasury (`transferOwnership`).
    /// @param models_ ModelFileSystem.
    /// @param scheduler_ PromptScheduler (grant this contract its ASSIGNER_ROLE).
    /// @param gpu_ GPUManagement (grant this contract its SLASHER_ROLE).
    /// @param context_ ContextManager (grant this contract its KERNEL_ROLE).
    /// @param treasury_ Receives protocol fees.
    constructor(
        address admin,
        ModelFileSystem models_,
        PromptScheduler scheduler_,
        GPUManagement gpu_,
        ContextManager context_,
        address treasury_
    ) KernelCore(admin, models_, scheduler_, gpu_, context_) {
        if (treasury_ == address(0)) revert InvalidParameter();
        extension = address(new KernelExtension(admin, models_, scheduler_, gpu_, context_));
        treasury = treasury_;
        Config memory c = Config({
            protocolFeeBps: 500,
            minoritySlashBps: 1000,
            silentSlashBps: 200,
            jailDuration: 1 hours,
            maxCallbackGas: 1_000_000,
            maxTokensLimit: 4096,
            callbackGasPrice: 1 gwei
        });
        config = c;
        emit ConfigSet(c);
        emit TreasurySet(treasury_);
    }

    // ------------------------------------------------------------------
    // Admin
    // ------------------------------------------------------------------

    /// @notice Sets the admin parameters (bounds in the Config docs). Committing and not revealing
    ///         never costs less than revealing a losing output: `minoritySlashBps >= silentSlashBps`.
    /// @param c The new parameters.
    function setConfig(Config calldata c) external onlyOwner {
        if (
            c.protocolFeeBps > 2000 || c.minoritySlashBps > BPS || c.silentSlashBps > c.minoritySlashBps
                || c.jailDuration > 365 days || c.maxCallbackGas > 10_000_000 || c.maxTokensLimit == 0
                || c.callbackGasPrice == 0
        ) revert InvalidParameter();
        config = c;
        emit ConfigSet(c);
    }

    /// @notice Sets the protocol-fee treasury.
    /// @param treasury_ The new treasury (non-zero).
    function setTreasury(address treasury_) external onlyOwner {
        if (treasury_ == address(0)) revert InvalidParameter();
        treasury = treasury_;
        emit TreasurySet(treasury_);
    }

    // ------------------------------------------------------------------
    // Requests
    // ------------------------------------------------------------------

    /// @inheritdoc IAIKernel
    function infer(Request calldata request) external payable returns (uint256 promptId) {
        Config memory c = config;
        _validate(request, c);
        RequestBlob.Meta memory meta;
        _quote(request, c, meta);
        uint256 fee = uint256(meta.nodeFee) + meta.protocolFee + meta.callbackFee;
        if (msg.value < fee) revert FeeTooLow(fee, msg.value);
        meta.requester = msg.sender;
        promptId = ++lastPromptId;
        (meta.contextIndex, meta.contextRoot) =
            context.appendPrompt(msg.sender, request.topic, promptId, request.input, request.inputHash);
        PromptScheduler.Snapshot memory snap = scheduler.snapshot(request.modelId, request.committeeSize);
        meta.draw = RequestBlob.Draw(uint64(block.number + 1), snap.length, snap.live, snap.version);
        _create(promptId, request, meta, fee);
        if (msg.value > fee) {
            (bool ok,) = msg.sender.call{value: msg.value - fee}("");
            if (!ok) revert TransferFailed();
        }
    }

    /// @inheritdoc IAIKernel
    function quote(uint256 modelId, uint32 maxTokens, uint16 committeeSize, uint32 callbackGasLimit)
        external
        view
        returns (uint256 fee)
    {
        Config memory c = config;
        uint256 nodeFee = uint256(models.activeFeePerToken(modelId)) * maxTokens * committeeSize;
        return nodeFee + nodeFee * c.protocolFeeBps / BPS + _callbackFee(callbackGasLimit, c);
    }

    // ------------------------------------------------------------------
    // Proof-of-Compute
    // ------------------------------------------------------------------

    /// @notice Draws and stores the current round's committee once its seed block is past.
    ///         Anyone may call; the first commit does it implicitly. A seed older than
    ///         SEED_WINDOW blocks is replaced by the next block's (and nothing is drawn).
    /// @param promptId The prompt.
    /// @return committee The drawn committee (empty when the seed was replaced).
    function draw(uint256 promptId) external returns (address[] memory committee) {
        Prompt memory pm = _prompts[promptId];
        if (pm.status != Status.Committing) {
            if (pm.status == Status.None) revert UnknownPrompt(promptId);
            revert CommitClosed(promptId);
        }
        if (_isDrawn(promptId, pm.round)) revert AlreadyDrawn(promptId, pm.round);
        return _drawNow(promptId, pm);
    }

    /// @notice Commits to an output: the upper 224 bits of `keccak256(abi.encode(promptId, round,
    ///         roundHash, salt, msg.sender))`, with the round hash of `reveal`, and in the low 32 bits
    ///         the request tag: the low 32 bits of `promptInfo(promptId).blob`. The tag makes a commit
    ///         transaction orphaned by a reorg and mined again fail when another request took the id.
    /// @param promptId The prompt.
    /// @param commitment The commitment (non-zero) with the request tag.
    function commit(uint256 promptId, bytes32 commitment) external {
        Prompt storage p = _prompts[promptId];
        Prompt memory pm = p;
        if (pm.status != Status.Committing || block.timestamp > pm.commitDeadline) {
            if (pm.status == Status.None) revert UnknownPrompt(promptId);
            revert CommitClosed(promptId);
        }
        if (commitment == bytes32(0)) revert ZeroCommitment();
        address[] memory committee = _loadCommittee(promptId, pm.round);
        if (committee.length == 0) committee = _drawNow(promptId, pm);
        if (committee.length == 0) return; // the seed expired and was replaced: commit again later
        if (!_contains(committee, msg.sender)) revert NotInCommittee(promptId, msg.sender);
        mapping(address => uint256) storage members = _members[promptId][pm.round];
        if (members[msg.sender] != 0) revert AlreadyCommitted(promptId, msg.sender);
        if (uint32(uint256(commitment)) != uint32(uint160(pm.blob))) revert RequestReplaced(promptId);
        uint8 commits = pm.commits + 1;
        members[msg.sender] = ((uint256(commitment) >> 32) << 32) | (uint256(commits) << 8) | COMMITTED;
        p.commits = commits;
        if (commits == committee.length) p.status = Status.Revealing;
        emit Committed(promptId, pm.round, msg.sender, commitment);
    }

    /// @notice Reveals the committed round hash. `output` may be empty (kept private) or the output
    ///         bytes with their trace; the reveal that completes a round which decides on this output
    ///         settles the prompt when it carries them, otherwise the output is awaited (`publish`).
    /// @param promptId The prompt.
    /// @param salt The salt used in the commitment.
    /// @param roundHash `keccak256(abi.encode(promptId, round, keccak256(abi.encode(keccak256(output), trace))))`.
    /// @param output The output bytes, or empty.
    /// @param trace The engine's hash of every logit it computed for this output (docs/protocol.md):
    ///        only a node that ran the model knows it, so an output cannot be guessed or copied.
    function reveal(uint256 promptId, bytes32 salt, bytes32 roundHash, bytes calldata output, bytes32 trace)
        external
        nonReentrant
    {
        Prompt storage p = _prompts[promptId];
        Prompt memory pm = p;
        if (!_revealOpen(pm)) {
            if (pm.status == Status.None) revert UnknownPrompt(promptId);
            revert RevealClosed(promptId);
        }
        if (output.length > MAX_OUTPUT_BYTES) revert OutputTooLarge(output.length);
        if (output.length != 0 && _roundHash(promptId, pm.round, _answer(output, trace)) != roundHash) {
            revert OutputMismatch(promptId);
        }
        _open(promptId, pm.round, salt, roundHash);
        uint8 reveals = pm.reveals + 1;
        p.reveals = reveals;
        if (reveals == pm.commits) _resolve(promptId, p, pm.round, output, trace);
    }

    /// @notice Supplies the output bytes a round decided on (status Publishing). Anyone may call.
    /// @param promptId The prompt.
    /// @param output The output whose round hash won.
    /// @param trace Its trace.
    function publish(uint256 promptId, bytes calldata output, bytes32 trace) external nonReentrant {
        Prompt storage p = _prompts[promptId];
        Prompt memory pm = p;
        if (pm.status != Status.Publishing || block.timestamp > pm.revealDeadline) {
            revert NotAwaited(promptId);
        }
        if (output.length == 0 || output.length > MAX_OUTPUT_BYTES) revert OutputTooLarge(output.length);
        (bool found, uint256 winner) = _decide(promptId, pm.round);
        if (!found || uint256(_roundHash(promptId, pm.round, _answer(output, trace))) >> 32 != winner) {
            revert NotAwaited(promptId);
        }
        _settle(promptId, p, pm.round, output, trace);
    }

    /// @notice Ends the current round once it can make no more progress: after the commit
    ///         deadline with too few commits for a decision, after the reveal deadline, or after
    ///         the publication deadline. Settles, escalates to a fresh committee, or refunds after
    ///         the last round. Anyone may call.
    /// @param promptId The prompt.
    function settle(uint256 promptId) external nonReentrant {
        Prompt storage p = _prompts[promptId];
        Prompt memory pm = p;
        if (pm.status == Status.None) revert UnknownPrompt(promptId);
        if (pm.status == Status.Settled || pm.status == Status.Refunded) revert AlreadyFinal(promptId);
        if (block.timestamp <= pm.commitDeadline) revert SettlementNotDue(promptId);
        if (pm.status == Status.Publishing) {
            if (block.timestamp <= pm.revealDeadline) revert SettlementNotDue(promptId);
            // The decided output was never published: its revealers withheld it.
            _failRound(promptId, p, pm.round, true);
            return;
        }
        if (!_isDrawn(promptId, pm.round)) {
            // Nobody drew or committed in time. If the seed can still be read, the committee is
            // known and answers for its silence; otherwise nobody can be blamed.
            RequestBlob.Hot memory h = RequestBlob.hot(pm.blob);
            Draw memory d = _currentDraw(promptId, pm, h);
            if (block.number <= d.seedBlock) revert SettlementNotDue(promptId);
            if (blockhash(d.seedBlock) == bytes32(0)) {
                scheduler.release(h.modelId);
                _failRound(promptId, p, pm.round, false);
                return;
            }
            _drawNow(promptId, pm);
        }
        uint256 size = _loadCommittee(promptId, pm.round).length;
        bool tooFew = pm.status == Status.Committing && pm.commits < size / 2 + 1;
        if (tooFew) {
            _failRound(promptId, p, pm.round, false);
            return;
        }
        if (block.timestamp <= pm.revealDeadline) revert SettlementNotDue(promptId);
        _resolve(promptId, p, pm.round, msg.data[0:0], 0);
    }

    /// @notice Sends the caller's ETH earnings.
    function withdraw() external nonReentrant {
        uint256 amount = _earnings[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        delete _earnings[msg.sender];
        emit Withdrawn(msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed();
    }

    // ------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------

    /// @inheritdoc IAIKernel
    function statusOf(uint256 promptId) external view returns (Status) {
        return _prompts[promptId].status;
    }

    /// @inheritdoc IAIKernel
    function resultOf(uint256 promptId) external view returns (bytes memory output) {
        if (_prompts[promptId].status != Status.Settled) revert NotSettled(promptId);
        return _loadResult(promptId);
    }

    /// @notice The hot state of a prompt: status, round, commit and reveal counts, deadlines.
    /// @param promptId The prompt.
    function promptInfo(uint256 promptId) external view returns (Prompt memory) {
        return _prompts[promptId];
    }

    /// @notice The block whose hash seeds the current round's draw, and whether it is drawn.
    /// @param promptId The prompt.
    function seedBlockOf(uint256 promptId) external view returns (uint64 seedBlock, bool drawn) {
        Prompt memory pm = _prompts[promptId];
        if (pm.status == Status.None) revert UnknownPrompt(promptId);
        return (_currentDraw(promptId, pm, RequestBlob.hot(pm.blob)).seedBlock, _isDrawn(promptId, pm.round));
    }

    /// @notice The context a prompt sees: entries [0, index) of its (requester, topic) chain, with
    ///         root `root`; `requester` is the account that submitted it.
    /// @param promptId The prompt.
    function contextOf(uint256 promptId)
        external
        view
        returns (address requester, uint64 index, bytes32 root)
    {
        address blob = _blob(promptId);
        RequestBlob.Hot memory h = RequestBlob.hot(blob);
        return (h.requester, h.contextIndex, h.contextRoot);
    }

    /// @notice A node's state in a round of a prompt.
    /// @param promptId The prompt.
    /// @param round The round.
    /// @param node The node.
    /// @return state 0 none, 1 committed, 2 revealed, 3 withheld a decided output, 4 declined.
    /// @return order 1-based commit order (0 if not committed).
    /// @return hashPrefix The upper 224 bits of the commitment (committed) or round hash (revealed).
    function memberState(uint256 promptId, uint8 round, address node)
        external
        view
        returns (uint8 state, uint8 order, bytes28 hashPrefix)
    {
        uint256 m = _members[promptId][round][node];
        return (uint8(m), uint8(m >> 8), bytes28(bytes32(m >> 32 << 32)));
    }

    /// @notice ETH an account can withdraw.
    /// @param account The account.
    function earningsOf(address account) external view returns (uint256) {
        return _earnings[account];
    }

    // ------------------------------------------------------------------
    // Entry points run by the extension
    // ------------------------------------------------------------------

    /// @notice Declines the current round before committing (KernelExtension.decline).
    /// @param promptId The prompt.
    function decline(uint256 promptId) external {
        promptId;
        _delegate(msg.data);
    }

    /// @inheritdoc IAIKernel
    function requestOf(uint256 promptId) external view returns (Request memory) {
        promptId;
        _delegateView();
    }

    /// @notice The committee of the prompt's current round (KernelExtension.committeeOf).
    /// @param promptId The prompt.
    function committeeOf(uint256 promptId) external view returns (address[] memory) {
        promptId;
        _delegateView();
    }

    /// @notice Only this contract's own view calls (`_delegateView`) reach the fallback: they run
    ///         the extension's code on this contract's storage, inside a static call.
    fallback() external {
        if (msg.sender != address(this) || msg.sig != VIEW_ROUTE) revert UnknownEntryPoint();
        _delegate(msg.data[4:]);
    }

    /// @dev Runs `data` as a call to the extension with this contract's storage and returns or
    ///      reverts with its result.
    function _delegate(bytes calldata data) internal {
        address ext = extension;
        assembly {
            calldatacopy(0, data.offset, data.length)
            let ok := delegatecall(gas(), ext, 0, data.length, 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
    }

    /// @dev A view cannot DELEGATECALL, so it calls itself statically through the fallback,
    ///      which does; the static context guarantees the extension writes nothing.
    function _delegateView() internal view {
        bytes4 route = VIEW_ROUTE;
        assembly {
            mstore(0, route)
            calldatacopy(4, 0, calldatasize())
            let ok := staticcall(gas(), address(), 0, add(calldatasize(), 4), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
    }
}
