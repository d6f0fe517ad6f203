// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IAIKernel, IAIKernelCallback} from "../interfaces/IAIKernel.sol";
import {EAI} from "../token/EAI.sol";
import {ModelFileSystem} from "./ModelFileSystem.sol";
import {PromptScheduler} from "./PromptScheduler.sol";
import {GPUManagement} from "./GPUManagement.sol";
import {ContextManager} from "./ContextManager.sol";
import {RequestBlob} from "./RequestBlob.sol";
import {Schema} from "../lib/Schema.sol";

/// @title DecentralizedInference
/// @notice The dapp-facing kernel: takes requests and fees, runs Proof-of-Compute (commit, reveal,
///         strict majority) over the committee the PromptScheduler picks, pays the majority, slashes
///         the minority and the silent, escalates failed rounds and refunds after the last one, and
///         delivers the result to the consumer's callback. See docs/protocol.md and docs/contracts.md.
/// @dev Storage per prompt: one packed slot (`Prompt`), the immutable request in a code blob
///      (RequestBlob), one slot per committee member (commitment, then output hash), and the
///      result bytes. Payments are pulled (`withdraw`); settlement never sends ETH to nodes.
contract DecentralizedInference is IAIKernel, AccessControl, ReentrancyGuardTransient {
    // ------------------------------------------------------------------
    // Types
    // ------------------------------------------------------------------

    /// @notice Hot state of a prompt, one storage slot.
    struct Prompt {
        address blob;
        Status status;
        uint8 round;
        uint8 commits;
        uint8 reveals;
        uint32 commitDeadline;
        uint32 revealDeadline;
    }

    /// @notice Admin parameters, one storage slot.
    /// @param protocolFeeBps Protocol fee on top of the node fee, to the treasury (<= 2000).
    /// @param firstShareBps Share of fee and reward for the earliest majority committer (5000..10000).
    /// @param minoritySlashBps Stake share slashed from a node that revealed a losing output.
    /// @param silentSlashBps Stake share slashed from a committee node that did not reveal.
    /// @param jailDuration Seconds a punished node stays out of the pools.
    /// @param maxCallbackGas Highest callbackGasLimit a request may ask for.
    /// @param maxTokensLimit Highest maxTokens a request may ask for.
    struct Config {
        uint16 protocolFeeBps;
        uint16 firstShareBps;
        uint16 minoritySlashBps;
        uint16 silentSlashBps;
        uint32 jailDuration;
        uint32 maxCallbackGas;
        uint32 maxTokensLimit;
    }

    /// @notice What a node or requester can withdraw.
    struct Earnings {
        uint128 eth;
        uint128 eai;
    }

    /// @dev One settlement's fee and reward shares.
    struct Shares {
        uint256 ethFirst;
        uint256 ethRest;
        uint256 eaiFirst;
        uint256 eaiRest;
    }

    /// @dev Counters written on the hot path, one slot.
    struct Globals {
        uint64 lastPromptId;
        uint96 emitted;
        uint96 treasuryAccrued;
    }

    // ------------------------------------------------------------------
    // Constants and immutables
    // ------------------------------------------------------------------

    /// @notice Largest inline input or extra context, in bytes.
    uint256 public constant MAX_INPUT_BYTES = 8192;
    /// @notice Largest output schema, in bytes.
    uint256 public constant MAX_SCHEMA_BYTES = 1024;
    /// @notice Largest revealed output, in bytes.
    uint256 public constant MAX_OUTPUT_BYTES = 8192;
    /// @notice Largest committee.
    uint256 public constant MAX_COMMITTEE = 15;
    /// @notice Gas kept back besides the callback's limit when calling it.
    uint256 public constant CALLBACK_OVERHEAD = 10_000;
    /// @notice Gas forwarded when pushing a refund to the requester (falls back to a credit).
    uint256 public constant REFUND_GAS = 30_000;
    uint256 internal constant BPS = 10_000;
    uint256 internal constant COMMITTED = 1;
    uint256 internal constant REVEALED = 2;

    /// @notice The reward token.
    EAI public immutable eai;
    /// @notice The model registry.
    ModelFileSystem public immutable models;
    /// @notice Committee selection and deadlines.
    PromptScheduler public immutable scheduler;
    /// @notice Node stakes, slashing and jailing.
    GPUManagement public immutable gpu;
    /// @notice Context chains.
    ContextManager public immutable context;
    /// @notice Total EAI this kernel may ever emit as block rewards.
    uint256 public immutable rewardBudget;
    /// @notice Each settled prompt emits (rewardBudget - emitted) / rewardDecay EAI.
    uint256 public immutable rewardDecay;

    // ------------------------------------------------------------------
    // Storage
    // ------------------------------------------------------------------

    /// @notice Current admin parameters.
    Config public config;
    /// @notice Receives protocol fees (`withdrawProtocolFees`).
    address public treasury;
    Globals internal _globals;
    mapping(uint256 => Prompt) internal _prompts;
    mapping(uint256 => address[]) internal _escalated;
    mapping(uint256 => mapping(uint256 => mapping(address => uint256))) internal _members;
    /// @dev Results live at raw slots: base = keccak256(promptId, RESULT_DOMAIN); slot `base` holds
    ///      length + 1, except for the common one-word (32-byte) output, where it stays 0; the
    ///      words follow at base + 1 ... This saves a 20,000-gas slot on the usual typed output.
    uint256 internal constant RESULT_DOMAIN = uint256(keccak256("aikernel.result"));
    mapping(address => Earnings) internal _earnings;

    // ------------------------------------------------------------------
    // Events
    // ------------------------------------------------------------------

    /// @notice A committee was assigned for `round` of a prompt (round 0 at submission).
    event CommitteeAssigned(
        uint256 indexed promptId, uint8 round, address[] nodes, uint32 commitDeadline, uint32 revealDeadline
    );
    /// @notice A committee member committed.
    event Committed(uint256 indexed promptId, uint8 round, address indexed node, bytes32 commitment);
    /// @notice A committee member revealed an output with hash `outputHash`.
    event Revealed(uint256 indexed promptId, uint8 round, address indexed node, bytes32 indexed outputHash);
    /// @notice A round ended without a strict majority (or with too few commits).
    event RoundFailed(uint256 indexed promptId, uint8 round, uint8 commits, uint8 reveals);
    /// @notice A majority member was credited; `first` marks the earliest committer.
    event RewardPaid(uint256 indexed promptId, address indexed node, uint256 eth, uint256 eai, bool first);
    /// @notice An account withdrew its ETH and EAI earnings.
    event Withdrawn(address indexed account, uint256 eth, uint256 eai);
    /// @notice A refund could not be pushed and was credited to `withdraw`.
    event RefundCredited(uint256 indexed promptId, address indexed requester, uint256 amount);
    /// @notice Protocol fees were sent to the treasury.
    event ProtocolFeesWithdrawn(address indexed treasury, uint256 amount);
    /// @notice Admin parameters changed.
    event ConfigSet(Config config);
    /// @notice The treasury changed.
    event TreasurySet(address treasury);

    // ------------------------------------------------------------------
    // Errors
    // ------------------------------------------------------------------

    /// @notice committeeSize is even, zero or above MAX_COMMITTEE.
    error InvalidCommitteeSize(uint256 size);
    /// @notice maxTokens is zero or above the limit.
    error InvalidMaxTokens(uint256 maxTokens, uint256 limit);
    /// @notice Neither inline input nor an input hash, or both.
    error InvalidInput();
    /// @notice Input, extra context or schema longer than allowed.
    error InputTooLarge(uint256 length, uint256 limit);
    /// @notice The output schema does not parse.
    error InvalidSchema();
    /// @notice callbackGasLimit above the limit.
    error CallbackGasTooHigh(uint256 gasLimit, uint256 limit);
    /// @notice msg.value below the quote.
    error FeeTooLow(uint256 required, uint256 provided);
    /// @notice The fee does not fit the accounting types.
    error FeeTooHigh(uint256 fee);
    /// @notice No prompt with this id.
    error UnknownPrompt(uint256 promptId);
    /// @notice The prompt is not accepting commits.
    error CommitClosed(uint256 promptId);
    /// @notice The prompt is not accepting reveals now.
    error RevealClosed(uint256 promptId);
    /// @notice The caller is not in the prompt's current committee.
    error NotInCommittee(uint256 promptId, address node);
    /// @notice A zero commitment.
    error ZeroCommitment();
    /// @notice The caller already committed this round.
    error AlreadyCommitted(uint256 promptId, address node);
    /// @notice The caller has no commitment this round.
    error NotCommitted(uint256 promptId, address node);
    /// @notice The caller already revealed this round.
    error AlreadyRevealed(uint256 promptId, address node);
    /// @notice (salt, output) do not open the caller's commitment.
    error InvalidReveal(uint256 promptId, address node);
    /// @notice The output is longer than MAX_OUTPUT_BYTES.
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

    /// @param admin Receives DEFAULT_ADMIN_ROLE.
    /// @param eai_ The EAI token (grant this contract MINTER_ROLE).
    /// @param models_ ModelFileSystem.
    /// @param scheduler_ PromptScheduler (grant this contract ASSIGNER_ROLE).
    /// @param gpu_ GPUManagement (grant this contract SLASHER_ROLE).
    /// @param context_ ContextManager (grant this contract KERNEL_ROLE).
    /// @param treasury_ Receives protocol fees.
    /// @param rewardBudget_ Total EAI emitted as block rewards, ever (<= 2^96 - 1 and <= what
    ///        the EAI cap still allows, so a withdrawal's mint can never fail).
    /// @param rewardDecay_ Divisor of the remaining budget per settled prompt (>= 1).
    constructor(
        address admin,
        EAI eai_,
        ModelFileSystem models_,
        PromptScheduler scheduler_,
        GPUManagement gpu_,
        ContextManager context_,
        address treasury_,
        uint256 rewardBudget_,
        uint256 rewardDecay_
    ) {
        if (
            treasury_ == address(0) || rewardDecay_ == 0 || rewardBudget_ > type(uint96).max
                || rewardBudget_ > eai_.mintable()
        ) revert InvalidParameter();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        eai = eai_;
        models = models_;
        scheduler = scheduler_;
        gpu = gpu_;
        context = context_;
        treasury = treasury_;
        rewardBudget = rewardBudget_;
        rewardDecay = rewardDecay_;
        Config memory c = Config({
            protocolFeeBps: 500,
            firstShareBps: 6000,
            minoritySlashBps: 1000,
            silentSlashBps: 200,
            jailDuration: 1 hours,
            maxCallbackGas: 1_000_000,
            maxTokensLimit: 4096
        });
        config = c;
        emit ConfigSet(c);
        emit TreasurySet(treasury_);
    }

    // ------------------------------------------------------------------
    // Admin
    // ------------------------------------------------------------------

    /// @notice Sets the admin parameters (bounds in the Config docs).
    /// @param c The new parameters.
    function setConfig(Config calldata c) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (
            c.protocolFeeBps > 2000 || c.firstShareBps < 5000 || c.firstShareBps > BPS
                || c.minoritySlashBps > BPS || c.silentSlashBps > BPS || c.jailDuration > 365 days
                || c.maxCallbackGas > 10_000_000 || c.maxTokensLimit == 0
        ) revert InvalidParameter();
        config = c;
        emit ConfigSet(c);
    }

    /// @notice Sets the protocol-fee treasury.
    /// @param treasury_ The new treasury (non-zero).
    function setTreasury(address treasury_) external onlyRole(DEFAULT_ADMIN_ROLE) {
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
        (uint256 nodeFee, uint256 protocolFee) =
            _quote(request.modelId, request.maxTokens, request.committeeSize, c);
        uint256 fee = nodeFee + protocolFee;
        if (msg.value < fee) revert FeeTooLow(fee, msg.value);
        if (fee > type(uint96).max) revert FeeTooHigh(fee);
        promptId = ++_globals.lastPromptId;
        (uint64 ctxIndex, bytes32 ctxRoot) =
            context.appendPrompt(msg.sender, request.topic, promptId, request.input, request.inputHash);
        (address[] memory committee, uint32 commitDeadline, uint32 revealDeadline) =
            scheduler.assign(request.modelId, request.committeeSize, _seed(promptId, 0), new address[](0));
        address blob = RequestBlob.write(
            request,
            RequestBlob.Meta(msg.sender, ctxIndex, ctxRoot, uint96(nodeFee), uint96(protocolFee)),
            committee
        );
        _prompts[promptId] = Prompt({
            blob: blob,
            status: Status.Committing,
            round: 0,
            commits: 0,
            reveals: 0,
            commitDeadline: commitDeadline,
            revealDeadline: revealDeadline
        });
        emit PromptSubmitted(promptId, msg.sender, request.modelId, request.topic, fee);
        emit CommitteeAssigned(promptId, 0, committee, commitDeadline, revealDeadline);
        if (msg.value > fee) {
            (bool ok,) = msg.sender.call{value: msg.value - fee}("");
            if (!ok) revert TransferFailed();
        }
    }

    /// @inheritdoc IAIKernel
    function quote(uint256 modelId, uint32 maxTokens, uint16 committeeSize)
        external
        view
        returns (uint256 fee)
    {
        (uint256 nodeFee, uint256 protocolFee) = _quote(modelId, maxTokens, committeeSize, config);
        return nodeFee + protocolFee;
    }

    // ------------------------------------------------------------------
    // Proof-of-Compute
    // ------------------------------------------------------------------

    /// @notice Commits to an output: `commitment = keccak256(abi.encode(promptId, keccak256(output), salt, msg.sender))`.
    /// @param promptId The prompt.
    /// @param commitment The commitment (non-zero).
    function commit(uint256 promptId, bytes32 commitment) external nonReentrant {
        Prompt storage p = _prompts[promptId];
        Prompt memory pm = p;
        if (pm.status != Status.Committing || block.timestamp > pm.commitDeadline) {
            if (pm.status == Status.None) revert UnknownPrompt(promptId);
            revert CommitClosed(promptId);
        }
        if (commitment == bytes32(0)) revert ZeroCommitment();
        address[] memory committee = _committee(promptId, pm);
        if (!_contains(committee, msg.sender)) revert NotInCommittee(promptId, msg.sender);
        mapping(address => uint256) storage members = _members[promptId][pm.round];
        if (members[msg.sender] != 0) revert AlreadyCommitted(promptId, msg.sender);
        uint8 commits = pm.commits + 1;
        members[msg.sender] = ((uint256(commitment) >> 32) << 32) | (uint256(commits) << 8) | COMMITTED;
        p.commits = commits;
        if (commits == committee.length) p.status = Status.Revealing;
        emit Committed(promptId, pm.round, msg.sender, commitment);
    }

    /// @notice Reveals the committed output. The reveal that completes the committee settles the prompt.
    /// @param promptId The prompt.
    /// @param salt The salt used in the commitment.
    /// @param output The output bytes (ABI-encoded value, or an encoded AIKernelError).
    function reveal(uint256 promptId, bytes32 salt, bytes calldata output) external nonReentrant {
        Prompt storage p = _prompts[promptId];
        Prompt memory pm = p;
        if (!_revealOpen(pm)) {
            if (pm.status == Status.None) revert UnknownPrompt(promptId);
            revert RevealClosed(promptId);
        }
        if (output.length > MAX_OUTPUT_BYTES) revert OutputTooLarge(output.length);
        uint256 prefix = _open(promptId, pm.round, salt, output);
        RequestBlob.Hot memory h = _hot(promptId, pm);
        if (_countSame(_members[promptId][pm.round], h.committee, prefix) == h.committee.length / 2 + 1) {
            _storeResult(promptId, output);
        }
        uint8 reveals = pm.reveals + 1;
        p.reveals = reveals;
        if (reveals == pm.commits) _resolve(promptId, p, pm.round, h);
    }

    /// @notice Ends the current round once it can make no more progress: after the commit
    ///         deadline with too few commits for a majority, or after the reveal deadline.
    ///         Settles, escalates to a fresh committee, or refunds after the last round. Anyone may call.
    /// @param promptId The prompt.
    function settle(uint256 promptId) external nonReentrant {
        Prompt storage p = _prompts[promptId];
        Prompt memory pm = p;
        if (pm.status == Status.None) revert UnknownPrompt(promptId);
        if (pm.status == Status.Settled || pm.status == Status.Refunded) revert AlreadyFinal(promptId);
        RequestBlob.Hot memory h = _hot(promptId, pm);
        bool tooFew = pm.status == Status.Committing && block.timestamp > pm.commitDeadline
            && pm.commits < h.committee.length / 2 + 1;
        if (!tooFew && block.timestamp <= pm.revealDeadline) revert SettlementNotDue(promptId);
        _resolve(promptId, p, pm.round, h);
    }

    /// @notice Sends the caller's ETH earnings and mints its EAI rewards.
    function withdraw() external nonReentrant {
        Earnings memory e = _earnings[msg.sender];
        if (e.eth == 0 && e.eai == 0) revert NothingToWithdraw();
        delete _earnings[msg.sender];
        emit Withdrawn(msg.sender, e.eth, e.eai);
        if (e.eai != 0) eai.mint(msg.sender, e.eai);
        if (e.eth != 0) {
            (bool ok,) = msg.sender.call{value: e.eth}("");
            if (!ok) revert TransferFailed();
        }
    }

    /// @notice Sends accrued protocol fees to the treasury. Anyone may call.
    function withdrawProtocolFees() external nonReentrant {
        uint256 amount = _globals.treasuryAccrued;
        if (amount == 0) revert NothingToWithdraw();
        _globals.treasuryAccrued = 0;
        address t = treasury;
        emit ProtocolFeesWithdrawn(t, amount);
        (bool ok,) = t.call{value: amount}("");
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

    /// @inheritdoc IAIKernel
    function requestOf(uint256 promptId) external view returns (Request memory) {
        return RequestBlob.request(_blob(promptId));
    }

    /// @notice The account that submitted a prompt.
    /// @param promptId The prompt.
    function requesterOf(uint256 promptId) external view returns (address) {
        return RequestBlob.hot(_blob(promptId)).requester;
    }

    /// @notice The hot state of a prompt: status, round, commit and reveal counts, deadlines.
    /// @param promptId The prompt.
    function promptInfo(uint256 promptId) external view returns (Prompt memory) {
        return _prompts[promptId];
    }

    /// @notice The committee of the prompt's current round.
    /// @param promptId The prompt.
    function committeeOf(uint256 promptId) external view returns (address[] memory) {
        Prompt memory pm = _prompts[promptId];
        if (pm.status == Status.None) revert UnknownPrompt(promptId);
        return _committee(promptId, pm);
    }

    /// @notice The context a prompt sees: entries [0, index) of its (requester, topic) chain, with root `root`.
    /// @param promptId The prompt.
    function contextOf(uint256 promptId) external view returns (uint64 index, bytes32 root) {
        return RequestBlob.context(_blob(promptId));
    }

    /// @notice A node's state in the prompt's current round.
    /// @param promptId The prompt.
    /// @param node The node.
    /// @return state 0 none, 1 committed, 2 revealed.
    /// @return order 1-based commit order (0 if not committed).
    /// @return hashPrefix The upper 224 bits of the commitment (committed) or output hash (revealed).
    function memberState(uint256 promptId, address node)
        external
        view
        returns (uint8 state, uint8 order, bytes28 hashPrefix)
    {
        uint256 m = _members[promptId][_prompts[promptId].round][node];
        return (uint8(m), uint8(m >> 8), bytes28(bytes32(m >> 32 << 32)));
    }

    /// @notice ETH and EAI an account can withdraw.
    /// @param account The account.
    function earningsOf(address account) external view returns (Earnings memory) {
        return _earnings[account];
    }

    /// @notice The EAI block reward the next settled prompt earns.
    function nextReward() external view returns (uint256) {
        return (rewardBudget - _globals.emitted) / rewardDecay;
    }

    /// @notice Id of the latest prompt, EAI emitted so far, protocol fees not yet withdrawn.
    function globals() external view returns (uint64 lastPromptId, uint96 emitted, uint96 treasuryAccrued) {
        Globals memory g = _globals;
        return (g.lastPromptId, g.emitted, g.treasuryAccrued);
    }

    // ------------------------------------------------------------------
    // Internal: requests
    // ------------------------------------------------------------------

    function _validate(Request calldata r, Config memory c) internal pure {
        uint256 k = r.committeeSize;
        if (k == 0 || k > MAX_COMMITTEE || k % 2 == 0) revert InvalidCommitteeSize(k);
        if (r.maxTokens == 0 || r.maxTokens > c.maxTokensLimit) {
            revert InvalidMaxTokens(r.maxTokens, c.maxTokensLimit);
        }
        if ((r.input.length == 0) == (r.inputHash == bytes32(0))) revert InvalidInput();
        if (r.input.length > MAX_INPUT_BYTES) revert InputTooLarge(r.input.length, MAX_INPUT_BYTES);
        if (r.extraContext.length > MAX_INPUT_BYTES) {
            revert InputTooLarge(r.extraContext.length, MAX_INPUT_BYTES);
        }
        if (r.schema.length > MAX_SCHEMA_BYTES) revert InputTooLarge(r.schema.length, MAX_SCHEMA_BYTES);
        if (r.schema.length != 0 && !Schema.isValid(r.schema)) revert InvalidSchema();
        if (r.callback != address(0) && r.callbackGasLimit > c.maxCallbackGas) {
            revert CallbackGasTooHigh(r.callbackGasLimit, c.maxCallbackGas);
        }
    }

    function _quote(uint256 modelId, uint256 maxTokens, uint256 k, Config memory c)
        internal
        view
        returns (uint256 nodeFee, uint256 protocolFee)
    {
        nodeFee = uint256(models.activeFeePerToken(modelId)) * maxTokens * k;
        protocolFee = nodeFee * c.protocolFeeBps / BPS;
    }

    function _seed(uint256 promptId, uint256 round) internal view returns (uint256) {
        return uint256(keccak256(abi.encode(block.prevrandao, promptId, round)));
    }

    // ------------------------------------------------------------------
    // Internal: rounds
    // ------------------------------------------------------------------

    /// @dev Checks (salt, output) against the caller's commitment; stores the output-hash prefix.
    function _open(uint256 promptId, uint8 round, bytes32 salt, bytes calldata output)
        internal
        returns (uint256 prefix)
    {
        mapping(address => uint256) storage members = _members[promptId][round];
        uint256 m = members[msg.sender];
        if (m & 0xff != COMMITTED) {
            if (m == 0) revert NotCommitted(promptId, msg.sender);
            revert AlreadyRevealed(promptId, msg.sender);
        }
        bytes32 outputHash = keccak256(output);
        bytes32 c = keccak256(abi.encode(promptId, outputHash, salt, msg.sender));
        if (uint256(c) >> 32 != m >> 32) revert InvalidReveal(promptId, msg.sender);
        prefix = uint256(outputHash) >> 32;
        members[msg.sender] = (prefix << 32) | (m & 0xff00) | REVEALED;
        emit Revealed(promptId, round, msg.sender, outputHash);
    }

    /// @dev How many revealed members share `prefix`, the caller included.
    function _countSame(
        mapping(address => uint256) storage members,
        address[] memory committee,
        uint256 prefix
    ) internal view returns (uint256 same) {
        same = 1;
        for (uint256 i; i < committee.length; ++i) {
            address a = committee[i];
            if (a == msg.sender) continue;
            uint256 o = members[a];
            if (o & 0xff == REVEALED && o >> 32 == prefix) ++same;
        }
    }

    function _revealOpen(Prompt memory pm) internal view returns (bool) {
        if (block.timestamp > pm.revealDeadline) return false;
        return pm.status == Status.Revealing
            || (pm.status == Status.Committing && block.timestamp > pm.commitDeadline);
    }

    function _resolve(uint256 promptId, Prompt storage p, uint8 round, RequestBlob.Hot memory h) internal {
        mapping(address => uint256) storage members = _members[promptId][round];
        uint256 k = h.committee.length;
        uint256[] memory states = new uint256[](k);
        for (uint256 i; i < k; ++i) {
            states[i] = members[h.committee[i]];
        }
        (bool found, uint256 winner) = _majority(states);
        if (found) _settleWith(promptId, p, h, states, winner);
        else _failRound(promptId, p, round, h, states);
    }

    /// @dev The output-hash prefix revealed by a strict majority of the committee, if any.
    function _majority(uint256[] memory states) internal pure returns (bool found, uint256 prefix) {
        uint256 k = states.length;
        for (uint256 i; i < k; ++i) {
            if (states[i] & 0xff != REVEALED) continue;
            uint256 pi = states[i] >> 32;
            uint256 same;
            for (uint256 j; j < k; ++j) {
                if (states[j] & 0xff == REVEALED && states[j] >> 32 == pi) ++same;
            }
            if (same > k / 2) return (true, pi);
        }
    }

    function _settleWith(
        uint256 promptId,
        Prompt storage p,
        RequestBlob.Hot memory h,
        uint256[] memory states,
        uint256 winner
    ) internal {
        p.status = Status.Settled;
        Config memory c = config;
        address[] memory majority = _payMajority(promptId, h, states, winner, c);
        for (uint256 i; i < states.length; ++i) {
            uint256 s = states[i];
            if (s & 0xff == REVEALED && s >> 32 == winner) continue;
            bool wrong = s & 0xff == REVEALED;
            _punish(
                h.committee[i],
                wrong ? c.minoritySlashBps : c.silentSlashBps,
                wrong ? majority : new address[](0),
                wrong ? 1 : 2,
                c
            );
        }
        bytes memory output = _loadResult(promptId);
        emit PromptSettled(promptId, keccak256(output), output);
        bool success = output.length % 32 != 4;
        if (success) context.appendResult(h.requester, h.topic, promptId, output);
        if (h.callback != address(0)) _deliver(promptId, h, success, output);
    }

    function _payMajority(
        uint256 promptId,
        RequestBlob.Hot memory h,
        uint256[] memory states,
        uint256 winner,
        Config memory c
    ) internal returns (address[] memory majority) {
        uint256 k = states.length;
        majority = new address[](k);
        uint256 count;
        uint256 first;
        uint256 firstOrder = type(uint256).max;
        for (uint256 i; i < k; ++i) {
            uint256 s = states[i];
            if (s & 0xff != REVEALED || s >> 32 != winner) continue;
            uint256 order = (s >> 8) & 0xff;
            if (order < firstOrder) {
                firstOrder = order;
                first = count;
            }
            majority[count++] = h.committee[i];
        }
        assembly ("memory-safe") {
            mstore(majority, count)
        }
        Globals memory g = _globals;
        uint256 reward = (rewardBudget - g.emitted) / rewardDecay;
        g.emitted += uint96(reward);
        g.treasuryAccrued += h.protocolFee;
        _globals = g;
        Shares memory sh;
        (sh.ethFirst, sh.ethRest) = _split(h.nodeFee, count, c.firstShareBps);
        (sh.eaiFirst, sh.eaiRest) = _split(reward, count, c.firstShareBps);
        _credit(promptId, majority, first, sh);
    }

    function _credit(uint256 promptId, address[] memory majority, uint256 first, Shares memory sh) internal {
        for (uint256 i; i < majority.length; ++i) {
            bool isFirst = i == first;
            uint256 ethAmt = isFirst ? sh.ethFirst : sh.ethRest;
            uint256 eaiAmt = isFirst ? sh.eaiFirst : sh.eaiRest;
            Earnings storage e = _earnings[majority[i]];
            e.eth += uint128(ethAmt);
            e.eai += uint128(eaiAmt);
            emit RewardPaid(promptId, majority[i], ethAmt, eaiAmt, isFirst);
        }
    }

    /// @dev First's share and each other member's share; rounding dust goes to the first.
    function _split(uint256 amount, uint256 count, uint256 firstBps)
        internal
        pure
        returns (uint256 first, uint256 rest)
    {
        if (count == 1) return (amount, 0);
        rest = (amount - amount * firstBps / BPS) / (count - 1);
        first = amount - rest * (count - 1);
    }

    function _punish(address node, uint256 bps, address[] memory beneficiaries, uint8 reason, Config memory c)
        internal
    {
        try gpu.slash(node, bps, beneficiaries, reason) {} catch {}
        try gpu.jail(node, uint64(c.jailDuration)) {} catch {}
    }

    function _failRound(
        uint256 promptId,
        Prompt storage p,
        uint8 round,
        RequestBlob.Hot memory h,
        uint256[] memory states
    ) internal {
        Config memory c = config;
        Prompt memory pm = p;
        emit RoundFailed(promptId, round, pm.commits, pm.reveals);
        for (uint256 i; i < states.length; ++i) {
            if (states[i] & 0xff != REVEALED) {
                _punish(h.committee[i], c.silentSlashBps, new address[](0), 2, c);
            }
        }
        if (round + 1 < scheduler.maxRounds()) {
            try scheduler.assign(
                h.modelId, h.committee.length, _seed(promptId, round + 1), h.committee
            ) returns (
                address[] memory next, uint32 commitDeadline, uint32 revealDeadline
            ) {
                _escalated[promptId] = next;
                p.round = round + 1;
                p.commits = 0;
                p.reveals = 0;
                p.status = Status.Committing;
                p.commitDeadline = commitDeadline;
                p.revealDeadline = revealDeadline;
                emit CommitteeAssigned(promptId, round + 1, next, commitDeadline, revealDeadline);
                return;
            } catch {}
        }
        _refund(promptId, p, h);
    }

    function _refund(uint256 promptId, Prompt storage p, RequestBlob.Hot memory h) internal {
        p.status = Status.Refunded;
        uint256 amount = uint256(h.nodeFee) + h.protocolFee;
        emit PromptRefunded(promptId, h.requester, amount);
        if (amount == 0) return;
        (bool ok,) = h.requester.call{value: amount, gas: REFUND_GAS}("");
        if (!ok) {
            _earnings[h.requester].eth += uint128(amount);
            emit RefundCredited(promptId, h.requester, amount);
        }
    }

    function _deliver(uint256 promptId, RequestBlob.Hot memory h, bool success, bytes memory output)
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
        emit CallbackDelivered(promptId, target, ok);
    }

    // ------------------------------------------------------------------
    // Internal: result storage
    // ------------------------------------------------------------------

    function _resultBase(uint256 promptId) internal pure returns (uint256 base) {
        uint256 domain = RESULT_DOMAIN;
        assembly ("memory-safe") {
            mstore(0x00, promptId)
            mstore(0x20, domain)
            base := keccak256(0x00, 0x40)
        }
    }

    function _storeResult(uint256 promptId, bytes calldata output) internal {
        uint256 base = _resultBase(promptId);
        uint256 len = output.length;
        assembly ("memory-safe") {
            if iszero(eq(len, 32)) { sstore(base, add(len, 1)) }
            for { let i := 0 } lt(i, len) { i := add(i, 32) } {
                sstore(add(add(base, 1), shr(5, i)), calldataload(add(output.offset, i)))
            }
        }
    }

    function _loadResult(uint256 promptId) internal view returns (bytes memory output) {
        uint256 base = _resultBase(promptId);
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

    function _blob(uint256 promptId) internal view returns (address blob) {
        blob = _prompts[promptId].blob;
        if (blob == address(0)) revert UnknownPrompt(promptId);
    }

    function _hot(uint256 promptId, Prompt memory pm) internal view returns (RequestBlob.Hot memory h) {
        h = RequestBlob.hot(pm.blob);
        if (pm.round != 0) h.committee = _escalated[promptId];
    }

    function _committee(uint256 promptId, Prompt memory pm) internal view returns (address[] memory) {
        if (pm.round != 0) return _escalated[promptId];
        return RequestBlob.hot(pm.blob).committee;
    }

    function _contains(address[] memory list, address a) internal pure returns (bool) {
        for (uint256 i; i < list.length; ++i) {
            if (list[i] == a) return true;
        }
        return false;
    }
}
