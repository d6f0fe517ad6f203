// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title PromptScheduler
/// @notice Picks the committee of a prompt and fixes its deadlines. Keeps, per model, the pool of
///         eligible nodes (active, staked, not jailed, serving the model with enough hardware);
///         GPUManagement adds and removes nodes as their eligibility changes, so a pick never has
///         to look at an ineligible node. Selection costs O(k) reads whatever the pool size.
/// @dev Two policies per model: random sortition (seeded by the kernel from `block.prevrandao`,
///      the prompt id and the round; never from caller-controlled values) and round-robin.
///      Collisions and exclusions are resolved by probing the next pool slot, so a pick of k
///      nodes with e exclusions reads at most k * (k + e) pool slots.
contract PromptScheduler is AccessControl {
    // ------------------------------------------------------------------
    // Types and storage
    // ------------------------------------------------------------------

    /// @notice How a model's committees are chosen.
    enum Policy {
        Sortition,
        RoundRobin
    }

    /// @notice Phase lengths in seconds and the number of rounds before a refund.
    struct Timing {
        uint32 commitWindow;
        uint32 revealWindow;
        uint8 maxRounds;
    }

    /// @notice Role allowed to change pools (GPUManagement).
    bytes32 public constant POOL_MANAGER_ROLE = keccak256("POOL_MANAGER_ROLE");
    /// @notice Role allowed to assign committees (DecentralizedInference).
    bytes32 public constant ASSIGNER_ROLE = keccak256("ASSIGNER_ROLE");
    /// @notice Largest committee the scheduler assigns.
    uint256 public constant MAX_COMMITTEE = 15;
    /// @notice Bounds on the admin-set windows, in seconds.
    uint32 public constant MIN_WINDOW = 1;
    /// @notice Longest commit or reveal window, in seconds.
    uint32 public constant MAX_WINDOW = 1 days;
    /// @notice Most rounds a prompt may take.
    uint8 public constant MAX_ROUNDS = 10;

    /// @notice Current phase lengths and round limit.
    Timing public timing;
    /// @notice The committee policy of each model (default Sortition).
    mapping(uint256 => Policy) public policyOf;
    /// @notice Next start index of the round-robin policy per model.
    mapping(uint256 => uint256) public cursorOf;
    mapping(uint256 => address[]) internal _pool;
    mapping(uint256 => mapping(address => uint256)) internal _slot; // index + 1

    // ------------------------------------------------------------------
    // Events and errors
    // ------------------------------------------------------------------

    /// @notice A node entered a model's pool.
    event PoolJoined(uint256 indexed modelId, address indexed node, uint256 poolSize);
    /// @notice A node left a model's pool.
    event PoolLeft(uint256 indexed modelId, address indexed node, uint256 poolSize);
    /// @notice Phase lengths or the round limit changed.
    event TimingSet(uint32 commitWindow, uint32 revealWindow, uint8 maxRounds);
    /// @notice A model's policy changed.
    event PolicySet(uint256 indexed modelId, Policy policy);
    /// @notice A round-robin pick moved the model's cursor.
    event CursorAdvanced(uint256 indexed modelId, uint256 cursor);

    /// @notice Fewer eligible nodes than the committee needs.
    error NotEnoughNodes(uint256 modelId, uint256 available, uint256 needed);
    /// @notice Committee size outside 1..MAX_COMMITTEE.
    error InvalidCommitteeSize(uint256 size);
    /// @notice A window or round limit out of bounds.
    error InvalidTiming();

    /// @param admin Receives DEFAULT_ADMIN_ROLE.
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        timing = Timing({commitWindow: 60, revealWindow: 60, maxRounds: 3});
        emit TimingSet(60, 60, 3);
    }

    // ------------------------------------------------------------------
    // Admin
    // ------------------------------------------------------------------

    /// @notice Sets the commit and reveal windows (seconds) and the number of rounds before a refund.
    /// @param commitWindow Seconds from assignment to the commit deadline.
    /// @param revealWindow Seconds from the commit deadline to the reveal deadline.
    /// @param rounds Rounds (committees) a prompt may try, 1..MAX_ROUNDS.
    function setTiming(uint32 commitWindow, uint32 revealWindow, uint8 rounds)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        if (
            commitWindow < MIN_WINDOW || commitWindow > MAX_WINDOW || revealWindow < MIN_WINDOW
                || revealWindow > MAX_WINDOW || rounds == 0 || rounds > MAX_ROUNDS
        ) revert InvalidTiming();
        timing = Timing(commitWindow, revealWindow, rounds);
        emit TimingSet(commitWindow, revealWindow, rounds);
    }

    /// @notice Chooses the committee policy of a model.
    /// @param modelId The model.
    /// @param policy Sortition or RoundRobin.
    function setPolicy(uint256 modelId, Policy policy) external onlyRole(DEFAULT_ADMIN_ROLE) {
        policyOf[modelId] = policy;
        emit PolicySet(modelId, policy);
    }

    // ------------------------------------------------------------------
    // Pools (GPUManagement)
    // ------------------------------------------------------------------

    /// @notice Adds `node` to the pools of `modelIds` (no-op where already present).
    /// @param node The node operator address.
    /// @param modelIds Models the node serves.
    function addNode(address node, uint256[] calldata modelIds) external onlyRole(POOL_MANAGER_ROLE) {
        for (uint256 i; i < modelIds.length; ++i) {
            uint256 m = modelIds[i];
            if (_slot[m][node] != 0) continue;
            address[] storage pool = _pool[m];
            pool.push(node);
            _slot[m][node] = pool.length;
            emit PoolJoined(m, node, pool.length);
        }
    }

    /// @notice Removes `node` from the pools of `modelIds` (no-op where absent); O(1) per model.
    /// @param node The node operator address.
    /// @param modelIds Models the node served.
    function removeNode(address node, uint256[] calldata modelIds) external onlyRole(POOL_MANAGER_ROLE) {
        for (uint256 i; i < modelIds.length; ++i) {
            uint256 m = modelIds[i];
            uint256 pos = _slot[m][node];
            if (pos == 0) continue;
            address[] storage pool = _pool[m];
            uint256 last = pool.length;
            if (pos != last) {
                address moved = pool[last - 1];
                pool[pos - 1] = moved;
                _slot[m][moved] = pos;
            }
            pool.pop();
            delete _slot[m][node];
            emit PoolLeft(m, node, last - 1);
        }
    }

    // ------------------------------------------------------------------
    // Assignment (DecentralizedInference)
    // ------------------------------------------------------------------

    /// @notice Picks `k` distinct eligible nodes for `modelId` and returns the round's deadlines.
    /// @dev Nodes in `exclude` (the previous round's committee) are skipped when the pool has
    ///      enough other nodes; otherwise the exclusion is dropped. Reverts with NotEnoughNodes
    ///      when the pool is smaller than `k`.
    /// @param modelId The model.
    /// @param k Committee size.
    /// @param seed Randomness for sortition (ignored by round-robin).
    /// @param exclude Nodes to avoid.
    /// @return committee The chosen nodes.
    /// @return commitDeadline Last timestamp at which a commit is accepted.
    /// @return revealDeadline Last timestamp at which a reveal is accepted.
    function assign(uint256 modelId, uint256 k, uint256 seed, address[] calldata exclude)
        external
        onlyRole(ASSIGNER_ROLE)
        returns (address[] memory committee, uint32 commitDeadline, uint32 revealDeadline)
    {
        if (k == 0 || k > MAX_COMMITTEE) revert InvalidCommitteeSize(k);
        committee = _select(modelId, k, seed, _exclusion(modelId, k, exclude));
        Timing memory t = timing;
        commitDeadline = uint32(block.timestamp) + t.commitWindow;
        revealDeadline = commitDeadline + t.revealWindow;
    }

    function _exclusion(uint256 modelId, uint256 k, address[] calldata exclude)
        private
        view
        returns (address[] memory ex)
    {
        uint256 n = _pool[modelId].length;
        if (n < k) revert NotEnoughNodes(modelId, n, k);
        if (exclude.length == 0) return ex;
        uint256 present;
        for (uint256 i; i < exclude.length; ++i) {
            if (_slot[modelId][exclude[i]] != 0) ++present;
        }
        if (n - present >= k) ex = exclude;
    }

    function _select(uint256 modelId, uint256 k, uint256 seed, address[] memory ex)
        private
        returns (address[] memory committee)
    {
        address[] storage pool = _pool[modelId];
        if (policyOf[modelId] == Policy.RoundRobin) {
            uint256 cursor;
            (committee, cursor) = _pick(pool, k, 0, cursorOf[modelId] % pool.length, true, ex);
            cursorOf[modelId] = cursor;
            emit CursorAdvanced(modelId, cursor);
        } else {
            (committee,) = _pick(pool, k, seed, 0, false, ex);
        }
    }

    // ------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------

    /// @notice Number of eligible nodes for a model.
    /// @param modelId The model.
    function poolSize(uint256 modelId) external view returns (uint256) {
        return _pool[modelId].length;
    }

    /// @notice The eligible node at `index` of a model's pool (order changes on removals).
    /// @param modelId The model.
    /// @param index Position in the pool.
    function poolAt(uint256 modelId, uint256 index) external view returns (address) {
        return _pool[modelId][index];
    }

    /// @notice Whether `node` is in the pool of `modelId`.
    /// @param modelId The model.
    /// @param node The node.
    function inPool(uint256 modelId, address node) external view returns (bool) {
        return _slot[modelId][node] != 0;
    }

    /// @notice Rounds a prompt may try before it is refunded.
    function maxRounds() external view returns (uint8) {
        return timing.maxRounds;
    }

    /// @dev Picks k distinct pool members not in `ex`; the caller guarantees enough candidates.
    function _pick(
        address[] storage pool,
        uint256 k,
        uint256 seed,
        uint256 idx,
        bool robin,
        address[] memory ex
    ) private view returns (address[] memory committee, uint256 next) {
        uint256 n = pool.length;
        committee = new address[](k);
        for (uint256 i; i < k; ++i) {
            if (!robin) idx = uint256(keccak256(abi.encode(seed, i))) % n;
            while (true) {
                address a = pool[idx];
                if (!_contains(committee, i, a) && !_contains(ex, ex.length, a)) {
                    committee[i] = a;
                    break;
                }
                idx = idx + 1 == n ? 0 : idx + 1;
            }
            idx = idx + 1 == n ? 0 : idx + 1;
        }
        next = idx;
    }

    function _contains(address[] memory list, uint256 len, address a) private pure returns (bool) {
        for (uint256 j; j < len; ++j) {
            if (list[j] == a) return true;
        }
        return false;
    }
}
