// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAIKernel} from "../../src/interfaces/IAIKernel.sol";
import {ModelFileSystem} from "../../src/kernel/ModelFileSystem.sol";
import {GPUManagement} from "../../src/kernel/GPUManagement.sol";
import {KernelCore} from "../../src/kernel/KernelCore.sol";
import {KernelExtension} from "../../src/kernel/KernelExtension.sol";
import {DecentralizedInference} from "../../src/kernel/DecentralizedInference.sol";
import {KernelBase} from "./KernelBase.sol";

/// @notice Commit windows follow the work a request asks for, and a member that cannot finish in
///         time has an honest way out (`decline`) that costs no stake.
contract WorkAndDeclineTest is KernelBase {
    uint32 internal constant BASE_COMMIT = 60;
    uint32 internal constant REVEAL = 60;

    function setUp() public override {
        super.setUp();
        _addNodes(7);
    }

    function _slowModel(uint32 tokensPerSecond) internal returns (uint256 id) {
        ModelFileSystem.ModelSpec memory s = _spec();
        s.tokensPerSecond = tokensPerSecond;
        id = models.registerModel(s);
        uint256[] memory ids = new uint256[](2);
        ids[0] = modelId;
        ids[1] = id;
        for (uint256 i; i < nodes.length; ++i) {
            vm.prank(nodes[i]);
            gpu.setServedModels(ids);
        }
    }

    function _ask(uint256 model, uint32 maxTokens, bytes memory input) internal returns (uint256 pid) {
        IAIKernel.Request memory r = _request(3);
        r.modelId = model;
        r.maxTokens = maxTokens;
        r.input = input;
        r.schema = "";
        pid = consumer.ask(r, _fee(r));
    }

    // ------------------------------------------------------------------
    // Work-based commit windows
    // ------------------------------------------------------------------

    /// @dev 1500 tokens at 10 tokens/s is 150 s of work: the window is 60 + 150 s, not 60 s, so a
    ///      long answer on slow hardware is not slashed as silence.
    function test_commitWindow_growsWithMaxTokens() public {
        uint256 slow = _slowModel(10);
        uint256 pid = _ask(slow, 1500, "Write a long story.");
        KernelCore.Prompt memory p = kernel.promptInfo(pid);
        // 19 input bytes prefill in one token's time: (1500 + 1) / 10 = 150 s.
        assertEq(p.commitDeadline, block.timestamp + BASE_COMMIT + 150);
        assertEq(p.revealDeadline, p.commitDeadline + REVEAL);
    }

    function test_commitWindow_countsPromptBytesAndHashedInputs() public {
        uint256 slow = _slowModel(1);
        bytes memory input = new bytes(3200); // 100 prefill units
        uint256 pid = _ask(slow, 16, input);
        assertEq(kernel.promptInfo(pid).commitDeadline, block.timestamp + BASE_COMMIT + 116);

        // An off-chain input may be as long as MAX_INPUT_BYTES: it is charged as such (256 units).
        IAIKernel.Request memory r = _request(3);
        r.modelId = slow;
        r.input = "";
        r.inputHash = keccak256("off-chain input");
        r.maxTokens = 16;
        uint256 pid2 = consumer.ask(r, _fee(r));
        assertEq(kernel.promptInfo(pid2).commitDeadline, block.timestamp + BASE_COMMIT + 16 + 256);
    }

    function test_requestTooSlow_reverts() public {
        uint256 slow = _slowModel(1);
        IAIKernel.Request memory r = _request(3);
        r.modelId = slow;
        r.maxTokens = 4096;
        r.input = new bytes(8192);
        r.extraContext = new bytes(8192);
        uint256 fee = _fee(r);
        vm.expectRevert(abi.encodeWithSelector(ModelFileSystem.RequestTooSlow.selector, 4096 + 512, 1 hours));
        consumer.ask(r, fee);
    }

    function test_escalationRound_keepsTheWorkWindow() public {
        uint256 slow = _slowModel(10);
        uint256 pid = _ask(slow, 1000, "x");
        address[] memory c = _committee(pid);
        // Nobody commits: the round fails after its (work-based) window and round 1 gets the
        // same compute time.
        vm.warp(kernel.promptInfo(pid).commitDeadline + 1);
        kernel.settle(pid);
        KernelCore.Prompt memory p = kernel.promptInfo(pid);
        assertEq(p.round, 1);
        assertEq(p.commitDeadline, block.timestamp + BASE_COMMIT + 100);
        assertEq(c.length, 3);
    }

    function test_setSpeed_changesNewRequestsOnly() public {
        uint256 slow = _slowModel(10);
        uint256 before = _ask(slow, 1000, "x");
        vm.expectEmit(address(models));
        emit ModelFileSystem.ModelSpeedSet(slow, 100);
        models.setSpeed(slow, 100);
        uint256 later = _ask(slow, 1000, "x");
        assertEq(kernel.promptInfo(before).commitDeadline, block.timestamp + BASE_COMMIT + 100);
        assertEq(kernel.promptInfo(later).commitDeadline, block.timestamp + BASE_COMMIT + 10);
        (ModelFileSystem.ModelSpec memory s,) = models.getModel(slow);
        assertEq(s.tokensPerSecond, 100);
    }

    function test_setSpeed_rejectsZeroAndStrangers() public {
        vm.expectRevert(abi.encodeWithSelector(ModelFileSystem.InvalidModelField.selector, "tokensPerSecond"));
        models.setSpeed(modelId, 0);
        vm.prank(user);
        vm.expectRevert();
        models.setSpeed(modelId, 5);
        ModelFileSystem.ModelSpec memory s = _spec();
        s.tokensPerSecond = 0;
        vm.expectRevert(abi.encodeWithSelector(ModelFileSystem.InvalidModelField.selector, "tokensPerSecond"));
        models.registerModel(s);
    }

    // ------------------------------------------------------------------
    // Declining
    // ------------------------------------------------------------------

    function test_decline_costsNoStakeButJailsAndPaysNothing() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        _commit(pid, c[0], ANSWER);
        _commit(pid, c[1], ANSWER);
        vm.warp(block.timestamp + 30);
        uint256 pending = gpu.pendingRewards(c[2]);
        assertGt(pending, 0);
        uint256 stake = gpu.nodeInfo(c[2]).stake;

        vm.expectEmit(address(kernel));
        emit KernelCore.Declined(pid, 0, c[2]);
        vm.prank(c[2]);
        kernel.decline(pid);

        GPUManagement.Node memory n = gpu.nodeInfo(c[2]);
        assertEq(n.stake, stake, "no stake lost");
        assertTrue(n.jailed, "out of the pools while busy");
        assertTrue(gpu.isRegistered(c[2]));
        assertFalse(gpu.isEligible(c[2]));
        assertEq(gpu.pendingRewards(c[2]), 0, "unclaimed block rewards forfeited");
        (uint8 state,,) = kernel.memberState(pid, 0, c[2]);
        assertEq(state, 4);
        // Every member answered and a majority committed: reveals open at once.
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Revealing));

        _reveal(pid, c[0], ANSWER);
        _reveal(pid, c[1], ANSWER);
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Settled));
        assertEq(gpu.nodeInfo(c[2]).stake, stake, "not slashed at settlement");
        assertEq(kernel.earningsOf(c[2]), 0);
        assertGt(kernel.earningsOf(c[0]), 0);

        // No jail time: it comes back as soon as it has room again (the node does this itself).
        vm.prank(c[2]);
        gpu.unjail();
        assertTrue(gpu.isEligible(c[2]));
    }

    function test_decline_isCheaperThanSilence() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        _commit(pid, c[0], ANSWER);
        _commit(pid, c[1], ANSWER);
        uint256 silentStake = gpu.nodeInfo(c[2]).stake;
        vm.warp(kernel.promptInfo(pid).commitDeadline + 1);
        _reveal(pid, c[0], ANSWER);
        _reveal(pid, c[1], ANSWER);
        assertLt(gpu.nodeInfo(c[2]).stake, silentStake, "silence is slashed");
    }

    function test_decline_majorityDeclines_escalatesAtOnceWithoutSlashing() public {
        _addNodes(10); // enough for a 7-node escalation without the first committee
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        _commit(pid, c[0], ANSWER);
        uint256[3] memory stakes;
        for (uint256 i; i < 3; ++i) {
            stakes[i] = gpu.nodeInfo(c[i]).stake;
        }
        vm.prank(c[1]);
        kernel.decline(pid);
        assertEq(_round(pid), 0, "c[2] may still commit");
        vm.prank(c[2]);
        kernel.decline(pid);
        // No majority can commit any more: the next committee is drawn now, nobody is slashed
        // (the committed member is judged when the prompt settles).
        assertEq(_round(pid), 1);
        for (uint256 i; i < 3; ++i) {
            assertEq(gpu.nodeInfo(c[i]).stake, stakes[i]);
        }
        address[] memory next = _committee(pid);
        for (uint256 i; i < next.length; ++i) {
            for (uint256 j; j < 3; ++j) {
                assertTrue(next[i] != c[j], "earlier members are excluded");
            }
        }
        _runAll(pid, ANSWER);
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Settled));
        // The round-0 committer never got to reveal: it is neither paid nor punished.
        assertEq(kernel.earningsOf(c[0]), 0);
        assertEq(gpu.nodeInfo(c[0]).stake, stakes[0]);
    }

    function test_decline_errors() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        address outsider = nodes[0];
        for (uint256 i; i < nodes.length; ++i) {
            if (!_isIn(c, nodes[i])) outsider = nodes[i];
        }
        vm.prank(outsider);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.NotInCommittee.selector, pid, outsider));
        kernel.decline(pid);

        _commit(pid, c[0], ANSWER);
        vm.prank(c[0]);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.AlreadyCommitted.selector, pid, c[0]));
        kernel.decline(pid);

        vm.prank(c[1]);
        kernel.decline(pid);
        vm.prank(c[1]);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.AlreadyCommitted.selector, pid, c[1]));
        kernel.commit(pid, bytes32(uint256(1)));

        vm.warp(kernel.promptInfo(pid).commitDeadline + 1);
        vm.prank(c[2]);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.CommitClosed.selector, pid));
        kernel.decline(pid);

        vm.expectRevert(abi.encodeWithSelector(KernelCore.UnknownPrompt.selector, 999));
        kernel.decline(999);
    }

    // ------------------------------------------------------------------
    // The extension
    // ------------------------------------------------------------------

    function test_extension_onlyReachableThroughTheKernel() public {
        uint256 pid = _submit(3);
        _ready(pid);
        // The fallback route is only for the kernel's own static calls.
        bytes memory routed =
            bytes.concat(bytes4(keccak256("aikernel.kernel.view")), abi.encodeCall(kernel.requestOf, (pid)));
        (bool ok, bytes memory ret) = address(kernel).call(routed);
        assertFalse(ok);
        assertEq(bytes4(ret), DecentralizedInference.UnknownEntryPoint.selector);
        (ok,) = address(kernel).call(hex"deadbeef");
        assertFalse(ok);
        // Called directly, the extension sees its own empty storage, not the kernel's.
        KernelExtension ext = KernelExtension(kernel.extension());
        vm.expectRevert(abi.encodeWithSelector(KernelCore.UnknownPrompt.selector, pid));
        ext.requestOf(pid);
        vm.prank(nodes[0]);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.UnknownPrompt.selector, pid));
        ext.decline(pid);
        // Through the kernel the same code reads the kernel's storage.
        assertEq(kernel.requestOf(pid).maxTokens, 16);
        assertEq(kernel.committeeOf(pid).length, 3);
    }

    function _isIn(address[] memory list, address a) internal pure returns (bool) {
        for (uint256 i; i < list.length; ++i) {
            if (list[i] == a) return true;
        }
        return false;
    }
}
