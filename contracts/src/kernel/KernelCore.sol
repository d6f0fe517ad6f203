// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IAIKernel, IAIKernelCallback} from "../interfaces/IAIKernel.sol";
import {ModelFileSystem} from "./ModelFileSystem.sol";
import {PromptScheduler} from "./PromptScheduler.sol";
import {GPUManagement} from "./GPUManagement.sol";
import {ContextManager} from "./ContextManager.sol";
import {RequestBlob} from "./RequestBlob.sol";

/// @title KernelCore
/// @notice The kernel's state, parameters, events, errors and internal steps, shared by
///         DecentralizedInference (the kernel's address and entry points) and KernelExtension
///         (entry points that run by DELEGATECALL on the kernel's storage, so that the kernel's
///         own code stays under the 24,576-byte limit). Both inherit this one storage layout.
abstract contract KernelCore is Ownable, ReentrancyGuardTransient {
    // ------------------------------------------------------------------
    // Types
    // ------------------------------------------------------------------

    /// @notice Hot state of a prompt, one storage slot.
    struct Prompt {
        address blob;
        IAIKernel.Status status;
        uint8 round;
        uint8 commits;
        uint8 reveals;
        uint32 commitDeadline;
        uint32 revealDeadline;
    }

    /// @notice Admin parameters, one storage slot.
    /// @param protocolFeeBps Protocol fee on top of the node fee, to the treasury (<= 2000).
    /// @param minoritySlashBps Stake share slashed from a node whose revealed output is not the final
    ///        answer, or that committed and did not reveal.
    /// @param silentSlashBps Stake share slashed from a committee node that did not commit.
    /// @param jailDuration Seconds a punished node stays out of the pools.
    /// @param maxCallbackGas Highest callbackGasLimit a request may ask for.
    /// @param maxTokensLimit Highest maxTokens a request may ask for.
    /// @param callbackGasPrice Floor price (wei per gas) of the callback gas a requester prepays;
    ///        the price used is the larger of this and twice the block's base fee.
    struct Config {
        uint16 protocolFeeBps;
        uint16 minoritySlashBps;
        uint16 silentSlashBps;
        uint32 jailDuration;
        uint32 maxCallbackGas;
        uint32 maxTokensLimit;
        uint64 callbackGasPrice;
    }

    /// @notice A round's draw: the scheduler snapshot and the block whose hash seeds it.
    struct Draw {
        uint64 seedBlock;
        uint32 length;
        uint32 live;
        uint48 version;
        uint8 round;
    }

    // ------------------------------------------------------------------
    // Constants and immutables
    // ------------------------------------------------------------------

    /// @notice Largest revealed output, in bytes.
    uint256 public constant MAX_OUTPUT_BYTES = 8192;
    /// @notice Largest committee.
    uint256 public constant MAX_COMMITTEE = 15;
    /// @notice Gas kept back besides the callback's limit when calling it.
    uint256 public constant CALLBACK_OVERHEAD = 10_000;
    /// @notice Gas forwarded when pushing a refund to the requester (falls back to a credit).
    uint256 public constant REFUND_GAS = 30_000;
    /// @notice Blocks whose hash the EVM keeps (`BLOCKHASH`); a seed older than this is re-drawn.
    uint256 public constant SEED_WINDOW = 256;
    uint256 internal constant BPS = 10_000;
    uint256 internal constant COMMITTED = 1;
    uint256 internal constant REVEALED = 2;
    uint256 internal constant WITHHELD = 3;
    uint256 internal constant DECLINED = 4;
    uint256 internal constant RESULT_DOMAIN = uint256(keccak256("aikernel.result"));
    uint256 internal constant COMMITTEE_DOMAIN = uint256(keccak256("aikernel.committee"));
    /// @dev The committee slot of a round whose seed was replaced (no members, `_draws` applies).
    uint256 internal constant RESEEDED = 1;

    /// @notice The model registry.
    ModelFileSystem public immutable models;
    /// @notice Committee draws and deadlines.
    PromptScheduler public immutable scheduler;
    /// @notice Node stakes, slashing and jailing.
    GPUManagement public immutable gpu;
    /// @notice Context chains.
    ContextManager public immutable context;

    // ------------------------------------------------------------------
    // Storage
    // ------------------------------------------------------------------

    /// @notice Current admin parameters.
    Config public config;
    /// @notice Receives protocol fees (credited to its `withdraw` balance at each settlement).
    address public treasury;
    /// @notice Id of the latest prompt.
    uint256 public lastPromptId;
    mapping(uint256 => Prompt) internal _prompts;
    /// @dev Draws of escalation rounds and re-seeded round-0 draws (round 0's is in the blob).
    mapping(uint256 => Draw) internal _draws;
    mapping(uint256 => mapping(uint256 => mapping(address => uint256))) internal _members;
    mapping(address => uint256) internal _earnings;

    // ------------------------------------------------------------------
    // Events
    // ------------------------------------------------------------------

    /// @notice A round was created; its committee is drawn with the hash of block `seedBlock`
    ///         (anyone may call `draw` once that block is past; the first commit does it too).
    event DrawScheduled(
        uint256 indexed promptId, uint8 round, uint64 seedBlock, uint32 commitDeadline, uint32 revealDeadline
    );
    /// @notice A round's committee was drawn and stored (its deadlines are DrawScheduled's).
    event CommitteeAssigned(uint256 indexed promptId, uint8 round, address[] nodes);
    /// @notice A committee member committed.
    event Committed(uint256 indexed promptId, uint8 round, address indexed node, bytes32 commitment);
    /// @notice A committee member declined the round (it cannot compute the prompt in time).
    event Declined(uint256 indexed promptId, uint8 round, address indexed node);
    /// @notice A committee member revealed its round-bound output hash.
    event Revealed(uint256 indexed promptId, uint8 round, address indexed node, bytes32 indexed roundHash);
    /// @notice A round decided on an output hash; its bytes are awaited until `deadline`.
    event OutputAwaited(uint256 indexed promptId, uint8 round, bytes32 roundHashPrefix, uint32 deadline);
    /// @notice A round ended without a decision and the prompt escalates (or is refunded).
    event RoundFailed(uint256 indexed promptId, uint8 round, uint8 commits, uint8 reveals);
    /// @notice A node whose output is the final answer was credited its share of the fee.
    event RewardPaid(uint256 indexed promptId, address indexed node, uint256 eth);
    /// @notice An account withdrew its ETH earnings.
    event Withdrawn(address indexed account, uint256 eth);
    /// @notice A refund could not be pushed and was credited to `withdraw`.
    event RefundCredited(uint256 indexed promptId, address indexed requester, uint256 amount);
    /// @notice Admin parameters changed.
    event ConfigSet(Config config);
    /// @notice The treasury changed.
    event TreasurySet(address treasury);

    // ------------------------------------------------------------------
    // Errors
    // ------------------------------------------------------------------

    // Request shape errors (InvalidCommitteeSize, InvalidMaxTokens, InvalidInput, InputTooLarge,
    // InvalidSchema, UnknownModel, ModelInactive) come from ModelFileSystem.checkRequest.
    /// @notice callbackGasLimit above the limit.
    error CallbackGasTooHigh(uint256 gasLimit, uint256 limit);
    /// @notice The callback is neither zero nor the requester.
    error CallbackNotRequester(address callback, address requester);
    /// @notice msg.value below the quote.
    error FeeTooLow(uint256 required, uint256 provided);
    /// @notice The fee does not fit the accounting types.
    error FeeTooHigh(uint256 fee);
    /// @notice No prompt with this id.
    error UnknownPrompt(uint256 promptId);
    /// @notice The round's seed block is not past yet; its committee cannot be drawn.
    error SeedNotReady(uint256 promptId, uint256 seedBlock);
    /// @notice The round's committee is already drawn.
    error AlreadyDrawn(uint256 promptId, uint8 round);
    /// @notice The prompt is not accepting commits.
    error CommitClosed(uint256 promptId);
    /// @notice The prompt is not accepting reveals now.
    error RevealClosed(uint256 promptId);
    /// @notice The caller is not in the prompt's current committee.
    error NotInCommittee(uint256 promptId, address node);
    /// @notice A zero commitment.
    error ZeroCommitment();
    /// @notice The commitment's request tag (its low 32 bits) is not this prompt's request: it was
    ///         made for a request a reorg replaced under the same id.
    error RequestReplaced(uint256 promptId);
    /// @notice The caller already committed this round.
    error AlreadyCommitted(uint256 promptId, address node);
    /// @notice The caller has no commitment this round.
    error NotCommitted(uint256 promptId, address node);
    /// @notice The caller already revealed this round.
    error AlreadyRevealed(uint256 promptId, address node);
    /// @notice (salt, roundHash) do not open the caller's commitment.
    error InvalidReveal(uint256 promptId, address node);
    /// @notice The output bytes do not hash to the given round hash.
    error OutputMismatch(uint256 promptId);
    /// @notice The output is not the decided one, or no output is awaited.
    error NotAwaited(uint256 promptId);
    /// @notice The output is empty or longer than MAX_OUTPUT_BYTES.
    error OutputTooLarge(uint256 length);
    /// @notice The prompt is already settled or refunded.
    error AlreadyFinal(uint256 promptId);
    /// @notice Settlement is not possible yet.
    error SettlementNotDue(uint256 promptId);
    /// @notice The prompt is not settled.
    error NotSettled(uint256 promptId);
    /// @notice Too little gas left to give the callback its full limit; retry with more gas.
    error InsufficientGasForCallback(uint256 needed, uint256 left);
    /// @notice Nothing to withdraw.
    error NothingToWithdraw();
    /// @notice An ETH transfer failed.
    error TransferFailed();
    /// @notice An admin parameter out of bounds.
    error InvalidParameter();

    /// @param admin The owner: sets the parameters and the treasury (`transferOwnership`).
    /// @param models_ ModelFileSystem.
    /// @param scheduler_ PromptScheduler.
    /// @param gpu_ GPUManagement.
    /// @param context_ ContextManager.
    constructor(
        address admin,
        ModelFileSystem models_,
        PromptScheduler scheduler_,
        GPUManagement gpu_,
        ContextManager context_
    ) Ownable(admin) {
        models = models_;
        scheduler = scheduler_;
        gpu = gpu_;
        context = context_;
    }

    // ------------------------------------------------------------------
    // Internal: requests
    // ------------------------------------------------------------------

    /// @dev The checks that involve the requester; the request's shape is checked by the model
    ///      registry (`ModelFileSystem.checkRequest`) when the fee is quoted.
    function _validate(IAIKernel.Request calldata r, Config memory c) internal view {
        if (r.callback != address(0)) {
            if (r.callback != msg.sender) revert CallbackNotRequester(r.callback, msg.sender);
            if (r.callbackGasLimit > c.maxCallbackGas) {
                revert CallbackGasTooHigh(r.callbackGasLimit, c.maxCallbackGas);
            }
        }
    }

    /// @dev Writes the three parts of a request's fee and its compute time into `meta`; reverts
    ///      with FeeTooHigh when the total does not fit the accounting types.
    function _quote(IAIKernel.Request calldata r, Config memory c, RequestBlob.Meta memory meta)
        internal
        view
    {
        ModelFileSystem.Shape memory shape = ModelFileSystem.Shape(
            r.committeeSize,
            r.maxTokens,
            c.maxTokensLimit,
            r.input.length,
            r.inputHash != 0,
            r.extraContext.length
        );
        (uint128 feePerToken, uint32 work) = models.checkRequest(r.modelId, r.schema, shape);
        uint256 node = uint256(feePerToken) * r.maxTokens * r.committeeSize;
        uint256 protocol = node * c.protocolFeeBps / BPS;
        uint256 callback = r.callback == address(0) ? 0 : _callbackFee(r.callbackGasLimit, c);
        uint256 total = node + protocol + callback;
        if (total > type(uint96).max) revert FeeTooHigh(total);
        (meta.nodeFee, meta.protocolFee, meta.callbackFee, meta.workSeconds) =
        (uint96(node), uint96(protocol), uint96(callback), work);
    }

    /// @dev Stores the prompt's record and hot state and announces its round-0 draw.
    function _create(
        uint256 promptId,
        IAIKernel.Request calldata request,
        RequestBlob.Meta memory meta,
        uint256 fee
    ) internal {
        (uint32 commitDeadline, uint32 revealDeadline) = _deadlines(meta.workSeconds);
        _prompts[promptId] = Prompt({
            blob: RequestBlob.write(request, meta, promptId),
            status: IAIKernel.Status.Committing,
            round: 0,
            commits: 0,
            reveals: 0,
            commitDeadline: commitDeadline,
            revealDeadline: revealDeadline
        });
        emit IAIKernel.PromptSubmitted(promptId, msg.sender, request.modelId, request.topic, fee);
        emit DrawScheduled(promptId, 0, meta.draw.seedBlock, commitDeadline, revealDeadline);
    }

    /// @dev The callback's gas at the larger of the configured floor and twice the base fee.
    function _callbackFee(uint256 gasLimit, Config memory c) internal view returns (uint256) {
        if (gasLimit == 0) return 0;
        uint256 price = 2 * block.basefee;
        if (price < c.callbackGasPrice) price = c.callbackGasPrice;
        return (gasLimit + CALLBACK_OVERHEAD) * price;
    }

    /// @dev A round's deadlines: the commit window is the scheduler's (latency) plus the request's
    ///      compute time at the model's registered speed.
    function _deadlines(uint32 workSeconds)
        internal
        view
        returns (uint32 commitDeadline, uint32 revealDeadline)
    {
        (uint32 commitWindow, uint32 revealWindow,) = scheduler.timing();
        commitDeadline = uint32(block.timestamp) + commitWindow + workSeconds;
        revealDeadline = commitDeadline + revealWindow;
    }

    // ------------------------------------------------------------------
    // Internal: draws
    // ------------------------------------------------------------------

    /// @dev The draw seed: the seed block's hash mixed with the prompt's identity and round.
    function _seed(bytes32 blockHash, uint256 promptId, Prompt memory pm) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode(blockHash, promptId, pm.blob, pm.round)));
    }

    /// @dev Round 0's draw is in the blob unless its seed was replaced; later rounds' in `_draws`.
    function _currentDraw(uint256 promptId, Prompt memory pm, RequestBlob.Hot memory h)
        internal
        view
        returns (Draw memory d)
    {
        if (pm.round != 0 || _committeeHead(promptId, 0) == RESEEDED) return _draws[promptId];
        RequestBlob.Draw memory b = h.draw;
        d = Draw(b.seedBlock, b.length, b.live, b.version, 0);
    }

    function _snapshot(Draw memory d) internal pure returns (PromptScheduler.Snapshot memory) {
        return PromptScheduler.Snapshot(d.length, d.live, d.version);
    }

    /// @dev The round's committee size: round 0 has the requested size, escalations the
    ///      scheduler's escalation size.
    function _roundSize(Prompt memory pm, RequestBlob.Hot memory h) internal view returns (uint256) {
        return pm.round == 0 ? h.committeeSize : scheduler.escalationSize(h.modelId, h.committeeSize);
    }

    /// @dev Draws and stores the round's committee; re-seeds (returning empty) when the seed block's
    ///      hash is no longer available.
    function _drawNow(uint256 promptId, Prompt memory pm) internal returns (address[] memory committee) {
        RequestBlob.Hot memory h = RequestBlob.hot(pm.blob);
        Draw memory d = _currentDraw(promptId, pm, h);
        if (block.number <= d.seedBlock) revert SeedNotReady(promptId, d.seedBlock);
        bytes32 bh = blockhash(d.seedBlock);
        if (bh == bytes32(0)) {
            d.seedBlock = uint64(block.number + 1);
            d.round = pm.round;
            _draws[promptId] = d;
            _setCommitteeHead(promptId, pm.round, RESEEDED);
            emit DrawScheduled(promptId, pm.round, d.seedBlock, pm.commitDeadline, pm.revealDeadline);
            return committee;
        }
        committee = scheduler.draw(
            h.modelId, _roundSize(pm, h), _seed(bh, promptId, pm), _snapshot(d), _excluded(promptId, pm.round)
        );
        _storeCommittee(promptId, pm.round, committee);
        emit CommitteeAssigned(promptId, pm.round, committee);
    }

    // ------------------------------------------------------------------
    // Internal: rounds
    // ------------------------------------------------------------------

    /// @dev An answer: the output and the trace of the computation that produced it.
    function _answer(bytes calldata output, bytes32 trace) internal pure returns (bytes32) {
        return keccak256(abi.encode(keccak256(output), trace));
    }

    function _roundHash(uint256 promptId, uint256 round, bytes32 answer) internal pure returns (bytes32) {
        return keccak256(abi.encode(promptId, round, answer));
    }

    /// @dev Checks (salt, roundHash) against the caller's commitment; stores the round-hash prefix.
    function _open(uint256 promptId, uint8 round, bytes32 salt, bytes32 roundHash) internal {
        mapping(address => uint256) storage members = _members[promptId][round];
        uint256 m = members[msg.sender];
        if (m & 0xff != COMMITTED) {
            if (m == 0) revert NotCommitted(promptId, msg.sender);
            revert AlreadyRevealed(promptId, msg.sender);
        }
        bytes32 c = keccak256(abi.encode(promptId, round, roundHash, salt, msg.sender));
        if (uint256(c) >> 32 != m >> 32) revert InvalidReveal(promptId, msg.sender);
        members[msg.sender] = ((uint256(roundHash) >> 32) << 32) | (m & 0xff00) | REVEALED;
        emit Revealed(promptId, round, msg.sender, roundHash);
    }

    /// @dev A committee member's entry into the current round (commit or decline): the round is
    ///      committing, the caller was drawn (the committee is drawn now if needed) and has not
    ///      committed or declined. `k` is 0 when the seed expired and was replaced.
    function _enter(uint256 promptId)
        internal
        returns (Prompt storage p, Prompt memory pm, uint256 k, mapping(address => uint256) storage members)
    {
        p = _prompts[promptId];
        pm = p;
        if (pm.status != IAIKernel.Status.Committing || block.timestamp > pm.commitDeadline) {
            if (pm.status == IAIKernel.Status.None) revert UnknownPrompt(promptId);
            revert CommitClosed(promptId);
        }
        address[] memory committee = _loadCommittee(promptId, pm.round);
        if (committee.length == 0) committee = _drawNow(promptId, pm);
        members = _members[promptId][pm.round];
        k = committee.length;
        if (k == 0) return (p, pm, 0, members);
        if (!_contains(committee, msg.sender)) revert NotInCommittee(promptId, msg.sender);
        if (members[msg.sender] != 0) revert AlreadyCommitted(promptId, msg.sender);
    }

    function _revealOpen(Prompt memory pm) internal view returns (bool) {
        if (block.timestamp > pm.revealDeadline) return false;
        return pm.status == IAIKernel.Status.Revealing
            || (pm.status == IAIKernel.Status.Committing && block.timestamp > pm.commitDeadline);
    }

    /// @dev The round's decision, if any: round 0 needs every revealed hash equal and a majority
    ///      of the committee revealed; escalations need a strict majority of the committee.
    function _decide(uint256 promptId, uint8 round) internal view returns (bool found, uint256 prefix) {
        address[] memory committee = _loadCommittee(promptId, round);
        mapping(address => uint256) storage members = _members[promptId][round];
        uint256 k = committee.length;
        uint256[] memory revealed = new uint256[](k);
        uint256 n;
        for (uint256 i; i < k; ++i) {
            uint256 s = members[committee[i]];
            if (s & 0xff == REVEALED) revealed[n++] = s >> 32;
        }
        if (n <= k / 2) return (false, 0);
        if (round == 0) {
            for (uint256 i = 1; i < n; ++i) {
                if (revealed[i] != revealed[0]) return (false, 0);
            }
            return (true, revealed[0]);
        }
        for (uint256 i; i < n; ++i) {
            uint256 same;
            for (uint256 j; j < n; ++j) {
                if (revealed[j] == revealed[i]) ++same;
            }
            if (same > k / 2) return (true, revealed[i]);
        }
    }

    function _resolve(uint256 promptId, Prompt storage p, uint8 round, bytes calldata output, bytes32 trace)
        internal
    {
        (bool found, uint256 winner) = _decide(promptId, round);
        if (!found) {
            _failRound(promptId, p, round, false);
        } else if (
            output.length != 0 && uint256(_roundHash(promptId, round, _answer(output, trace))) >> 32 == winner
        ) {
            _settle(promptId, p, round, output, trace);
        } else {
            (, uint32 revealWindow,) = scheduler.timing();
            uint32 deadline = uint32(block.timestamp) + revealWindow;
            p.status = IAIKernel.Status.Publishing;
            p.revealDeadline = deadline;
            emit OutputAwaited(promptId, round, bytes28(bytes32(winner << 32)), deadline);
        }
    }

    /// @dev Who revealed the final answer (in any round) and who revealed something else.
    struct Verdict {
        address[] winners;
        address[] losers;
        uint256 nw;
        uint256 nl;
    }

    /// @dev Final settlement: judges every revealer of every round against the answer, punishes the
    ///      final round's silent members, pays, stores the result and calls back.
    function _settle(uint256 promptId, Prompt storage p, uint8 round, bytes calldata output, bytes32 trace)
        internal
    {
        p.status = IAIKernel.Status.Settled;
        RequestBlob.Hot memory h = RequestBlob.hot(p.blob);
        Config memory c = config;
        Verdict memory v = _judge(promptId, round, _answer(output, trace), c);
        _pay(promptId, h, v.winners);
        for (uint256 i; i < v.nl; ++i) {
            _punish(v.losers[i], c.minoritySlashBps, 1, c);
        }
        _storeResult(promptId, output);
        emit IAIKernel.PromptSettled(promptId, keccak256(output), output);
        bool success = output.length % 32 != 4;
        if (success) context.appendResult(h.requester, h.topic, promptId, output);
        if (h.callback != address(0)) _deliver(promptId, h, success, output);
    }

    function _judge(uint256 promptId, uint8 round, bytes32 answer, Config memory c)
        internal
        returns (Verdict memory v)
    {
        v.winners = new address[](MAX_COMMITTEE * (uint256(round) + 1));
        v.losers = new address[](v.winners.length);
        for (uint8 r; r <= round; ++r) {
            address[] memory committee = _loadCommittee(promptId, r);
            mapping(address => uint256) storage members = _members[promptId][r];
            uint256 right = uint256(_roundHash(promptId, r, answer)) >> 32;
            for (uint256 i; i < committee.length; ++i) {
                uint256 s = members[committee[i]];
                if (s & 0xff == REVEALED) {
                    if (s >> 32 == right) v.winners[v.nw++] = committee[i];
                    else v.losers[v.nl++] = committee[i];
                } else if (r == round) {
                    _punishSilent(committee[i], s, c);
                }
            }
        }
        // A node that revealed a wrong output in any round earns nothing (it may have been drawn
        // again, and answered right, when the pool was too small to exclude it).
        address[] memory w = v.winners;
        uint256 nw;
        for (uint256 i; i < v.nw; ++i) {
            if (!_contains(v.losers, v.nl, w[i])) w[nw++] = w[i];
        }
        assembly ("memory-safe") {
            mstore(w, nw)
        }
    }

    /// @dev Splits the node fee equally among `winners` (dust to the first), credits the protocol
    ///      fee to the treasury and the callback's prepaid gas to the settler (all pulled with
    ///      `withdraw`).
    function _pay(uint256 promptId, RequestBlob.Hot memory h, address[] memory winners) internal {
        _earnings[treasury] += h.protocolFee;
        uint256 n = winners.length;
        uint256 share = h.nodeFee / n;
        for (uint256 i; i < n; ++i) {
            uint256 amount = i == 0 ? h.nodeFee - share * (n - 1) : share;
            _earnings[winners[i]] += amount;
            emit RewardPaid(promptId, winners[i], amount);
        }
        // The settler (this transaction's sender) paid for the callback's gas.
        if (h.callbackFee != 0) _earnings[msg.sender] += h.callbackFee;
    }

    /// @dev A member that did not commit is slashed `silentSlashBps`; one that committed and did
    ///      not reveal (or withheld a decided output) as much as a wrong answer.
    function _punishSilent(address node, uint256 state, Config memory c) internal {
        if (state == DECLINED) return;
        uint256 bps = state & 0xff == 0 ? c.silentSlashBps : c.minoritySlashBps;
        _punish(node, bps, 2, c);
    }

    /// @dev Slashes and jails; never reverts. The unburned part of a slash goes to the treasury,
    ///      not to the winners: crediting every winner from every loser would cost settlement
    ///      O(losers x winners) stake updates, which a few colluding losers could push past the
    ///      block gas limit and so keep a prompt from ever settling.
    function _punish(address node, uint256 bps, uint8 reason, Config memory c) internal {
        try gpu.punish(node, bps, new address[](0), reason, c.jailDuration) {} catch {}
    }

    /// @dev Ends a round without a decision. After an early end (too few commits) only the members
    ///      that did not commit are punished; after a full round the committed-but-silent ones too,
    ///      and after a failed publication the decided output's revealers. Revealers are otherwise
    ///      judged when the prompt settles. Then the next round is scheduled, or the fee refunded.
    function _failRound(uint256 promptId, Prompt storage p, uint8 round, bool withheld) internal {
        Config memory c = config;
        Prompt memory pm = p;
        emit RoundFailed(promptId, round, pm.commits, pm.reveals);
        address[] memory committee = _loadCommittee(promptId, round);
        mapping(address => uint256) storage members = _members[promptId][round];
        bool full = block.timestamp > pm.revealDeadline || pm.status != IAIKernel.Status.Committing;
        (, uint256 winner) = withheld ? _decide(promptId, round) : (false, 0);
        for (uint256 i; i < committee.length; ++i) {
            address node = committee[i];
            uint256 s = members[node];
            if (s & 0xff == REVEALED) {
                if (withheld && s >> 32 == winner) {
                    // It had the decided output and did not publish it: it is no longer judged later.
                    members[node] = (s & ~uint256(0xff)) | WITHHELD;
                    _punish(node, c.minoritySlashBps, 2, c);
                }
            } else if (s == 0 || full) {
                _punishSilent(node, s, c);
            }
        }
        _nextRound(promptId, p, round);
    }

    function _nextRound(uint256 promptId, Prompt storage p, uint8 round) internal {
        if (round + 1 < scheduler.maxRounds()) {
            RequestBlob.Hot memory h = RequestBlob.hot(p.blob);
            try scheduler.snapshot(h.modelId, 1) returns (PromptScheduler.Snapshot memory snap) {
                uint8 next = round + 1;
                uint64 seedBlock = uint64(block.number + 1);
                _draws[promptId] = Draw(seedBlock, snap.length, snap.live, snap.version, next);
                (uint32 commitDeadline, uint32 revealDeadline) = _deadlines(h.workSeconds);
                p.round = next;
                p.commits = 0;
                p.reveals = 0;
                p.status = IAIKernel.Status.Committing;
                p.commitDeadline = commitDeadline;
                p.revealDeadline = revealDeadline;
                emit DrawScheduled(promptId, next, seedBlock, commitDeadline, revealDeadline);
                return;
            } catch {}
        }
        _refund(promptId, p);
    }

    function _refund(uint256 promptId, Prompt storage p) internal {
        p.status = IAIKernel.Status.Refunded;
        RequestBlob.Hot memory h = RequestBlob.hot(p.blob);
        uint256 amount = uint256(h.nodeFee) + h.protocolFee + h.callbackFee;
        emit IAIKernel.PromptRefunded(promptId, h.requester, amount);
        if (amount == 0) return;
        (bool ok,) = h.requester.call{value: amount, gas: REFUND_GAS}("");
        if (!ok) {
            _earnings[h.requester] += amount;
            emit RefundCredited(promptId, h.requester, amount);
        }
    }

    function _deliver(uint256 promptId, RequestBlob.Hot memory h, bool success, bytes calldata output)
        internal
    {
        bytes memory data = abi.encodeCall(IAIKernelCallback.onAIResult, (promptId, success, output));
        uint256 gasLimit = h.callbackGasLimit;
        uint256 needed = gasLimit + gasLimit / 63 + CALLBACK_OVERHEAD;
        if (gasleft() < needed) revert InsufficientGasForCallback(needed, gasleft());
        address target = h.callback;
        bool ok;
        assembly ("memory-safe") {
            ok := call(gasLimit, target, 0, add(data, 32), mload(data), 0, 0)
        }
        emit IAIKernel.CallbackDelivered(promptId, target, ok);
    }

    // ------------------------------------------------------------------
    // Internal: raw storage (committees, results)
    // ------------------------------------------------------------------

    function _base(uint256 promptId, uint256 domain) internal pure returns (uint256 base) {
        assembly ("memory-safe") {
            mstore(0x00, promptId)
            mstore(0x20, domain)
            base := keccak256(0x00, 0x40)
        }
    }

    /// @dev Results live at raw slots from base = keccak256(promptId, RESULT_DOMAIN); slot `base`
    ///      holds length + 1, except for the common one-word (32-byte) output, where it stays 0.
    function _storeResult(uint256 promptId, bytes calldata output) internal {
        uint256 base = _base(promptId, RESULT_DOMAIN);
        uint256 len = output.length;
        assembly ("memory-safe") {
            if iszero(eq(len, 32)) { sstore(base, add(len, 1)) }
            for { let i := 0 } lt(i, len) { i := add(i, 32) } {
                sstore(add(add(base, 1), shr(5, i)), calldataload(add(output.offset, i)))
            }
        }
    }

    function _loadResult(uint256 promptId) internal view returns (bytes memory output) {
        uint256 base = _base(promptId, RESULT_DOMAIN);
        uint256 len;
        assembly ("memory-safe") {
            len := sload(base)
        }
        len = len == 0 ? 32 : len - 1;
        output = new bytes(len);
        assembly ("memory-safe") {
            for { let i := 0 } lt(i, len) { i := add(i, 32) } {
                mstore(add(add(output, 32), i), sload(add(add(base, 1), shr(5, i))))
            }
            // Bytes past `len` in the last word were stored as calldata padding; clear them.
            mstore(add(add(output, 32), len), 0)
        }
    }

    // ------------------------------------------------------------------
    // Internal: reads
    // ------------------------------------------------------------------

    /// @dev A round's committee lives at raw slots from keccak256(promptId, COMMITTEE_DOMAIN +
    ///      round): one size byte, then 20 bytes per member (two slots for a committee of three).
    function _committeeBase(uint256 promptId, uint256 round) internal pure returns (uint256) {
        return _base(promptId, COMMITTEE_DOMAIN + round);
    }

    function _committeeHead(uint256 promptId, uint256 round) internal view returns (uint256 head) {
        uint256 base = _committeeBase(promptId, round);
        assembly ("memory-safe") {
            head := sload(base)
        }
    }

    function _setCommitteeHead(uint256 promptId, uint256 round, uint256 head) internal {
        uint256 base = _committeeBase(promptId, round);
        assembly ("memory-safe") {
            sstore(base, head)
        }
    }

    function _isDrawn(uint256 promptId, uint8 round) internal view returns (bool) {
        return _committeeHead(promptId, round) >> 248 != 0;
    }

    function _storeCommittee(uint256 promptId, uint256 round, address[] memory committee) internal {
        uint256 k = committee.length;
        uint256 len = 1 + 20 * k;
        // Room for the last member's 32-byte store; members are written in order, each store's
        // trailing zeros overwritten by the next member.
        bytes memory packed = new bytes(len + 32);
        packed[0] = bytes1(uint8(k));
        for (uint256 i; i < k; ++i) {
            address a = committee[i];
            assembly ("memory-safe") {
                mstore(add(add(packed, 33), mul(20, i)), shl(96, a))
            }
        }
        uint256 base = _committeeBase(promptId, round);
        assembly ("memory-safe") {
            for { let i := 0 } lt(i, len) { i := add(i, 32) } {
                sstore(add(base, shr(5, i)), mload(add(add(packed, 32), i)))
            }
        }
    }

    /// @dev The stored committee of a round (empty until drawn).
    function _loadCommittee(uint256 promptId, uint256 round)
        internal
        view
        returns (address[] memory committee)
    {
        uint256 base = _committeeBase(promptId, round);
        uint256 k = _committeeHead(promptId, round) >> 248;
        uint256 len = 1 + 20 * k;
        bytes memory packed = new bytes(len + 32);
        assembly ("memory-safe") {
            for { let i := 0 } lt(i, len) { i := add(i, 32) } {
                mstore(add(add(packed, 32), i), sload(add(base, shr(5, i))))
            }
        }
        committee = new address[](k);
        for (uint256 i; i < k; ++i) {
            uint256 w;
            assembly ("memory-safe") {
                w := mload(add(add(packed, 33), mul(20, i)))
            }
            committee[i] = address(uint160(w >> 96));
        }
    }

    /// @dev Every earlier round's members (escalations draw fresh nodes when the pool allows).
    function _excluded(uint256 promptId, uint8 round) internal view returns (address[] memory ex) {
        ex = new address[](MAX_COMMITTEE * uint256(round));
        uint256 n;
        for (uint8 r; r < round; ++r) {
            address[] memory c = _loadCommittee(promptId, r);
            for (uint256 i; i < c.length; ++i) {
                ex[n++] = c[i];
            }
        }
        assembly ("memory-safe") {
            mstore(ex, n)
        }
    }

    function _blob(uint256 promptId) internal view returns (address blob) {
        blob = _prompts[promptId].blob;
        if (blob == address(0)) revert UnknownPrompt(promptId);
    }

    function _contains(address[] memory list, address a) internal pure returns (bool) {
        return _contains(list, list.length, a);
    }

    function _contains(address[] memory list, uint256 len, address a) internal pure returns (bool) {
        for (uint256 i; i < len; ++i) {
            if (list[i] == a) return true;
        }
        return false;
    }
}
