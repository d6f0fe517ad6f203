// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {ModelFileSystem} from "./ModelFileSystem.sol";
import {PromptScheduler} from "./PromptScheduler.sol";

/// @notice The EAI token's minting entry point (this contract needs its MINTER_ROLE for rewards).
interface IEAIMinter {
    /// @notice Mints `amount` to `to`.
    function mint(address to, uint256 amount) external;
    /// @notice Room left under the hard cap.
    function mintable() external view returns (uint256);
}

/// @title GPUManagement
/// @notice Compute-node registry: hardware, served models and EAI stake. Nodes register, pause,
///         resume, unbond and withdraw; the kernel slashes and jails them. Stake stays slashable
///         while it unbonds, and slashing never reverts, whatever state the node is in.
///         Block rewards: EAI is emitted at a rate that halves every `halvingPeriod` and shared
///         among eligible nodes in proportion to their stake and the time they are eligible. The
///         emission depends on time only, never on prompts, so paying fees to one's own nodes
///         cannot earn more of it; a slash forfeits the node's unclaimed rewards.
/// @dev A node is in the scheduler's pools exactly when it is Active, not jailed and staked at
///      least `minStake`; every state change re-syncs that, so committee picks never see an
///      ineligible node. If the admin raises `minStake`, anyone may `sync` nodes now below it.
contract GPUManagement is AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    // ------------------------------------------------------------------
    // Types
    // ------------------------------------------------------------------

    /// @notice A node's hardware.
    struct Hardware {
        string deviceModel;
        uint64 memoryMiB;
        uint32 deviceCount;
    }

    /// @notice Lifecycle of a node. `Exiting`: unregistered, stake unbonding.
    enum NodeStatus {
        None,
        Active,
        Paused,
        Exiting
    }

    /// @notice Everything known about a node.
    struct Node {
        uint128 stake;
        uint128 unbonding;
        uint64 unbondingEnd;
        uint64 jailedUntil;
        NodeStatus status;
        bool jailed;
        bool pooled;
        Hardware hardware;
        uint256[] models;
    }

    // ------------------------------------------------------------------
    // Storage
    // ------------------------------------------------------------------

    /// @notice Role allowed to slash and jail (DecentralizedInference).
    bytes32 public constant SLASHER_ROLE = keccak256("SLASHER_ROLE");
    /// @notice Most models one node may serve.
    uint256 public constant MAX_MODELS = 16;
    /// @notice Basis points denominator.
    uint256 internal constant BPS = 10_000;

    /// @notice The staking token.
    IERC20 public immutable eai;
    /// @notice The model registry.
    ModelFileSystem public immutable models;
    /// @notice The scheduler whose pools this contract keeps in sync.
    PromptScheduler public immutable scheduler;

    /// @notice Minimum active stake for a node to be eligible.
    uint256 public minStake;
    /// @notice Seconds between an unbond and the withdrawal of the unbonded stake.
    uint64 public unbondingPeriod;
    /// @notice Share of a slashed amount that is burned, in basis points; the rest goes to the
    ///         honest nodes named by the kernel, or to `treasury` when none are named.
    uint16 public burnBps;
    /// @notice Receives the unburned part of slashes that have no beneficiary.
    address public treasury;

    mapping(address => Node) internal _nodes;

    /// @dev A node's share of the block reward: its weight (stake while eligible, else 0), the
    ///      reward per weight already accounted for, and what it has earned and not claimed.
    struct RewardAccount {
        uint128 weight;
        uint128 pending;
        uint256 paidPerWeight;
    }

    /// @notice Emission per second in the first halving period (EAI wei); 0 before `startRewards`.
    uint128 public initialRewardRate;
    /// @notice Seconds after which the emission rate halves.
    uint64 public halvingPeriod;
    /// @notice When the emission started.
    uint64 public rewardStart;
    /// @notice Last time rewards were accounted for.
    uint64 public lastAccrual;
    /// @notice Sum of the weights (stake of eligible nodes).
    uint256 public totalWeight;
    /// @notice Cumulative reward per unit of weight, scaled by 1e18.
    uint256 public rewardPerWeight;
    mapping(address => RewardAccount) internal _rewards;
    uint256 internal constant WEIGHT_SCALE = 1e18;
    uint256 internal constant MAX_HALVINGS = 128;

    // ------------------------------------------------------------------
    // Events and errors
    // ------------------------------------------------------------------

    /// @notice A node registered.
    event NodeRegistered(
        address indexed node,
        string deviceModel,
        uint64 memoryMiB,
        uint32 deviceCount,
        uint256[] modelIds,
        uint256 stake
    );
    /// @notice A node changed the models it serves.
    event ServedModelsSet(address indexed node, uint256[] modelIds);
    /// @notice A node added stake.
    event StakeAdded(address indexed node, uint256 amount, uint256 stake);
    /// @notice A node paused (leaves the pools, keeps its stake).
    event NodePaused(address indexed node);
    /// @notice A node resumed.
    event NodeResumed(address indexed node);
    /// @notice Stake moved to unbonding; withdrawable at `unbondingEnd`.
    event Unbonding(address indexed node, uint256 amount, uint256 totalUnbonding, uint64 unbondingEnd);
    /// @notice A node unregistered; all its stake is unbonding.
    event NodeUnregistered(address indexed node);
    /// @notice Unbonded stake was withdrawn.
    event StakeWithdrawn(address indexed node, uint256 amount);
    /// @notice A node was slashed: `amount` taken, `burned` of it burned. `reason`: 1 minority, 2 silent.
    event NodeSlashed(address indexed node, uint256 amount, uint256 burned, uint8 reason);
    /// @notice Part of a slash was credited to an honest node's stake (or unbonding when it is exiting).
    event SlashRewardCredited(address indexed node, uint256 amount);
    /// @notice A node was jailed until `until`; it must call `unjail` afterwards.
    event NodeJailed(address indexed node, uint64 until);
    /// @notice A node left jail.
    event NodeUnjailed(address indexed node);
    /// @notice A node entered (true) or left (false) the scheduler's pools.
    event EligibilityChanged(address indexed node, bool eligible);
    /// @notice The block-reward emission started.
    event RewardsStarted(uint256 initialRate, uint64 halvingPeriod, uint256 budget);
    /// @notice A node claimed (minted) its block rewards.
    event RewardsClaimed(address indexed node, uint256 amount);
    /// @notice A slashed node lost its unclaimed block rewards.
    event RewardsForfeited(address indexed node, uint256 amount);
    /// @notice Admin parameters changed.
    event ParametersSet(uint256 minStake, uint64 unbondingPeriod, uint16 burnBps, address treasury);

    /// @notice The caller is already registered (or still exiting).
    error AlreadyRegistered(address node);
    /// @notice The caller is not a registered node (or is exiting).
    error NotRegistered(address node);
    /// @notice Stake below the minimum.
    error StakeTooLow(uint256 stake, uint256 minimum);
    /// @notice No models, too many, or a duplicate.
    error InvalidModelList();
    /// @notice The hardware does not meet a model's minimum.
    error HardwareBelowMinimum(uint256 modelId);
    /// @notice Zero memory or device count, or an empty device model.
    error InvalidHardware();
    /// @notice The action needs another node status.
    error WrongStatus(NodeStatus status);
    /// @notice Amount zero or above the available balance.
    error InvalidAmount(uint256 amount);
    /// @notice Unbonded stake is not withdrawable before `unbondingEnd`.
    error StillUnbonding(uint64 unbondingEnd);
    /// @notice The node is not jailed, or its jail time is not over.
    error CannotUnjail(uint64 jailedUntil);
    /// @notice An admin parameter out of bounds.
    error InvalidParameter();
    /// @notice The emission was already started.
    error RewardsAlreadyStarted();
    /// @notice Nothing to claim.
    error NothingToClaim();

    /// @param admin Receives DEFAULT_ADMIN_ROLE.
    /// @param eai_ The EAI token.
    /// @param models_ The ModelFileSystem.
    /// @param scheduler_ The PromptScheduler (grant this contract its POOL_MANAGER_ROLE).
    /// @param treasury_ Receives unburned slashes without beneficiary.
    constructor(
        address admin,
        IERC20 eai_,
        ModelFileSystem models_,
        PromptScheduler scheduler_,
        address treasury_
    ) {
        if (treasury_ == address(0)) revert InvalidParameter();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        eai = eai_;
        models = models_;
        scheduler = scheduler_;
        minStake = 1000 ether;
        unbondingPeriod = 7 days;
        burnBps = 5000;
        treasury = treasury_;
        emit ParametersSet(1000 ether, 7 days, 5000, treasury_);
    }

    // ------------------------------------------------------------------
    // Admin
    // ------------------------------------------------------------------

    /// @notice Sets the staking parameters.
    /// @param minStake_ Minimum active stake (> 0).
    /// @param unbondingPeriod_ Unbonding delay in seconds (<= 365 days).
    /// @param burnBps_ Burned share of slashes (<= 10000).
    /// @param treasury_ Treasury for slashes without beneficiary (non-zero).
    function setParameters(uint256 minStake_, uint64 unbondingPeriod_, uint16 burnBps_, address treasury_)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        if (minStake_ == 0 || unbondingPeriod_ > 365 days || burnBps_ > BPS || treasury_ == address(0)) {
            revert InvalidParameter();
        }
        minStake = minStake_;
        unbondingPeriod = unbondingPeriod_;
        burnBps = burnBps_;
        treasury = treasury_;
        emit ParametersSet(minStake_, unbondingPeriod_, burnBps_, treasury_);
    }

    /// @notice Starts the block-reward emission (once): `rate` EAI wei per second, halving every
    ///         `halving` seconds; the whole budget `2 * rate * halving` must fit under the EAI cap.
    /// @param rate Emission per second in the first period.
    /// @param halving Halving period in seconds (>= 1 day).
    function startRewards(uint128 rate, uint64 halving) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (rewardStart != 0) revert RewardsAlreadyStarted();
        uint256 budget = 2 * uint256(rate) * halving;
        if (rate == 0 || halving < 1 days || budget > IEAIMinter(address(eai)).mintable()) {
            revert InvalidParameter();
        }
        initialRewardRate = rate;
        halvingPeriod = halving;
        rewardStart = uint64(block.timestamp);
        lastAccrual = uint64(block.timestamp);
        emit RewardsStarted(rate, halving, budget);
    }

    // ------------------------------------------------------------------
    // Node operators
    // ------------------------------------------------------------------

    /// @notice Mints the caller's unclaimed block rewards.
    function claimRewards() external nonReentrant {
        _accrue();
        RewardAccount storage a = _rewards[msg.sender];
        _settleAccount(a);
        uint256 amount = a.pending;
        if (amount == 0) revert NothingToClaim();
        a.pending = 0;
        emit RewardsClaimed(msg.sender, amount);
        IEAIMinter(address(eai)).mint(msg.sender, amount);
    }

    /// @notice Registers the caller as a node serving `modelIds`, staking `stake` EAI (approve first).
    /// @param hardware The node's hardware; must meet every listed model's minimum.
    /// @param modelIds Distinct registered models to serve (1..MAX_MODELS).
    /// @param stake EAI to stake, at least `minStake`.
    function register(Hardware calldata hardware, uint256[] calldata modelIds, uint256 stake)
        external
        nonReentrant
    {
        Node storage n = _nodes[msg.sender];
        if (n.status != NodeStatus.None) revert AlreadyRegistered(msg.sender);
        if (stake < minStake) revert StakeTooLow(stake, minStake);
        if (stake > type(uint128).max) revert InvalidAmount(stake);
        if (bytes(hardware.deviceModel).length == 0 || hardware.memoryMiB == 0 || hardware.deviceCount == 0) {
            revert InvalidHardware();
        }
        _checkModels(hardware, modelIds);
        n.hardware = hardware;
        n.models = modelIds;
        n.stake += uint128(stake);
        n.status = NodeStatus.Active;
        emit NodeRegistered(
            msg.sender, hardware.deviceModel, hardware.memoryMiB, hardware.deviceCount, modelIds, stake
        );
        _sync(msg.sender, n);
        eai.safeTransferFrom(msg.sender, address(this), stake);
    }

    /// @notice Adds `amount` EAI to the caller's active stake.
    /// @param amount EAI to add (approve first).
    function addStake(uint256 amount) external nonReentrant {
        Node storage n = _nodes[msg.sender];
        if (n.status == NodeStatus.None || n.status == NodeStatus.Exiting) revert NotRegistered(msg.sender);
        if (amount == 0 || amount > type(uint128).max - n.stake) revert InvalidAmount(amount);
        n.stake += uint128(amount);
        emit StakeAdded(msg.sender, amount, n.stake);
        _sync(msg.sender, n);
        eai.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Replaces the models the caller serves (its hardware must meet each one's minimum).
    /// @param modelIds Distinct registered models (1..MAX_MODELS).
    function setServedModels(uint256[] calldata modelIds) external {
        Node storage n = _nodes[msg.sender];
        if (n.status == NodeStatus.None || n.status == NodeStatus.Exiting) revert NotRegistered(msg.sender);
        _checkModels(n.hardware, modelIds);
        if (n.pooled) scheduler.removeNode(msg.sender, n.models);
        n.models = modelIds;
        if (n.pooled) scheduler.addNode(msg.sender, modelIds);
        emit ServedModelsSet(msg.sender, modelIds);
    }

    /// @notice Stops taking new prompts; running prompts still expect the node's reveals.
    function pause() external {
        Node storage n = _nodes[msg.sender];
        if (n.status != NodeStatus.Active) revert WrongStatus(n.status);
        n.status = NodeStatus.Paused;
        emit NodePaused(msg.sender);
        _sync(msg.sender, n);
    }

    /// @notice Takes new prompts again after `pause`.
    function resume() external {
        Node storage n = _nodes[msg.sender];
        if (n.status != NodeStatus.Paused) revert WrongStatus(n.status);
        n.status = NodeStatus.Active;
        emit NodeResumed(msg.sender);
        _sync(msg.sender, n);
    }

    /// @notice Moves `amount` of active stake to unbonding (still slashable). The unbonding
    ///         clock restarts for the whole unbonding balance.
    /// @param amount EAI to unbond.
    function unbond(uint256 amount) external {
        Node storage n = _nodes[msg.sender];
        if (n.status == NodeStatus.None || n.status == NodeStatus.Exiting) revert NotRegistered(msg.sender);
        if (amount == 0 || amount > n.stake) revert InvalidAmount(amount);
        _startUnbonding(msg.sender, n, amount);
        _sync(msg.sender, n);
    }

    /// @notice Leaves the network: all stake starts unbonding, the node leaves every pool.
    ///         Prompts it was assigned still expect its reveals; it stays slashable until withdrawal.
    function unregister() external {
        Node storage n = _nodes[msg.sender];
        if (n.status == NodeStatus.None || n.status == NodeStatus.Exiting) revert NotRegistered(msg.sender);
        n.status = NodeStatus.Exiting;
        emit NodeUnregistered(msg.sender);
        _startUnbonding(msg.sender, n, n.stake);
        _sync(msg.sender, n);
    }

    /// @notice Withdraws the caller's unbonded stake once the unbonding period is over.
    ///         An exiting node with nothing left becomes unregistered (it may register again).
    function withdrawUnbonded() external nonReentrant {
        Node storage n = _nodes[msg.sender];
        uint256 amount = n.unbonding;
        if (amount == 0) revert InvalidAmount(0);
        if (block.timestamp < n.unbondingEnd) revert StillUnbonding(n.unbondingEnd);
        n.unbonding = 0;
        if (n.status == NodeStatus.Exiting && n.stake == 0) n.status = NodeStatus.None;
        emit StakeWithdrawn(msg.sender, amount);
        eai.safeTransfer(msg.sender, amount);
    }

    /// @notice Leaves jail after the jail time; the node re-enters the pools if otherwise eligible.
    function unjail() external {
        Node storage n = _nodes[msg.sender];
        if (!n.jailed || block.timestamp < n.jailedUntil) revert CannotUnjail(n.jailedUntil);
        n.jailed = false;
        emit NodeUnjailed(msg.sender);
        _sync(msg.sender, n);
    }

    /// @notice Re-checks a node's eligibility (e.g. after the admin raised `minStake`).
    /// @param node The node.
    function sync(address node) external {
        _sync(node, _nodes[node]);
    }

    // ------------------------------------------------------------------
    // Kernel (SLASHER_ROLE)
    // ------------------------------------------------------------------

    /// @notice Slashes `bps` of the node's stake plus unbonding balance. Never reverts for any
    ///         node state: an unknown or fully withdrawn node simply yields 0.
    /// @param node The node to slash.
    /// @param bps Share of its balance to take, in basis points (capped at 10000).
    /// @param beneficiaries Honest nodes that share the unburned part (credited to their stake);
    ///        when empty, the unburned part goes to the treasury.
    /// @param reason 1 = wrong output (minority), 2 = silent.
    /// @return amount The amount taken.
    function slash(address node, uint256 bps, address[] calldata beneficiaries, uint8 reason)
        external
        onlyRole(SLASHER_ROLE)
        returns (uint256 amount)
    {
        return _slash(node, bps, beneficiaries, reason);
    }

    /// @notice Slashes (as `slash`) and jails (as `jail`) a node in one call.
    /// @param node The node.
    /// @param bps Share of its balance to take, in basis points.
    /// @param beneficiaries Honest nodes that share the unburned part (or none: the treasury).
    /// @param reason 1 = wrong output, 2 = silent, 3 = declined (with bps 0: only jailed, and
    ///        unclaimed block rewards forfeited).
    /// @param jailSeconds Jail time in seconds.
    function punish(
        address node,
        uint256 bps,
        address[] calldata beneficiaries,
        uint8 reason,
        uint64 jailSeconds
    ) external onlyRole(SLASHER_ROLE) {
        _slash(node, bps, beneficiaries, reason);
        _jail(node, jailSeconds);
    }

    function _slash(address node, uint256 bps, address[] calldata beneficiaries, uint8 reason)
        internal
        returns (uint256 amount)
    {
        Node storage n = _nodes[node];
        if (bps > BPS) bps = BPS;
        uint256 fromStake = uint256(n.stake) * bps / BPS;
        uint256 fromUnbonding = uint256(n.unbonding) * bps / BPS;
        amount = fromStake + fromUnbonding;
        _forfeit(node);
        if (amount == 0) return 0;
        n.stake -= uint128(fromStake);
        n.unbonding -= uint128(fromUnbonding);
        uint256 burned = amount * burnBps / BPS;
        uint256 rest = amount - burned;
        emit NodeSlashed(node, amount, burned, reason);
        _sync(node, n);
        if (rest != 0) {
            if (beneficiaries.length == 0) {
                eai.safeTransfer(treasury, rest);
            } else {
                uint256 share = rest / beneficiaries.length;
                burned += rest - share * beneficiaries.length;
                for (uint256 i; i < beneficiaries.length; ++i) {
                    _credit(beneficiaries[i], share);
                }
            }
        }
        if (burned != 0) ERC20Burnable(address(eai)).burn(burned);
    }

    /// @notice Jails a node for `duration` seconds: it leaves the pools until it calls `unjail`.
    /// @param node The node.
    /// @param duration Jail time in seconds.
    function jail(address node, uint64 duration) external onlyRole(SLASHER_ROLE) {
        _jail(node, duration);
    }

    function _jail(address node, uint64 duration) internal {
        Node storage n = _nodes[node];
        if (n.status == NodeStatus.None) return;
        uint64 until = uint64(block.timestamp) + duration;
        if (until > n.jailedUntil) n.jailedUntil = until;
        n.jailed = true;
        emit NodeJailed(node, n.jailedUntil);
        _sync(node, n);
    }

    // ------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------

    /// @notice Whether `node` is registered (any status but None).
    /// @param node The node.
    function isRegistered(address node) external view returns (bool) {
        return _nodes[node].status != NodeStatus.None;
    }

    /// @notice Whether `node` is currently in the scheduler's pools.
    /// @param node The node.
    function isEligible(address node) external view returns (bool) {
        return _nodes[node].pooled;
    }

    /// @notice Everything about a node.
    /// @param node The node.
    function nodeInfo(address node) external view returns (Node memory) {
        return _nodes[node];
    }

    /// @notice Block rewards a node can claim now.
    /// @param node The node.
    function pendingRewards(address node) external view returns (uint256) {
        RewardAccount memory a = _rewards[node];
        uint256 perWeight = rewardPerWeight;
        if (totalWeight != 0) {
            perWeight += (_emitted(block.timestamp) - _emitted(lastAccrual)) * WEIGHT_SCALE / totalWeight;
        }
        return a.pending + uint256(a.weight) * (perWeight - a.paidPerWeight) / WEIGHT_SCALE;
    }

    /// @notice Total block reward emitted from the start until now.
    function emittedRewards() external view returns (uint256) {
        return _emitted(block.timestamp);
    }

    /// @notice The slashable balance of a node: active stake plus unbonding.
    /// @param node The node.
    function slashableOf(address node) external view returns (uint256) {
        Node storage n = _nodes[node];
        return uint256(n.stake) + n.unbonding;
    }

    // ------------------------------------------------------------------
    // Internal
    // ------------------------------------------------------------------

    function _checkModels(Hardware memory hw, uint256[] calldata modelIds) internal view {
        uint256 len = modelIds.length;
        if (len == 0 || len > MAX_MODELS) revert InvalidModelList();
        for (uint256 i; i < len; ++i) {
            for (uint256 j; j < i; ++j) {
                if (modelIds[j] == modelIds[i]) revert InvalidModelList();
            }
            if (!models.meetsMinimum(modelIds[i], hw.memoryMiB, hw.deviceCount)) {
                revert HardwareBelowMinimum(modelIds[i]);
            }
        }
    }

    function _startUnbonding(address node, Node storage n, uint256 amount) internal {
        n.stake -= uint128(amount);
        n.unbonding += uint128(amount);
        n.unbondingEnd = uint64(block.timestamp) + unbondingPeriod;
        emit Unbonding(node, amount, n.unbonding, n.unbondingEnd);
    }

    function _credit(address node, uint256 amount) internal {
        if (amount == 0) return;
        Node storage n = _nodes[node];
        if (n.status == NodeStatus.Active || n.status == NodeStatus.Paused) {
            n.stake += uint128(amount);
            _sync(node, n);
        } else {
            n.unbonding += uint128(amount);
            if (n.unbondingEnd < block.timestamp) n.unbondingEnd = uint64(block.timestamp);
        }
        emit SlashRewardCredited(node, amount);
    }

    function _sync(address node, Node storage n) internal {
        bool eligible = n.status == NodeStatus.Active && !n.jailed && n.stake >= minStake;
        if (eligible != n.pooled) {
            n.pooled = eligible;
            if (eligible) scheduler.addNode(node, n.models);
            else scheduler.removeNode(node, n.models);
            emit EligibilityChanged(node, eligible);
        }
        uint256 weight = eligible ? n.stake : 0;
        RewardAccount storage a = _rewards[node];
        if (a.weight == weight) return;
        _accrue();
        _settleAccount(a);
        totalWeight = totalWeight - a.weight + weight;
        a.weight = uint128(weight);
    }

    /// @dev Adds the emission since the last accrual to the reward per weight (lost while no
    ///      node is eligible).
    function _accrue() internal {
        uint256 last = lastAccrual;
        if (rewardStart == 0 || block.timestamp == last) return;
        uint256 emitted = _emitted(block.timestamp) - _emitted(last);
        if (totalWeight != 0) rewardPerWeight += emitted * WEIGHT_SCALE / totalWeight;
        lastAccrual = uint64(block.timestamp);
    }

    function _settleAccount(RewardAccount storage a) internal {
        uint256 perWeight = rewardPerWeight;
        uint256 owed = uint256(a.weight) * (perWeight - a.paidPerWeight) / WEIGHT_SCALE;
        if (owed != 0) a.pending += uint128(owed);
        a.paidPerWeight = perWeight;
    }

    function _forfeit(address node) internal {
        _accrue();
        RewardAccount storage a = _rewards[node];
        _settleAccount(a);
        uint256 lost = a.pending;
        if (lost == 0) return;
        a.pending = 0;
        emit RewardsForfeited(node, lost);
    }

    /// @dev Emission from the start until `t`: rate >> i per second during halving period i.
    function _emitted(uint256 t) internal view returns (uint256 total) {
        uint256 start = rewardStart;
        if (start == 0 || t <= start) return 0;
        uint256 h = halvingPeriod;
        uint256 rate = initialRewardRate;
        uint256 dt = t - start;
        uint256 periods = dt / h;
        if (periods > MAX_HALVINGS) periods = MAX_HALVINGS;
        for (uint256 i; i < periods; ++i) {
            total += (rate >> i) * h;
        }
        if (periods < MAX_HALVINGS) total += (rate >> periods) * (dt - periods * h);
    }
}
