// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {Vm} from "forge-std/Vm.sol";
import {console} from "forge-std/console.sol";
import {IAIKernel} from "../../src/interfaces/IAIKernel.sol";
import {EAI} from "../../src/token/EAI.sol";
import {GPUManagement} from "../../src/kernel/GPUManagement.sol";
import {DecentralizedInference} from "../../src/kernel/DecentralizedInference.sol";
import {KernelBase} from "./KernelBase.sol";

/// @notice Drives the kernel with random users and nodes (honest, wrong, silent, leaving) and
///         keeps ghost accounts of every wei and every EAI that moves.
contract KernelHandler is Test {
    DecentralizedInference internal kernel;
    GPUManagement internal gpu;
    EAI internal eai;
    uint256 internal modelId;
    address internal user;
    address[] public nodes;
    uint256[] public prompts;

    bytes internal constant ANSWER = abi.encode(uint8(2));
    bytes internal constant WRONG = abi.encode(uint8(3));

    // Ghosts.
    uint256 public ethIn; // fees kept by the kernel
    uint256 public ethOut; // ETH the kernel paid out (withdrawals, refunds, protocol fees)
    uint256 public eaiMinted; // EAI minted by withdrawals
    mapping(uint256 => uint256) public finals; // PromptSettled + PromptRefunded per prompt
    mapping(address => uint256) public deposited;
    mapping(address => uint256) public withdrawn;
    mapping(address => uint256) public slashed;
    mapping(address => uint256) public credited;
    bool public slashAboveBalance;
    uint256 public settledCount;
    uint256 public refundedCount;
    uint256 public slashCount;
    mapping(bytes32 => bytes) internal _outputOf; // (prompt, round, node) -> committed output

    constructor(DecentralizedInference k, GPUManagement g, EAI e, uint256 m, address u, address[] memory n) {
        kernel = k;
        gpu = g;
        eai = e;
        modelId = m;
        user = u;
        nodes = n;
        for (uint256 i; i < n.length; ++i) {
            deposited[n[i]] = gpu.slashableOf(n[i]);
        }
    }

    function promptCount() external view returns (uint256) {
        return prompts.length;
    }

    function nodeCount() external view returns (uint256) {
        return nodes.length;
    }

    // ------------------------------------------------------------ actions

    function submit(uint8 kRaw, uint96 extra) external {
        if (prompts.length >= 40) return;
        uint16 k = uint16(bound(kRaw, 0, 2)) * 2 + 1;
        IAIKernel.Request memory r = IAIKernel.Request({
            modelId: modelId,
            topic: bytes32(uint256(kRaw % 3)),
            input: "question",
            inputHash: bytes32(0),
            extraContext: "",
            schema: "",
            maxTokens: 8,
            temperature: 0,
            seed: 1,
            callback: address(0),
            callbackGasLimit: 0,
            committeeSize: k
        });
        uint256 fee = kernel.quote(modelId, 8, k);
        uint256 value = fee + bound(extra, 0, 1 ether);
        vm.deal(user, value);
        vm.prank(user);
        try kernel.infer{value: value}(r) returns (uint256 pid) {
            prompts.push(pid);
            ethIn += fee;
            if (extra % 2 == 0) this.round(prompts.length - 1, uint16(extra >> 8), uint16(extra >> 24));
        } catch {}
    }

    function commit(uint256 pIdx, uint256 mIdx, bool wrong) external {
        if (prompts.length == 0) return;
        uint256 pid = prompts[pIdx % prompts.length];
        if (kernel.statusOf(pid) != IAIKernel.Status.Committing) return;
        address[] memory c = kernel.committeeOf(pid);
        address node = c[mIdx % c.length];
        bytes memory out = wrong ? WRONG : ANSWER;
        uint8 round = kernel.promptInfo(pid).round;
        bytes32 salt = keccak256(abi.encode(node, pid, round));
        vm.prank(node);
        try kernel.commit(pid, keccak256(abi.encode(pid, keccak256(out), salt, node))) {
            _outputOf[keccak256(abi.encode(pid, round, node))] = out;
        } catch {}
    }

    function reveal(uint256 pIdx, uint256 mIdx) external {
        if (prompts.length == 0) return;
        uint256 pid = prompts[pIdx % prompts.length];
        IAIKernel.Status s = kernel.statusOf(pid);
        if (s != IAIKernel.Status.Committing && s != IAIKernel.Status.Revealing) return;
        address[] memory c = kernel.committeeOf(pid);
        address node = c[mIdx % c.length];
        uint8 round = kernel.promptInfo(pid).round;
        bytes memory out = _outputOf[keccak256(abi.encode(pid, round, node))];
        if (out.length == 0) return;
        bytes32 salt = keccak256(abi.encode(node, pid, round));
        _observe();
        vm.prank(node);
        try kernel.reveal(pid, salt, out) {} catch {}
        _account();
    }

    /// @notice A whole round: every member commits (bit i of `wrongMask` = wrong output, bit i of
    ///         `silentMask` = never commits), then every committer reveals.
    function round(uint256 pIdx, uint16 wrongMask, uint16 silentMask) external {
        if (prompts.length == 0) return;
        uint256 pid = prompts[pIdx % prompts.length];
        if (kernel.statusOf(pid) != IAIKernel.Status.Committing) return;
        address[] memory c = kernel.committeeOf(pid);
        uint8 r = kernel.promptInfo(pid).round;
        // Mostly honest rounds; a quarter with wrong outputs, a quarter with silent nodes.
        if (wrongMask % 4 != 0) wrongMask = 0;
        if (silentMask % 4 != 0) silentMask = 0;
        for (uint256 i; i < c.length; ++i) {
            if (silentMask & (1 << i) != 0 && i % 2 == 1) continue;
            bytes memory out = wrongMask & (1 << i) != 0 ? WRONG : ANSWER;
            bytes32 salt = keccak256(abi.encode(c[i], pid, r));
            vm.prank(c[i]);
            try kernel.commit(pid, keccak256(abi.encode(pid, keccak256(out), salt, c[i]))) {
                _outputOf[keccak256(abi.encode(pid, r, c[i]))] = out;
            } catch {}
        }
        uint256 closes = uint256(kernel.promptInfo(pid).commitDeadline) + 1;
        if (kernel.statusOf(pid) == IAIKernel.Status.Committing && closes > block.timestamp) vm.warp(closes);
        for (uint256 i; i < c.length; ++i) {
            bytes memory out = _outputOf[keccak256(abi.encode(pid, r, c[i]))];
            if (out.length == 0) continue;
            _observe();
            vm.prank(c[i]);
            try kernel.reveal(pid, keccak256(abi.encode(c[i], pid, r)), out) {} catch {}
            _account();
        }
    }

    function warp(uint256 secs) external {
        vm.warp(block.timestamp + bound(secs, 1, 150));
    }

    function settle(uint256 pIdx) external {
        if (prompts.length == 0) return;
        _settle(prompts[pIdx % prompts.length]);
    }

    function withdraw(uint256 who) external {
        address a = who % 2 == 0 ? user : nodes[who % nodes.length];
        DecentralizedInference.Earnings memory e = kernel.earningsOf(a);
        vm.prank(a);
        try kernel.withdraw() {
            ethOut += e.eth;
            eaiMinted += e.eai;
        } catch {}
    }

    function withdrawProtocolFees() external {
        (,, uint96 accrued) = kernel.globals();
        try kernel.withdrawProtocolFees() {
            ethOut += accrued;
        } catch {}
    }

    function unregister(uint256 nIdx) external {
        if (nIdx % 3 != 0) return; // leaving is rarer than the rest
        address n = nodes[nIdx % nodes.length];
        vm.prank(n);
        try gpu.unregister() {} catch {}
    }

    function withdrawUnbonded(uint256 nIdx) external {
        address n = nodes[nIdx % nodes.length];
        vm.warp(block.timestamp + 7 days);
        uint256 amount = gpu.nodeInfo(n).unbonding;
        vm.prank(n);
        try gpu.withdrawUnbonded() {
            withdrawn[n] += amount;
        } catch {}
    }

    function reregister(uint256 nIdx) external {
        address n = nodes[nIdx % nodes.length];
        if (gpu.isRegistered(n)) return;
        uint256 stake = eai.balanceOf(n);
        if (stake < gpu.minStake()) return;
        uint256[] memory ids = new uint256[](1);
        ids[0] = modelId;
        vm.startPrank(n);
        eai.approve(address(gpu), stake);
        try gpu.register(GPUManagement.Hardware("cpu", 4096, 1), ids, stake) {
            deposited[n] += stake;
        } catch {}
        vm.stopPrank();
    }

    function unjail(uint256 nIdx) external {
        address n = nodes[nIdx % nodes.length];
        vm.prank(n);
        try gpu.unjail() {} catch {}
    }

    // ------------------------------------------------------------ helpers

    function _settle(uint256 pid) internal {
        _observe();
        try kernel.settle(pid) {} catch {}
        _account();
    }

    /// @notice Drives every open prompt to a final state: past every deadline, settle round after round.
    function finalizeAll() external {
        for (uint256 round; round < 12; ++round) {
            vm.warp(block.timestamp + 200);
            for (uint256 i; i < prompts.length; ++i) {
                IAIKernel.Status s = kernel.statusOf(prompts[i]);
                if (s == IAIKernel.Status.Committing || s == IAIKernel.Status.Revealing) {
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
        bytes32 settledSig = IAIKernel.PromptSettled.selector;
        bytes32 refundedSig = IAIKernel.PromptRefunded.selector;
        bytes32 slashSig = GPUManagement.NodeSlashed.selector;
        bytes32 creditSig = GPUManagement.SlashRewardCredited.selector;
        for (uint256 i; i < logs.length; ++i) {
            bytes32 t = logs[i].topics[0];
            if (t == settledSig || t == refundedSig) {
                finals[uint256(logs[i].topics[1])] += 1;
                if (t == settledSig) ++settledCount;
                else ++refundedCount;
            } else if (t == slashSig) {
                address n = address(uint160(uint256(logs[i].topics[1])));
                (uint256 amount,,) = abi.decode(logs[i].data, (uint256, uint256, uint8));
                if (amount > _before[n]) slashAboveBalance = true;
                ++slashCount;
                slashed[n] += amount;
            } else if (t == creditSig) {
                address n = address(uint160(uint256(logs[i].topics[1])));
                credited[n] += abi.decode(logs[i].data, (uint256));
            }
        }
        // Refunds pushed to the requester leave the kernel too.
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == refundedSig && logs[i].emitter == address(kernel)) {
                (uint256 amount) = abi.decode(logs[i].data, (uint256));
                bool credited_;
                for (uint256 j; j < logs.length; ++j) {
                    if (
                        logs[j].topics[0] == DecentralizedInference.RefundCredited.selector
                            && logs[j].topics[1] == logs[i].topics[1]
                    ) credited_ = true;
                }
                if (!credited_) ethOut += amount;
            }
        }
    }
}

contract KernelInvariantTest is KernelBase {
    KernelHandler internal handler;

    function setUp() public override {
        super.setUp();
        _addNodes(9);
        handler = new KernelHandler(kernel, gpu, eai, modelId, user, nodes);
        targetContract(address(handler));
    }

    /// ETH is conserved: what came in as fees is held (escrow + earnings + protocol fees) or paid out.
    function invariant_ethConserved() public view {
        assertEq(handler.ethIn(), address(kernel).balance + handler.ethOut());
        uint256 held;
        (,, uint96 accrued) = kernel.globals();
        held += accrued;
        held += kernel.earningsOf(user).eth;
        for (uint256 i; i < nodes.length; ++i) {
            held += kernel.earningsOf(nodes[i]).eth;
        }
        for (uint256 i; i < handler.promptCount(); ++i) {
            uint256 pid = handler.prompts(i);
            IAIKernel.Status s = kernel.statusOf(pid);
            if (s == IAIKernel.Status.Committing || s == IAIKernel.Status.Revealing) {
                held += kernel.quote(modelId, 8, kernel.requestOf(pid).committeeSize);
            }
        }
        assertEq(address(kernel).balance, held);
    }

    /// EAI is conserved: stakes + balances + treasury + burned = genesis + minted, stakes are
    /// fully backed, and emitted rewards are minted or pending, never above the budget.
    function invariant_eaiConserved() public view {
        assertEq(eai.totalSupply() + eai.totalBurned(), GENESIS + handler.eaiMinted());
        uint256 staked;
        uint256 pending = kernel.earningsOf(user).eai;
        for (uint256 i; i < nodes.length; ++i) {
            staked += gpu.slashableOf(nodes[i]);
            pending += kernel.earningsOf(nodes[i]).eai;
        }
        assertEq(eai.balanceOf(address(gpu)), staked);
        (, uint96 emitted,) = kernel.globals();
        assertEq(emitted, pending + handler.eaiMinted());
        assertLe(emitted, REWARD_BUDGET);
        uint256 holders = eai.balanceOf(address(this)) + eai.balanceOf(treasury) + staked;
        for (uint256 i; i < nodes.length; ++i) {
            holders += eai.balanceOf(nodes[i]);
        }
        assertEq(holders + eai.totalBurned(), GENESIS + handler.eaiMinted());
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
        console.log("refunded", handler.refundedCount(), "slashes", handler.slashCount());
        invariant_ethConserved();
        invariant_eaiConserved();
    }
}
