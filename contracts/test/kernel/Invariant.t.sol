// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {Vm} from "forge-std/Vm.sol";
import {console} from "forge-std/console.sol";
import {IAIKernel} from "../../src/interfaces/IAIKernel.sol";
import {EAI} from "../../src/token/EAI.sol";
import {GPUManagement} from "../../src/kernel/GPUManagement.sol";
import {PromptScheduler} from "../../src/kernel/PromptScheduler.sol";
import {DecentralizedInference} from "../../src/kernel/DecentralizedInference.sol";
import {KernelCore} from "../../src/kernel/KernelCore.sol";
import {KernelBase} from "./KernelBase.sol";
import {RecordingConsumer, GasBurningConsumer} from "./mocks/Consumers.sol";

/// @notice Drives the kernel with several requesters (an EOA, a recording dapp, a dapp whose
///         callback burns all its gas), two models, and nodes that answer honestly, wrongly or not
///         at all, and that stake, unbond, pause, resume, leave and come back. Keeps ghost accounts
///         of every wei and EAI that moves, and counts the reverts it swallows.
contract KernelHandler is Test {
    DecentralizedInference internal kernel;
    GPUManagement internal gpu;
    PromptScheduler internal scheduler;
    EAI internal eai;
    uint256[2] internal modelIds;
    address[] public requesters;
    address[] public nodes;
    uint256[] public prompts;
    /// @notice Calls settle and publish (and so earns callback fees).
    address public keeper = makeAddr("keeper");

    bytes internal constant ANSWER = abi.encode(uint8(2));
    bytes internal constant WRONG = abi.encode(uint8(3));

    // Ghosts.
    uint256 public ethIn; // fees kept by the kernel
    uint256 public ethOut; // ETH the kernel paid out (withdrawals, pushed refunds, protocol fees)
    uint256 public eaiClaimed; // EAI minted as block rewards
    uint256 public eaiForfeited; // block rewards lost to slashes
    mapping(uint256 => uint256) public feeOf; // what each prompt paid
    mapping(uint256 => uint256) public modelOf;
    mapping(uint256 => uint256) public finals; // PromptSettled + PromptRefunded per prompt
    mapping(address => uint256) public deposited;
    mapping(address => uint256) public withdrawn;
    mapping(address => uint256) public slashed;
    mapping(address => uint256) public credited;
    bool public slashAboveBalance;
    uint256 public settledCount;
    uint256 public refundedCount;
    uint256 public slashCount;
    uint256 public escalations;
    /// @notice Reverts swallowed by the handler, by action.
    mapping(bytes32 => uint256) public swallowed;
    uint256 public swallowedTotal;
    mapping(bytes32 => bytes) internal _outputOf; // (prompt, round, node) -> committed output

    constructor(
        DecentralizedInference k,
        GPUManagement g,
        PromptScheduler s,
        EAI e,
        uint256[2] memory m,
        address[] memory reqs,
        address[] memory n
    ) {
        kernel = k;
        gpu = g;
        scheduler = s;
        eai = e;
        modelIds = m;
        requesters = reqs;
        nodes = n;
        for (uint256 i; i < n.length; ++i) {
            deposited[n[i]] = gpu.slashableOf(n[i]);
        }
    }

    function promptCount() external view returns (uint256) {
        return prompts.length;
    }

    function requesterCount() external view returns (uint256) {
        return requesters.length;
    }

    // ------------------------------------------------------------ requests

    function submit(uint8 who, uint8 kRaw, bool secondModel, uint96 extra) external {
        if (prompts.length >= 40) return;
        uint16 k = uint16(bound(kRaw, 0, 2)) * 2 + 1;
        address requester = requesters[who % requesters.length];
        uint256 m = modelIds[secondModel ? 1 : 0];
        bool eoa = requester.code.length == 0;
        IAIKernel.Request memory r = IAIKernel.Request({
            modelId: m,
            topic: bytes32(uint256(kRaw % 3)),
            input: "question",
            inputHash: bytes32(0),
            extraContext: "",
            schema: "",
            maxTokens: 8,
            temperature: 0,
            seed: 1,
            callback: eoa ? address(0) : requester,
            callbackGasLimit: eoa ? 0 : 100_000,
            committeeSize: k
        });
        uint256 fee = kernel.quote(m, 8, k, r.callbackGasLimit);
        uint256 value = fee + bound(extra, 0, 1 ether);
        vm.deal(requester, value);
        vm.prank(requester);
        try kernel.infer{value: value}(r) returns (uint256 pid) {
            prompts.push(pid);
            ethIn += fee;
            feeOf[pid] = fee;
            modelOf[pid] = m;
            if (extra % 2 == 0) {
                this.round(prompts.length - 1, uint16(extra >> 8), uint16(extra >> 24), false);
            }
        } catch {
            _swallow("submit");
        }
    }

    /// @notice A whole round: every member commits (bit i of `wrongMask` = wrong output, bit i of
    ///         `silentMask` = never commits), then every committer reveals, with its output bytes
    ///         when `withBytes`, else only the round hash (then someone publishes).
    function round(uint256 pIdx, uint16 wrongMask, uint16 silentMask, bool withBytes) external {
        if (prompts.length == 0) return;
        uint256 pid = prompts[pIdx % prompts.length];
        if (kernel.statusOf(pid) != IAIKernel.Status.Committing) return;
        address[] memory c = _readyCommittee(pid);
        if (c.length == 0) return;
        uint8 r = kernel.promptInfo(pid).round;
        // Mostly honest rounds; a quarter with wrong outputs, a quarter with silent nodes.
        if (wrongMask % 4 != 0) wrongMask = 0;
        if (silentMask % 4 != 0) silentMask = 0;
        for (uint256 i; i < c.length; ++i) {
            if (silentMask & (1 << i) != 0 && i % 2 == 1) continue;
            _commit(pid, r, c[i], wrongMask & (1 << i) != 0 ? WRONG : ANSWER);
        }
        uint256 closes = uint256(kernel.promptInfo(pid).commitDeadline) + 1;
        if (kernel.statusOf(pid) == IAIKernel.Status.Committing && closes > block.timestamp) vm.warp(closes);
        for (uint256 i; i < c.length; ++i) {
            _reveal(pid, r, c[i], withBytes);
        }
        if (kernel.statusOf(pid) == IAIKernel.Status.Publishing) this.publish(pIdx, false);
    }

    function commit(uint256 pIdx, uint256 mIdx, bool wrong) external {
        if (prompts.length == 0) return;
        uint256 pid = prompts[pIdx % prompts.length];
        if (kernel.statusOf(pid) != IAIKernel.Status.Committing) return;
        address[] memory c = _readyCommittee(pid);
        if (c.length == 0) return;
        _commit(pid, kernel.promptInfo(pid).round, c[mIdx % c.length], wrong ? WRONG : ANSWER);
    }

    function reveal(uint256 pIdx, uint256 mIdx, bool withBytes) external {
        if (prompts.length == 0) return;
        uint256 pid = prompts[pIdx % prompts.length];
        IAIKernel.Status s = kernel.statusOf(pid);
        if (s != IAIKernel.Status.Committing && s != IAIKernel.Status.Revealing) return;
        address[] memory c = kernel.committeeOf(pid);
        if (c.length == 0) return;
        _reveal(pid, kernel.promptInfo(pid).round, c[mIdx % c.length], withBytes);
    }

    function publish(uint256 pIdx, bool wrong) external {
        if (prompts.length == 0) return;
        uint256 pid = prompts[pIdx % prompts.length];
        if (kernel.statusOf(pid) != IAIKernel.Status.Publishing) return;
        _observe();
        vm.prank(keeper);
        try kernel.publish(pid, wrong ? WRONG : ANSWER, _trace(wrong ? WRONG : ANSWER)) {}
        catch {
            // Try the other output: the round may have decided on it.
            vm.prank(keeper);
            try kernel.publish(pid, wrong ? ANSWER : WRONG, _trace(wrong ? ANSWER : WRONG)) {}
            catch {
                _swallow("publish");
            }
        }
        _account();
    }

    function settle(uint256 pIdx) external {
        if (prompts.length == 0) return;
        _settle(prompts[pIdx % prompts.length]);
    }

    function warp(uint256 secs) external {
        vm.warp(block.timestamp + bound(secs, 1, 150));
        vm.roll(block.number + 1);
    }

    /// @notice Sometimes far enough that undrawn seeds expire.
    function roll(uint256 blocks) external {
        vm.roll(block.number + (blocks % 5 == 0 ? 300 : bound(blocks, 1, 5)));
    }

    // ------------------------------------------------------------ money

    function withdraw(uint256 who) external {
        address a = _holder(who);
        uint256 e = kernel.earningsOf(a);
        vm.prank(a);
        try kernel.withdraw() {
            ethOut += e;
        } catch {
            _swallow("withdraw");
        }
    }

    function withdrawProtocolFees() external {
        address t = kernel.treasury();
        uint256 accrued = kernel.earningsOf(t);
        vm.prank(t);
        try kernel.withdraw() {
            ethOut += accrued;
        } catch {
            _swallow("withdrawProtocolFees");
        }
    }

    function claimRewards(uint256 nIdx) external {
        address n = nodes[nIdx % nodes.length];
        uint256 pending = gpu.pendingRewards(n);
        vm.prank(n);
        try gpu.claimRewards() {
            eaiClaimed += pending;
        } catch {
            _swallow("claimRewards");
        }
    }

    // ------------------------------------------------------------ nodes

    function addStake(uint256 nIdx, uint96 amount) external {
        address n = nodes[nIdx % nodes.length];
        uint256 a = bound(amount, 1, 2000 ether);
        if (eai.balanceOf(n) < a) return;
        vm.startPrank(n);
        eai.approve(address(gpu), a);
        try gpu.addStake(a) {
            deposited[n] += a;
        } catch {
            _swallow("addStake");
        }
        vm.stopPrank();
    }

    function unbond(uint256 nIdx, uint96 amount) external {
        address n = nodes[nIdx % nodes.length];
        uint256 stake = gpu.nodeInfo(n).stake;
        if (stake == 0) return;
        vm.prank(n);
        try gpu.unbond(bound(amount, 1, stake)) {}
        catch {
            _swallow("unbond");
        }
    }

    function pauseOrResume(uint256 nIdx) external {
        address n = nodes[nIdx % nodes.length];
        GPUManagement.NodeStatus s = gpu.nodeInfo(n).status;
        vm.prank(n);
        if (s == GPUManagement.NodeStatus.Active) {
            try gpu.pause() {}
            catch {
                _swallow("pause");
            }
        } else {
            try gpu.resume() {}
            catch {
                _swallow("resume");
            }
        }
    }

    function unregister(uint256 nIdx) external {
        if (nIdx % 3 != 0) return; // leaving is rarer than the rest
        address n = nodes[nIdx % nodes.length];
        vm.prank(n);
        try gpu.unregister() {}
        catch {
            _swallow("unregister");
        }
    }

    function withdrawUnbonded(uint256 nIdx) external {
        address n = nodes[nIdx % nodes.length];
        vm.warp(block.timestamp + 7 days);
        uint256 amount = gpu.nodeInfo(n).unbonding;
        vm.prank(n);
        try gpu.withdrawUnbonded() {
            withdrawn[n] += amount;
        } catch {
            _swallow("withdrawUnbonded");
        }
    }

    function reregister(uint256 nIdx) external {
        address n = nodes[nIdx % nodes.length];
        if (gpu.isRegistered(n)) return;
        uint256 stake = eai.balanceOf(n);
        if (stake < gpu.minStake()) return;
        uint256[] memory ids = new uint256[](2);
        ids[0] = modelIds[0];
        ids[1] = modelIds[1];
        vm.startPrank(n);
        eai.approve(address(gpu), stake);
        try gpu.register(GPUManagement.Hardware("cpu", 24_576, 1), ids, stake) {
            deposited[n] += stake;
        } catch {
            _swallow("register");
        }
        vm.stopPrank();
    }

    function unjail(uint256 nIdx) external {
        address n = nodes[nIdx % nodes.length];
        vm.prank(n);
        try gpu.unjail() {}
        catch {
            _swallow("unjail");
        }
    }

    // ------------------------------------------------------------ helpers

    /// @dev The current round's committee, mining past its seed block first.
    function _readyCommittee(uint256 pid) internal returns (address[] memory) {
        (uint64 seedBlock,) = kernel.seedBlockOf(pid);
        if (block.number <= seedBlock) vm.roll(seedBlock + 1);
        return kernel.committeeOf(pid);
    }

    function _salt(address node, uint256 pid, uint8 r) internal pure returns (bytes32) {
        return keccak256(abi.encode(node, pid, r));
    }

    function _trace(bytes memory out) internal pure returns (bytes32) {
        return keccak256(abi.encode("logits of", out));
    }

    function _roundHash(uint256 pid, uint8 r, bytes memory out) internal pure returns (bytes32) {
        return keccak256(abi.encode(pid, r, keccak256(abi.encode(keccak256(out), _trace(out)))));
    }

    function _commit(uint256 pid, uint8 r, address node, bytes memory out) internal {
        bytes32 h = keccak256(abi.encode(pid, r, _roundHash(pid, r, out), _salt(node, pid, r), node));
        bytes32 commitment = bytes32((uint256(h) >> 32) << 32 | uint32(uint160(kernel.promptInfo(pid).blob)));
        vm.prank(node);
        try kernel.commit(pid, commitment) {
            _outputOf[keccak256(abi.encode(pid, r, node))] = out;
        } catch {
            _swallow("commit");
        }
    }

    function _reveal(uint256 pid, uint8 r, address node, bool withBytes) internal {
        bytes memory out = _outputOf[keccak256(abi.encode(pid, r, node))];
        if (out.length == 0) return;
        _observe();
        vm.prank(node);
        try kernel.reveal(
            pid, _salt(node, pid, r), _roundHash(pid, r, out), withBytes ? out : bytes(""), _trace(out)
        ) {}
        catch {
            _swallow("reveal");
        }
        _account();
    }

    function _settle(uint256 pid) internal {
        _observe();
        vm.prank(keeper);
        try kernel.settle(pid) {}
        catch {
            _swallow("settle");
        }
        _account();
    }

    function _holder(uint256 who) internal view returns (address) {
        uint256 i = who % (requesters.length + nodes.length + 1);
        if (i < requesters.length) return requesters[i];
        if (i == requesters.length) return keeper;
        return nodes[i - requesters.length - 1];
    }

    function _swallow(bytes32 action) internal {
        ++swallowed[action];
        ++swallowedTotal;
    }

    /// @notice Drives every open prompt to a final state: past every deadline, settle round after round.
    function finalizeAll() external {
        for (uint256 r; r < 12; ++r) {
            vm.warp(block.timestamp + 200);
            vm.roll(block.number + 2);
            for (uint256 i; i < prompts.length; ++i) {
                IAIKernel.Status s = kernel.statusOf(prompts[i]);
                if (s != IAIKernel.Status.Settled && s != IAIKernel.Status.Refunded) {
                    uint256 end = uint256(kernel.promptInfo(prompts[i]).revealDeadline) + 1;
                    if (end > block.timestamp) vm.warp(end);
                    _settle(prompts[i]);
                }
            }
        }
    }

    mapping(address => uint256) internal _before;

    function _observe() internal {
        for (uint256 i; i < nodes.length; ++i) {
            _before[nodes[i]] = gpu.slashableOf(nodes[i]);
        }
        vm.recordLogs();
    }

    function _account() internal {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            bytes32 t = logs[i].topics[0];
            if (t == IAIKernel.PromptSettled.selector || t == IAIKernel.PromptRefunded.selector) {
                finals[uint256(logs[i].topics[1])] += 1;
                if (t == IAIKernel.PromptSettled.selector) ++settledCount;
                else ++refundedCount;
                if (t == IAIKernel.PromptRefunded.selector && !_creditedRefund(logs, logs[i].topics[1])) {
                    (uint256 amount) = abi.decode(logs[i].data, (uint256));
                    ethOut += amount; // pushed to the requester
                }
            } else if (t == GPUManagement.NodeSlashed.selector) {
                address n = address(uint160(uint256(logs[i].topics[1])));
                (uint256 amount,,) = abi.decode(logs[i].data, (uint256, uint256, uint8));
                if (amount > _before[n]) slashAboveBalance = true;
                ++slashCount;
                slashed[n] += amount;
            } else if (t == GPUManagement.SlashRewardCredited.selector) {
                address n = address(uint160(uint256(logs[i].topics[1])));
                credited[n] += abi.decode(logs[i].data, (uint256));
            } else if (t == GPUManagement.RewardsForfeited.selector) {
                eaiForfeited += abi.decode(logs[i].data, (uint256));
            } else if (t == KernelCore.DrawScheduled.selector) {
                (uint8 r,,,) = abi.decode(logs[i].data, (uint8, uint64, uint32, uint32));
                if (r > 0) ++escalations;
            }
        }
    }

    function _creditedRefund(Vm.Log[] memory logs, bytes32 pidTopic) internal pure returns (bool) {
        for (uint256 j; j < logs.length; ++j) {
            if (logs[j].topics[0] == KernelCore.RefundCredited.selector && logs[j].topics[1] == pidTopic) {
                return true;
            }
        }
        return false;
    }
}

contract KernelInvariantTest is KernelBase {
    KernelHandler internal handler;
    uint256 internal secondModel;
    address[] internal requesters;

    function setUp() public override {
        super.setUp();
        secondModel = models.registerModel(_spec());
        _addNodes(9);
        uint256[] memory both = new uint256[](2);
        both[0] = modelId;
        both[1] = secondModel;
        for (uint256 i; i < nodes.length; ++i) {
            vm.prank(nodes[i]);
            gpu.setServedModels(both);
        }
        requesters.push(user);
        requesters.push(address(new RecordingConsumer(kernel)));
        requesters.push(address(new GasBurningConsumer(kernel)));
        handler = new KernelHandler(kernel, gpu, scheduler, eai, [modelId, secondModel], requesters, nodes);
        targetContract(address(handler));
    }

    function _holders() internal view returns (address[] memory all) {
        all = new address[](requesters.length + nodes.length + 1);
        for (uint256 i; i < requesters.length; ++i) {
            all[i] = requesters[i];
        }
        all[requesters.length] = handler.keeper();
        for (uint256 i; i < nodes.length; ++i) {
            all[requesters.length + 1 + i] = nodes[i];
        }
    }

    /// ETH is conserved: what came in as fees is held (escrow + earnings + protocol fees) or paid out.
    function invariant_ethConserved() public view {
        assertEq(handler.ethIn(), address(kernel).balance + handler.ethOut());
        uint256 held = kernel.earningsOf(treasury);
        address[] memory all = _holders();
        for (uint256 i; i < all.length; ++i) {
            held += kernel.earningsOf(all[i]);
        }
        for (uint256 i; i < handler.promptCount(); ++i) {
            uint256 pid = handler.prompts(i);
            IAIKernel.Status s = kernel.statusOf(pid);
            if (s != IAIKernel.Status.Settled && s != IAIKernel.Status.Refunded) held += handler.feeOf(pid);
        }
        assertEq(address(kernel).balance, held);
    }

    /// EAI is conserved: supply + burned = genesis + claimed rewards, stakes are fully backed, and
    /// claimed + unclaimed + forfeited rewards never exceed what was emitted (nor the budget).
    function invariant_eaiConserved() public view {
        assertEq(eai.totalSupply() + eai.totalBurned(), GENESIS + handler.eaiClaimed());
        uint256 staked;
        uint256 pending;
        for (uint256 i; i < nodes.length; ++i) {
            staked += gpu.slashableOf(nodes[i]);
            pending += gpu.pendingRewards(nodes[i]);
        }
        assertEq(eai.balanceOf(address(gpu)), staked);
        uint256 emitted = gpu.emittedRewards();
        assertLe(handler.eaiClaimed() + pending + handler.eaiForfeited(), emitted);
        assertLe(emitted, REWARD_BUDGET);
        uint256 holders = eai.balanceOf(address(this)) + eai.balanceOf(treasury) + staked;
        for (uint256 i; i < nodes.length; ++i) {
            holders += eai.balanceOf(nodes[i]);
        }
        assertEq(holders + eai.totalBurned(), GENESIS + handler.eaiClaimed());
    }

    /// No prompt settles (or refunds) twice.
    function invariant_noDoubleSettlement() public view {
        for (uint256 i; i < handler.promptCount(); ++i) {
            assertLe(handler.finals(handler.prompts(i)), 1);
        }
    }

    /// A slash never takes more than the node's stake + unbonding, and every node's balance
    /// equals deposits + credits - withdrawals - slashes.
    function invariant_slashBoundedByStake() public view {
        assertFalse(handler.slashAboveBalance());
        for (uint256 i; i < nodes.length; ++i) {
            address n = nodes[i];
            assertEq(
                gpu.slashableOf(n),
                handler.deposited(n) + handler.credited(n) - handler.withdrawn(n) - handler.slashed(n)
            );
        }
    }

    /// Every pending pool snapshot belongs to an open prompt whose current round is not drawn yet
    /// (so pools are compacted again once draws catch up), and pools count their live nodes.
    function invariant_snapshotsMatchUndrawnRounds() public view {
        uint256[2] memory open;
        for (uint256 i; i < handler.promptCount(); ++i) {
            uint256 pid = handler.prompts(i);
            if (kernel.statusOf(pid) != IAIKernel.Status.Committing) continue;
            (, bool drawn) = kernel.seedBlockOf(pid);
            if (!drawn) ++open[handler.modelOf(pid) == modelId ? 0 : 1];
        }
        (,, uint256 pending0) = scheduler.poolState(modelId);
        (,, uint256 pending1) = scheduler.poolState(secondModel);
        assertEq(pending0, open[0]);
        assertEq(pending1, open[1]);
        uint256 eligible;
        for (uint256 i; i < nodes.length; ++i) {
            if (gpu.isEligible(nodes[i])) ++eligible;
        }
        assertEq(scheduler.poolSize(modelId), eligible);
    }

    /// Once every deadline has passed, every prompt is final (settled or refunded).
    function afterInvariant() external {
        handler.finalizeAll();
        for (uint256 i; i < handler.promptCount(); ++i) {
            uint256 pid = handler.prompts(i);
            IAIKernel.Status s = kernel.statusOf(pid);
            assertTrue(s == IAIKernel.Status.Settled || s == IAIKernel.Status.Refunded, "prompt stuck");
            assertEq(handler.finals(pid), 1);
        }
        console.log("prompts", handler.promptCount(), "settled", handler.settledCount());
        console.log("refunded", handler.refundedCount(), "escalations", handler.escalations());
        console.log("slashes", handler.slashCount(), "swallowed reverts", handler.swallowedTotal());
        invariant_ethConserved();
        invariant_eaiConserved();
        invariant_snapshotsMatchUndrawnRounds();
    }
}
