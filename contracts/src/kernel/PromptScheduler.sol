// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title PromptScheduler
/// @notice Picks the committees of prompts and fixes their deadlines. Keeps, per model, the pool of
///         eligible nodes (active, staked, not jailed, serving the model with enough hardware);
///         GPUManagement adds and removes nodes as their eligibility changes.
/// @dev A committee is drawn in two steps so that nobody can steer it:
///      1. `snapshot` (when a prompt is submitted, or a round fails) fixes WHICH nodes are
///         candidates: the pool as it is at that moment. Nodes that join later are not candidates;
///         nodes that leave later still are (they must serve what they were eligible for).
///      2. `draw` (in a later block) picks from that snapshot with a seed that did not exist at
///         step 1. Pool changes made after the seed became known (pausing, unbonding, registering
///         more nodes) therefore cannot change the draw.
///      Pools are append-only while any snapshot of the model is pending; a node that leaves keeps
///      its entry (marked with the pool version at which it left) until no draw is pending, when
///      entries are compacted a few at a time. Selection costs O(k) entry reads whatever the pool size.
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

    /// @notice The candidates of a pending draw: the first `length` pool entries that were live at
    ///         pool version `version`, `live` of them.
    struct Snapshot {
        uint32 length;
        uint32 live;
        uint48 version;
    }

    /// @dev One pool entry, one slot. `left == 0` while the node is in the pool.
    struct Entry {
        address node;
        uint48 joined;
        uint48 left;
    }

    /// @dev Per-model counters, one slot: pool version, live nodes, entries (live or dead),
    ///      dead entries awaiting compaction, pending snapshots.
    struct PoolState {
        uint48 version;
        uint32 live;
        uint32 length;
        uint32 dead;
        uint32 pending;
    }

    /// @notice Role allowed to change pools (GPUManagement).
    bytes32 public constant POOL_MANAGER_ROLE = keccak256("POOL_MANAGER_ROLE");
    /// @notice Role allowed to snapshot and draw committees (DecentralizedInference).
    bytes32 public constant ASSIGNER_ROLE = keccak256("ASSIGNER_ROLE");
    /// @notice Largest committee the scheduler assigns.
    uint256 public constant MAX_COMMITTEE = 15;
    /// @notice Bounds on the admin-set windows, in seconds.
    uint32 public constant MIN_WINDOW = 1;
    /// @notice Longest commit or reveal window, in seconds.
    uint32 public constant MAX_WINDOW = 1 days;
    /// @notice Most rounds a prompt may take.
    uint8 public constant MAX_ROUNDS = 10;
    /// @dev Dead entries compacted per pool operation once no draw is pending.
    uint256 internal constant COMPACT_STEPS = 3;

    /// @notice Current phase lengths and round limit.
    Timing public timing;
    /// @notice The committee policy of each model (default Sortition).
    mapping(uint256 => Policy) public policyOf;
    /// @notice Next start index of the round-robin policy per model.
    mapping(uint256 => uint256) public cursorOf;
    /// @notice Escalation committee size per model (0: the default, 2k + 1).
    mapping(uint256 => uint8) public escalationSizeOf;
    mapping(uint256 => Entry[]) internal _entries;
    mapping(uint256 => PoolState) internal _state;
    mapping(uint256 => mapping(address => uint256)) internal _slot; // live entry index + 1
    mapping(uint256 => uint256[]) internal _dead;

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
    /// @notice A model's escalation committee size changed (0: default 2k + 1).
    event EscalationSizeSet(uint256 indexed modelId, uint8 size);
    /// @notice A round-robin pick moved the model's cursor.
    event CursorAdvanced(uint256 indexed modelId, uint256 cursor);

    /// @notice Fewer eligible nodes than the committee needs.
    error NotEnoughNodes(uint256 modelId, uint256 available, uint256 needed);
    /// @notice Committee size outside 1..MAX_COMMITTEE.
    error InvalidCommitteeSize(uint256 size);
    /// @notice A window or round limit out of bounds.
    error InvalidTiming();
    /// @notice A draw or release without a pending snapshot.
    error NoPendingSnapshot(uint256 modelId);

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

    /// @notice Chooses the committee policy of a model. Round-robin is predictable by design: use
    ///         it only for pools whose nodes trust each other.
    /// @param modelId The model.
    /// @param policy Sortition or RoundRobin.
    function setPolicy(uint256 modelId, Policy policy) external onlyRole(DEFAULT_ADMIN_ROLE) {
        policyOf[modelId] = policy;
        emit PolicySet(modelId, policy);
    }

    /// @notice Sets the escalation committee size of a model (odd, <= MAX_COMMITTEE; 0 restores
    ///         the default 2k + 1). An escalation is never smaller than 2k + 1.
    /// @param modelId The model.
    /// @param size The size.
    function setEscalationSize(uint256 modelId, uint8 size) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (size > MAX_COMMITTEE || (size != 0 && size % 2 == 0)) revert InvalidCommitteeSize(size);
        escalationSizeOf[modelId] = size;
        emit EscalationSizeSet(modelId, size);
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
            PoolState memory s = _state[m];
            s.version += 1;
            s.live += 1;
            s.length += 1;
            _entries[m].push(Entry({node: node, joined: s.version, left: 0}));
            _slot[m][node] = s.length;
            if (s.pending == 0 && s.dead != 0) _compact(m, s);
            _state[m] = s;
            emit PoolJoined(m, node, s.live);
        }
    }

    /// @notice Removes `node` from the pools of `modelIds` (no-op where absent); O(1) per model.
    ///         Snapshots taken before still count the node as a candidate.
    /// @param node The node operator address.
    /// @param modelIds Models the node served.
    function removeNode(address node, uint256[] calldata modelIds) external onlyRole(POOL_MANAGER_ROLE) {
        for (uint256 i; i < modelIds.length; ++i) {
            uint256 m = modelIds[i];
            uint256 pos = _slot[m][node];
            if (pos == 0) continue;
            PoolState memory s = _state[m];
            s.version += 1;
            s.live -= 1;
            s.dead += 1;
            _entries[m][pos - 1].left = s.version;
            delete _slot[m][node];
            _dead[m].push(pos - 1);
            if (s.pending == 0) _compact(m, s);
            _state[m] = s;
            emit PoolLeft(m, node, s.live);
        }
    }

    // ------------------------------------------------------------------
    // Committees (DecentralizedInference)
    // ------------------------------------------------------------------

    /// @notice Fixes the candidates of a future draw: the pool as it is now. Reverts with
    ///         NotEnoughNodes when fewer than `minSize` nodes are eligible.
    /// @param modelId The model.
    /// @param minSize The smallest committee the caller accepts (1..MAX_COMMITTEE).
    /// @return snap The snapshot to pass to `draw` (or `release`).
    function snapshot(uint256 modelId, uint256 minSize)
        external
        onlyRole(ASSIGNER_ROLE)
        returns (Snapshot memory snap)
    {
        if (minSize == 0 || minSize > MAX_COMMITTEE) {
            revert InvalidCommitteeSize(minSize);
        }
        PoolState memory s = _state[modelId];
        if (s.live < minSize) revert NotEnoughNodes(modelId, s.live, minSize);
        _state[modelId].pending = s.pending + 1;
        snap = Snapshot({length: s.length, live: s.live, version: s.version});
    }

    /// @notice Draws a committee from a pending snapshot: `k` distinct candidates (fewer, odd, when
    ///         the snapshot has fewer), avoiding `exclude` when enough others remain.
    /// @param modelId The model.
    /// @param k Wanted committee size.
    /// @param seed Randomness that did not exist when the snapshot was taken.
    /// @param snap The snapshot.
    /// @param exclude Nodes to avoid (the prompt's earlier committees).
    /// @return committee The chosen nodes.
    function draw(
        uint256 modelId,
        uint256 k,
        uint256 seed,
        Snapshot calldata snap,
        address[] calldata exclude
    ) external onlyRole(ASSIGNER_ROLE) returns (address[] memory committee) {
        PoolState memory s = _release(modelId);
        uint256 cursor;
        (committee, cursor) = _pick(modelId, k, seed, snap, exclude);
        if (policyOf[modelId] == Policy.RoundRobin) {
            cursorOf[modelId] = cursor;
            emit CursorAdvanced(modelId, cursor);
        }
        if (s.pending == 0 && s.dead != 0) _compact(modelId, s);
        _state[modelId] = s;
    }

    /// @notice Gives up a pending snapshot without drawing (the round ended first).
    /// @param modelId The model.
    function release(uint256 modelId) external onlyRole(ASSIGNER_ROLE) {
        PoolState memory s = _release(modelId);
        if (s.pending == 0 && s.dead != 0) _compact(modelId, s);
        _state[modelId] = s;
    }

    /// @notice The committee `draw` would pick now (nodes use it to learn their duty before the
    ///         committee is drawn).
    /// @param modelId The model.
    /// @param k Wanted committee size.
    /// @param seed The seed.
    /// @param snap The snapshot.
    /// @param exclude Nodes to avoid.
    function preview(
        uint256 modelId,
        uint256 k,
        uint256 seed,
        Snapshot calldata snap,
        address[] calldata exclude
    ) external view returns (address[] memory committee) {
        (committee,) = _pick(modelId, k, seed, snap, exclude);
    }

    /// @notice The size of an escalation committee after a round-0 committee of `k`.
    /// @param modelId The model.
    /// @param k The first committee's size.
    function escalationSize(uint256 modelId, uint256 k) external view returns (uint256 size) {
        size = 2 * k + 1;
        uint256 set = escalationSizeOf[modelId];
        if (set > size) size = set;
        if (size > MAX_COMMITTEE) size = MAX_COMMITTEE;
    }

    // ------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------

    /// @notice Number of eligible nodes for a model.
    /// @param modelId The model.
    function poolSize(uint256 modelId) external view returns (uint256) {
        return _state[modelId].live;
    }

    /// @notice Whether `node` is in the pool of `modelId`.
    /// @param modelId The model.
    /// @param node The node.
    function inPool(uint256 modelId, address node) external view returns (bool) {
        return _slot[modelId][node] != 0;
    }

    /// @notice Pool entries (live or awaiting compaction), pool version and pending draws of a model.
    /// @param modelId The model.
    function poolState(uint256 modelId)
        external
        view
        returns (uint256 entries, uint256 version, uint256 pending)
    {
        PoolState memory s = _state[modelId];
        return (s.length, s.version, s.pending);
    }

    /// @notice Rounds a prompt may try before it is refunded.
    function maxRounds() external view returns (uint8) {
        return timing.maxRounds;
    }

    // ------------------------------------------------------------------
    // Internal
    // ------------------------------------------------------------------

    /// @dev The model's counters with one pending snapshot less (the caller stores them).
    function _release(uint256 modelId) private view returns (PoolState memory s) {
        s = _state[modelId];
        if (s.pending == 0) revert NoPendingSnapshot(modelId);
        s.pending -= 1;
    }

    /// @dev Picks distinct snapshot candidates not in `exclude` (dropped when too few others
    ///      remain). Candidates are the entries below `snap.length` that were live at
    ///      `snap.version`; there are exactly `snap.live` of them, so the probing always ends.
    function _pick(
        uint256 modelId,
        uint256 k,
        uint256 seed,
        Snapshot calldata snap,
        address[] calldata exclude
    ) private view returns (address[] memory committee, uint256 idx) {
        if (k == 0 || k > MAX_COMMITTEE) revert InvalidCommitteeSize(k);
        uint256 live = snap.live;
        if (live == 0) revert NotEnoughNodes(modelId, 0, k);
        if (k > live) k = live % 2 == 1 ? live : live - 1;
        address[] memory ex = live < k + exclude.length ? new address[](0) : exclude;
        Entry[] storage entries = _entries[modelId];
        uint256 n = snap.length;
        bool robin = policyOf[modelId] == Policy.RoundRobin;
        if (robin) idx = cursorOf[modelId] % n;
        committee = new address[](k);
        for (uint256 i; i < k; ++i) {
            if (!robin) idx = uint256(keccak256(abi.encode(seed, i))) % n;
            while (!_candidate(entries[idx], snap.version, committee, i, ex)) {
                idx = idx + 1 == n ? 0 : idx + 1;
            }
            committee[i] = entries[idx].node;
            idx = idx + 1 == n ? 0 : idx + 1;
        }
    }

    /// @dev Whether an entry was live at `version` and is neither picked nor excluded.
    function _candidate(
        Entry storage entry,
        uint48 version,
        address[] memory picked,
        uint256 count,
        address[] memory ex
    ) private view returns (bool) {
        Entry memory e = entry;
        if (e.left != 0 && e.left <= version) return false;
        return !_contains(picked, count, e.node) && !_contains(ex, ex.length, e.node);
    }

    /// @dev Moves up to COMPACT_STEPS dead entries out of the pool (swap with the last, pop),
    ///      updating the counters in `s`. Only called when no snapshot of the model is pending, so
    ///      no draw sees the moves.
    function _compact(uint256 modelId, PoolState memory s) private {
        Entry[] storage entries = _entries[modelId];
        uint256[] storage dead = _dead[modelId];
        for (uint256 step; step < COMPACT_STEPS && dead.length != 0; ++step) {
            uint256 i = dead[dead.length - 1];
            dead.pop();
            uint256 len = entries.length;
            if (i >= len || entries[i].left == 0) continue; // stale record
            uint256 last = len - 1;
            if (i != last) {
                Entry memory moved = entries[last];
                entries[i] = moved;
                if (moved.left == 0) _slot[modelId][moved.node] = i + 1;
                else dead.push(i);
            }
            entries.pop();
            s.length -= 1;
            s.dead -= 1;
        }
    }

    function _contains(address[] memory list, uint256 len, address a) private pure returns (bool) {
        for (uint256 j; j < len; ++j) {
            if (list[j] == a) return true;
        }
        return false;
    }
}
