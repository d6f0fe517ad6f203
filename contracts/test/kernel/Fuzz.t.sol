// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAIKernel} from "../../src/interfaces/IAIKernel.sol";
import {DecentralizedInference} from "../../src/kernel/DecentralizedInference.sol";
import {KernelCore} from "../../src/kernel/KernelCore.sol";
import {GPUManagement} from "../../src/kernel/GPUManagement.sol";
import {PromptScheduler} from "../../src/kernel/PromptScheduler.sol";
import {ContextManager} from "../../src/kernel/ContextManager.sol";
import {ModelFileSystem} from "../../src/kernel/ModelFileSystem.sol";
import {KernelBase} from "./KernelBase.sol";

/// @notice Property fuzzing of the entry points the other suites test with fixed inputs.
contract KernelFuzzTest is KernelBase {
    function setUp() public override {
        super.setUp();
        _addNodes(5);
    }

    function testFuzz_quote_linear(uint32 maxTokens, uint16 k, uint128 fee) public {
        models.setFee(modelId, fee);
        uint256 nodeFee = uint256(fee) * maxTokens * k;
        assertEq(kernel.quote(modelId, maxTokens, k, 0), nodeFee + nodeFee * 500 / 10_000);
    }

    function testFuzz_settle_onlyWhenDue(uint256 elapsed, uint8 commitsRaw) public {
        _addNodes(5); // enough nodes left to escalate once the silent ones are jailed
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        uint256 commits = bound(commitsRaw, 0, 2);
        for (uint256 i; i < commits; ++i) {
            _commit(pid, c[i], ANSWER);
        }
        elapsed = bound(elapsed, 0, 1000);
        vm.warp(block.timestamp + elapsed);
        bool due = elapsed > 120 || (elapsed > 60 && commits < 2);
        if (!due) {
            vm.expectRevert(abi.encodeWithSelector(KernelCore.SettlementNotDue.selector, pid));
        }
        kernel.settle(pid);
        if (due) {
            // Nobody revealed: no majority, so the round failed and a new one started.
            assertEq(kernel.promptInfo(pid).round, 1);
        }
    }

    function testFuzz_withdraw_anyCaller(address who) public {
        vm.assume(who != address(0));
        uint256 pid = _submit(3);
        _runAll(pid, ANSWER);
        uint256 earned = kernel.earningsOf(who);
        vm.assume(who.code.length == 0 || earned == 0);
        vm.prank(who);
        if (earned == 0) vm.expectRevert(KernelCore.NothingToWithdraw.selector);
        kernel.withdraw();
    }

    function testFuzz_setConfig_bounds(KernelCore.Config memory c) public {
        bool valid = c.protocolFeeBps <= 2000 && c.minoritySlashBps <= 10_000
            && c.silentSlashBps <= c.minoritySlashBps && c.jailDuration <= 365 days
            && c.maxCallbackGas <= 10_000_000 && c.maxTokensLimit > 0 && c.callbackGasPrice > 0;
        if (!valid) vm.expectRevert(KernelCore.InvalidParameter.selector);
        kernel.setConfig(c);
    }

    function testFuzz_setTiming_bounds(uint32 commitWindow, uint32 revealWindow, uint8 rounds) public {
        bool valid = commitWindow >= 1 && commitWindow <= 1 days && revealWindow >= 1
            && revealWindow <= 1 days && rounds >= 1 && rounds <= 10;
        if (!valid) vm.expectRevert(PromptScheduler.InvalidTiming.selector);
        scheduler.setTiming(commitWindow, revealWindow, rounds);
    }

    function testFuzz_setPolicy(uint256 anyModel, bool robin) public {
        PromptScheduler.Policy p =
            robin ? PromptScheduler.Policy.RoundRobin : PromptScheduler.Policy.Sortition;
        scheduler.setPolicy(anyModel, p);
        assertEq(uint8(scheduler.policyOf(anyModel)), uint8(p));
    }

    function testFuzz_setParameters_bounds(uint256 minStake, uint64 period, uint16 burnBps, address t)
        public
    {
        bool valid = minStake > 0 && period <= 365 days && burnBps <= 10_000 && t != address(0);
        if (!valid) vm.expectRevert(GPUManagement.InvalidParameter.selector);
        gpu.setParameters(minStake, period, burnBps, t);
    }

    function testFuzz_unbondAndAddStake(uint256 unbondAmt, uint256 addAmt) public {
        address n = nodes[0];
        unbondAmt = bound(unbondAmt, 0, STAKE + 1);
        vm.prank(n);
        if (unbondAmt == 0 || unbondAmt > STAKE) {
            vm.expectRevert(abi.encodeWithSelector(GPUManagement.InvalidAmount.selector, unbondAmt));
        }
        gpu.unbond(unbondAmt);
        addAmt = bound(addAmt, 1, 1000 ether);
        eai.transfer(n, addAmt);
        vm.startPrank(n);
        eai.approve(address(gpu), addAmt);
        gpu.addStake(addAmt);
        vm.stopPrank();
        GPUManagement.Node memory info = gpu.nodeInfo(n);
        assertEq(uint256(info.stake) + info.unbonding, STAKE + addAmt);
        assertEq(gpu.isEligible(n), info.stake >= gpu.minStake());
    }

    function testFuzz_jail_duration(uint64 duration) public {
        duration = uint64(bound(duration, 0, 10 * 365 days));
        gpu.grantRole(gpu.SLASHER_ROLE(), address(this));
        gpu.jail(nodes[1], duration);
        assertFalse(gpu.isEligible(nodes[1]));
        vm.warp(block.timestamp + duration);
        vm.prank(nodes[1]);
        gpu.unjail();
        assertTrue(gpu.isEligible(nodes[1]));
    }

    function testFuzz_feeders(address account, address feeder, bytes32 topic, bool allowed) public {
        vm.assume(account != feeder);
        vm.prank(account);
        context.setFeeder(topic, feeder, allowed);
        vm.prank(feeder);
        if (!allowed) {
            vm.expectRevert(abi.encodeWithSelector(ContextManager.NotFeeder.selector, account, topic, feeder));
        }
        context.appendContext(account, topic, "feed", bytes32(0));
    }

    function testFuzz_registerModel(
        string calldata name,
        bytes32 root,
        uint64 size,
        uint64 mem,
        uint128 fee,
        uint32 speed
    ) public {
        ModelFileSystem.ModelSpec memory s = _spec();
        s.name = name;
        s.contentRoot = root;
        s.size = size;
        s.minMemoryMiB = mem;
        s.feePerToken = fee;
        s.tokensPerSecond = speed;
        bool valid =
            bytes(name).length > 0 && root != bytes32(0) && size > 0 && mem <= type(uint32).max && speed > 0;
        if (!valid) vm.expectRevert();
        uint256 id = models.registerModel(s);
        if (valid) {
            assertEq(id, 2);
            assertEq(models.activeFeePerToken(id), fee);
            assertEq(models.meetsMinimum(id, mem, 1), true);
        }
    }

    function testFuzz_setFee_changesQuoteNotRunningPrompts(uint128 fee) public {
        fee = uint128(bound(fee, 0, 1e15));
        uint256 pid = _submit(3);
        uint256 paid = address(kernel).balance;
        models.setFee(modelId, fee);
        _runAll(pid, ANSWER);
        uint256 credited;
        address[] memory c = _committee(pid);
        for (uint256 i; i < 3; ++i) {
            credited += kernel.earningsOf(c[i]);
        }
        uint256 accrued = kernel.earningsOf(treasury);
        assertEq(credited + accrued, paid); // the fee fixed at submission is what gets paid
    }

    function testFuzz_infer_errorOutputsAreFailures(uint8 code) public {
        bytes memory err = abi.encodeWithSelector(bytes4(keccak256("AIKernelError(uint8)")), code);
        uint256 pid = _submit(1);
        _runAll(pid, err);
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Settled));
        assertFalse(consumer.lastSuccess());
    }
}
