// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "forge-std/Vm.sol";
import {IAIKernel} from "../../src/interfaces/IAIKernel.sol";
import {DecentralizedInference} from "../../src/kernel/DecentralizedInference.sol";
import {KernelCore} from "../../src/kernel/KernelCore.sol";
import {GPUManagement} from "../../src/kernel/GPUManagement.sol";
import {KernelBase} from "./KernelBase.sol";
import {RevertingConsumer, GasBurningConsumer, ReturnBombConsumer} from "./mocks/Consumers.sol";

/// @notice Nodes and consumers that misbehave.
contract AdversarialTest is KernelBase {
    function setUp() public override {
        super.setUp();
        _addNodes(8);
    }

    function _slashable(address n) internal view returns (uint256) {
        return gpu.slashableOf(n);
    }

    /// @dev Every member of the current round commits and reveals `output` (the round settles).
    function _honestRound(uint256 pid) internal returns (address[] memory c) {
        c = _committee(pid);
        _runAll(pid, ANSWER);
    }

    /// A node reveals an output its committee does not share: round 0 cannot settle, a larger fresh
    /// committee decides, and the dissenter ends in the final minority: slashed, jailed, unpaid;
    /// everyone who revealed the answer (in either round) shares the fee and the unburned slash.
    function test_nodeRevealsDifferentOutput() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        _commit(pid, c[0], ANSWER);
        _commit(pid, c[1], WRONG);
        _commit(pid, c[2], ANSWER);
        uint256 supply = eai.totalSupply();
        _reveal(pid, c[0], ANSWER);
        _reveal(pid, c[1], WRONG);
        _reveal(pid, c[2], ANSWER);
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Committing));
        assertEq(kernel.promptInfo(pid).round, 1);
        address[] memory e = _honestRound(pid);
        assertEq(e.length, 7);
        assertEq(kernel.resultOf(pid), ANSWER);
        uint256 slashed = STAKE / 10; // minoritySlashBps 1000
        assertEq(_slashable(c[1]), STAKE - slashed);
        assertTrue(gpu.nodeInfo(c[1]).jailed);
        assertFalse(gpu.isEligible(c[1]));
        assertEq(eai.totalSupply(), supply - slashed / 2);
        // The right members of round 0 are paid like the escalation's.
        assertGt(kernel.earningsOf(c[0]), 0);
        assertGt(kernel.earningsOf(c[2]), 0);
        assertGe(_slashable(c[0]), STAKE);
        // Even when drawn again (8 nodes cannot exclude all three) and right there, it earns nothing.
        assertEq(kernel.earningsOf(c[1]), 0);
    }

    /// A node commits but never reveals: after the reveal deadline anyone ends the round (the two
    /// agreeing reveals decide it and the output is published); silence after a commit costs as
    /// much as a wrong answer (to the treasury) and jails; the two honest nodes are paid.
    function test_nodeNeverReveals() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        for (uint256 i; i < 3; ++i) {
            _commit(pid, c[i], ANSWER);
        }
        _reveal(pid, c[0], ANSWER);
        _reveal(pid, c[1], ANSWER);
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Revealing));
        vm.warp(block.timestamp + 121);
        kernel.settle(pid);
        _publish(pid, ANSWER);
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Settled));
        uint256 penalty = STAKE / 10;
        assertEq(_slashable(c[2]), STAKE - penalty);
        assertEq(eai.balanceOf(treasury), penalty - penalty / 2);
        assertTrue(gpu.nodeInfo(c[2]).jailed);
        assertGt(kernel.earningsOf(c[0]), 0);
        assertEq(kernel.earningsOf(c[2]), 0);
        // Jail ends; the node may come back.
        uint64 until = gpu.nodeInfo(c[2]).jailedUntil;
        vm.prank(c[2]);
        vm.expectRevert(abi.encodeWithSelector(GPUManagement.CannotUnjail.selector, until));
        gpu.unjail();
        vm.warp(block.timestamp + 1 hours);
        vm.prank(c[2]);
        gpu.unjail();
        assertTrue(gpu.isEligible(c[2]));
    }

    /// A node copies another node's commitment: it cannot open it (the commitment binds the
    /// committer's address), even after the victim revealed its salt and round hash.
    function test_nodeCopiesAnotherCommitment() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        bytes32 victim = _commitment(pid, 0, ANSWER, c[0]);
        vm.prank(c[0]);
        kernel.commit(pid, victim);
        vm.prank(c[1]);
        kernel.commit(pid, victim); // the copy
        _commit(pid, c[2], ANSWER);
        _revealHash(pid, c[0], ANSWER);
        bytes32 salt = _salt(c[0], pid);
        vm.prank(c[1]);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.InvalidReveal.selector, pid, c[1]));
        kernel.reveal(pid, salt, _roundHash(pid, 0, ANSWER), "", 0);
        _reveal(pid, c[2], ANSWER);
        vm.warp(block.timestamp + 121);
        kernel.settle(pid);
        _publish(pid, ANSWER);
        assertEq(kernel.resultOf(pid), ANSWER);
        assertTrue(gpu.nodeInfo(c[1]).jailed);
        assertEq(_slashable(c[1]), STAKE - STAKE / 10);
        assertEq(kernel.earningsOf(c[1]), 0);
    }

    /// Outputs stay hidden until commits close: a reveal before the commit phase ends is refused.
    function test_cannotRevealWhileOthersStillCommit() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        _commit(pid, c[0], ANSWER);
        vm.prank(c[0]);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.RevealClosed.selector, pid));
        kernel.reveal(pid, _salt(c[0], pid), _roundHash(pid, 0, ANSWER), "", 0);
    }

    /// Two colluders in a committee of five reveal the same wrong output: round 0 escalates, the
    /// honest escalation decides, both colluders are slashed and jailed, and every honest member is
    /// paid the same (no bonus for committing first).
    function test_twoColludersInCommitteeOfFive() public {
        uint256 pid = _submit(5);
        address[] memory c = _committee(pid);
        for (uint256 i; i < 5; ++i) {
            _commit(pid, c[i], i < 2 ? WRONG : ANSWER);
        }
        for (uint256 i; i < 5; ++i) {
            _reveal(pid, c[i], i < 2 ? WRONG : ANSWER);
        }
        _honestRound(pid);
        assertEq(kernel.resultOf(pid), ANSWER);
        assertEq(consumer.lastOutput(), ANSWER);
        for (uint256 i; i < 2; ++i) {
            assertTrue(gpu.nodeInfo(c[i]).jailed);
            assertLt(_slashable(c[i]), STAKE);
        }
    }

    /// Three colluders out of five no longer win: their majority of round 0 only escalates, and
    /// the larger fresh committee decides against them.
    function test_threeOfFiveColludersLoseToEscalation() public {
        uint256 pid = _submit(5);
        address[] memory c = _committee(pid);
        for (uint256 i; i < 5; ++i) {
            _commit(pid, c[i], i < 3 ? WRONG : ANSWER);
        }
        for (uint256 i; i < 5; ++i) {
            _reveal(pid, c[i], i < 3 ? WRONG : ANSWER);
        }
        assertEq(kernel.promptInfo(pid).round, 1);
        _honestRound(pid);
        assertEq(kernel.resultOf(pid), ANSWER);
        for (uint256 i; i < 3; ++i) {
            assertTrue(gpu.nodeInfo(c[i]).jailed);
        }
    }

    function _settleVia(function(IAIKernel.Request memory) external payable returns (uint256) ask)
        internal
        returns (uint256 pid)
    {
        IAIKernel.Request memory r = _request(3);
        pid = ask{value: _fee(r)}(r);
        _runAll(pid, ANSWER);
    }

    /// A callback that reverts does not block settlement.
    function test_revertingCallback() public {
        RevertingConsumer bad = new RevertingConsumer(kernel);
        vm.recordLogs();
        uint256 pid = _settleVia(bad.ask);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        bytes32 sig = keccak256("CallbackDelivered(uint256,address,bool)");
        bool seen;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == sig) {
                assertEq(abi.decode(logs[i].data, (bool)), false);
                seen = true;
            }
        }
        assertTrue(seen);
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Settled));
        assertEq(kernel.resultOf(pid), ANSWER);
        assertGt(kernel.earningsOf(_committee(pid)[0]), 0);
    }

    /// A callback that burns all its gas only burns its own limit.
    function test_gasBurningCallback() public {
        GasBurningConsumer bad = new GasBurningConsumer(kernel);
        IAIKernel.Request memory r = _request(3);
        uint256 p2 = bad.ask{value: _fee(r)}(r);
        address[] memory c = _committee(p2);
        for (uint256 i; i < 3; ++i) {
            _commit(p2, c[i], ANSWER);
        }
        _reveal(p2, c[0], ANSWER);
        _reveal(p2, c[1], ANSWER);
        vm.prank(c[2]);
        uint256 g = gasleft();
        kernel.reveal(p2, _salt(c[2], p2), _roundHash(p2, 0, ANSWER), ANSWER, _trace(ANSWER));
        uint256 used = g - gasleft();
        assertEq(uint8(kernel.statusOf(p2)), uint8(IAIKernel.Status.Settled));
        assertLt(used, 200_000 + 250_000); // the callback's 200k limit plus settlement
    }

    /// A callback that returns a huge blob cannot make settlement copy it.
    function test_returnBombCallback() public {
        ReturnBombConsumer bomb = new ReturnBombConsumer();
        IAIKernel.Request memory r = _request(3);
        uint256 pid = bomb.ask{value: _fee(r)}(kernel, r);
        _runAll(pid, ANSWER);
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Settled));
    }

    /// A node unregisters mid-prompt: it leaves the pools at once, but its stake stays slashable
    /// while unbonding, so going silent after its commit still costs it as much as a wrong answer;
    /// an honest exiting node is still paid.
    function test_nodeUnregistersMidPrompt() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        for (uint256 i; i < 3; ++i) {
            _commit(pid, c[i], ANSWER);
        }
        vm.prank(c[0]);
        gpu.unregister(); // then goes silent
        vm.prank(c[1]);
        gpu.unregister(); // but keeps serving this prompt
        assertFalse(gpu.isEligible(c[0]));
        assertEq(scheduler.inPool(modelId, c[0]), false);
        _reveal(pid, c[1], ANSWER);
        _reveal(pid, c[2], ANSWER);
        vm.warp(block.timestamp + 121);
        kernel.settle(pid);
        _publish(pid, ANSWER);
        assertEq(kernel.resultOf(pid), ANSWER);
        assertEq(gpu.nodeInfo(c[0]).unbonding, STAKE - STAKE / 10);
        assertGt(kernel.earningsOf(c[1]), 0);
    }

    /// Slashing a node that already withdrew everything yields zero and settlement goes on.
    function test_slashAfterFullWithdrawalDoesNotRevert() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        _commit(pid, c[0], ANSWER);
        _commit(pid, c[1], ANSWER);
        gpu.setParameters(1000 ether, 0, 5000, treasury); // instant unbonding
        vm.startPrank(c[2]);
        gpu.unregister();
        gpu.withdrawUnbonded();
        vm.stopPrank();
        assertEq(gpu.slashableOf(c[2]), 0);
        assertFalse(gpu.isRegistered(c[2]));
        vm.warp(block.timestamp + 61);
        _reveal(pid, c[0], ANSWER);
        _reveal(pid, c[1], ANSWER); // completes the committers: settles, punishing c[2] for nothing
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Settled));
    }

    /// Re-entering settlement from a callback is refused; the result stands.
    function test_callbackCannotReenterSettlement() public {
        Reenterer r = new Reenterer(kernel);
        uint256 pid = _settleVia(r.ask);
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Settled));
        assertFalse(r.reentered());
    }
}

contract Reenterer {
    DecentralizedInference internal immutable kernel;
    bool public reentered;

    constructor(DecentralizedInference k) {
        kernel = k;
    }

    function ask(IAIKernel.Request memory request) external payable returns (uint256) {
        request.callback = address(this);
        return kernel.infer{value: msg.value}(request);
    }

    function onAIResult(uint256 promptId, bool, bytes calldata) external {
        try kernel.settle(promptId) {
            reentered = true;
        } catch {}
        try kernel.withdraw() {
            reentered = true;
        } catch {}
    }
}
