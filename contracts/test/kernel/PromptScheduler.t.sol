// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {PromptScheduler} from "../../src/kernel/PromptScheduler.sol";
import {KernelBase} from "./KernelBase.sol";

contract PromptSchedulerTest is KernelBase {
    function setUp() public override {
        super.setUp();
        _addNodes(10);
        scheduler.grantRole(scheduler.ASSIGNER_ROLE(), address(this));
    }

    function _distinct(address[] memory c) internal pure returns (bool) {
        for (uint256 i; i < c.length; ++i) {
            for (uint256 j; j < i; ++j) {
                if (c[i] == c[j]) return false;
            }
        }
        return true;
    }

    /// @dev Snapshot now, draw at once.
    function _draw(uint256 k, uint256 seed) internal returns (address[] memory) {
        PromptScheduler.Snapshot memory s = scheduler.snapshot(modelId, k);
        return scheduler.draw(modelId, k, seed, s, new address[](0));
    }

    function testFuzz_draw_distinctEligibleNodes(uint256 seed, uint8 kRaw) public {
        uint256 k = bound(kRaw, 1, 10);
        address[] memory c = _draw(k, seed);
        assertEq(c.length, k);
        assertTrue(_distinct(c));
        for (uint256 i; i < k; ++i) {
            assertTrue(gpu.isEligible(c[i]));
        }
    }

    /// The anti-steering property: once a snapshot is taken, nothing a node operator does before
    /// the draw (pausing, unbonding, registering more nodes) changes which committee a seed picks.
    function testFuzz_draw_ignoresPoolChangesAfterSnapshot(uint256 seed, uint16 leaveMask, uint8 joins)
        public
    {
        PromptScheduler.Snapshot memory s = scheduler.snapshot(modelId, 3);
        address[] memory expected = scheduler.preview(modelId, 3, seed, s, new address[](0));
        for (uint256 i; i < 10; ++i) {
            if (leaveMask & (1 << i) != 0) {
                vm.prank(nodes[i]);
                gpu.pause();
            }
        }
        _addNodes(bound(joins, 0, 6));
        address[] memory got = scheduler.draw(modelId, 3, seed, s, new address[](0));
        assertEq(got, expected);
        // Left nodes still answer for what they were eligible for; the pool itself moved on.
        assertEq(scheduler.poolSize(modelId), 10 - _popcount(leaveMask & 0x3ff) + bound(joins, 0, 6));
    }

    function _popcount(uint256 x) internal pure returns (uint256 n) {
        for (; x != 0; x &= x - 1) {
            ++n;
        }
    }

    function testFuzz_draw_excludes(uint256 seed) public {
        PromptScheduler.Snapshot memory s = scheduler.snapshot(modelId, 5);
        address[] memory first = scheduler.draw(modelId, 5, seed, s, new address[](0));
        s = scheduler.snapshot(modelId, 1);
        address[] memory second = scheduler.draw(modelId, 5, seed, s, first);
        for (uint256 i; i < 5; ++i) {
            for (uint256 j; j < 5; ++j) {
                assertTrue(second[i] != first[j]);
            }
        }
        // Not enough others: the exclusion is dropped rather than failing.
        s = scheduler.snapshot(modelId, 1);
        address[] memory third = scheduler.draw(modelId, 7, seed, s, first);
        assertEq(third.length, 7);
        assertTrue(_distinct(third));
        // More than the pool: the largest odd committee it has.
        s = scheduler.snapshot(modelId, 1);
        assertEq(scheduler.draw(modelId, 15, seed, s, new address[](0)).length, 9);
    }

    function test_snapshot_revert_NotEnoughNodesAndInvalidSize() public {
        vm.expectRevert(abi.encodeWithSelector(PromptScheduler.NotEnoughNodes.selector, modelId, 10, 11));
        scheduler.snapshot(modelId, 11);
        vm.expectRevert(abi.encodeWithSelector(PromptScheduler.InvalidCommitteeSize.selector, 0));
        scheduler.snapshot(modelId, 0);
        vm.expectRevert(abi.encodeWithSelector(PromptScheduler.InvalidCommitteeSize.selector, 16));
        scheduler.snapshot(modelId, 16);
        PromptScheduler.Snapshot memory s;
        vm.expectRevert(abi.encodeWithSelector(PromptScheduler.NoPendingSnapshot.selector, modelId));
        scheduler.draw(modelId, 3, 1, s, new address[](0));
        vm.expectRevert(abi.encodeWithSelector(PromptScheduler.NoPendingSnapshot.selector, modelId));
        scheduler.release(modelId);
        bytes32 role = scheduler.ASSIGNER_ROLE();
        vm.prank(user);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, user, role)
        );
        scheduler.snapshot(modelId, 1);
    }

    function test_roundRobin_rotatesThroughPool() public {
        scheduler.setPolicy(modelId, PromptScheduler.Policy.RoundRobin);
        address[] memory a = _draw(3, 0);
        address[] memory b = _draw(3, 0);
        for (uint256 i; i < 3; ++i) {
            assertEq(a[i], nodes[i]);
            assertEq(b[i], nodes[3 + i]);
        }
        assertEq(scheduler.cursorOf(modelId), 6);
        address[] memory c = _draw(5, 0);
        assertEq(c[4], nodes[0]); // wraps
        assertTrue(_distinct(c));
    }

    /// Entries of nodes that left stay while a draw is pending (so the draw sees the snapshot),
    /// then are compacted away a few at a time.
    function test_pool_leftEntriesCompactedOnceNoDrawPending() public {
        PromptScheduler.Snapshot memory s = scheduler.snapshot(modelId, 3);
        for (uint256 i; i < 4; ++i) {
            vm.prank(nodes[i]);
            gpu.pause();
        }
        (uint256 entries,, uint256 pending) = scheduler.poolState(modelId);
        assertEq(entries, 10);
        assertEq(pending, 1);
        assertEq(scheduler.poolSize(modelId), 6);
        assertFalse(scheduler.inPool(modelId, nodes[0]));
        scheduler.draw(modelId, 3, 7, s, new address[](0)); // releases, compacts 3 entries
        (entries,, pending) = scheduler.poolState(modelId);
        assertEq(pending, 0);
        assertEq(entries, 7);
        vm.prank(nodes[0]);
        gpu.resume(); // one more pool operation compacts the rest
        (entries,,) = scheduler.poolState(modelId);
        assertEq(entries, 7);
        assertEq(scheduler.poolSize(modelId), 7);
        // Every live node is still drawable.
        address[] memory c = _draw(7, 3);
        assertTrue(_distinct(c));
        for (uint256 i; i < 7; ++i) {
            assertTrue(gpu.isEligible(c[i]));
        }
        bytes32 role = scheduler.POOL_MANAGER_ROLE();
        vm.prank(user);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, user, role)
        );
        scheduler.addNode(user, _models());
    }

    function test_escalationSize() public {
        assertEq(scheduler.escalationSize(modelId, 1), 3);
        assertEq(scheduler.escalationSize(modelId, 3), 7);
        assertEq(scheduler.escalationSize(modelId, 9), 15);
        scheduler.setEscalationSize(modelId, 11);
        assertEq(scheduler.escalationSize(modelId, 3), 11);
        assertEq(scheduler.escalationSize(modelId, 7), 15); // never below 2k + 1
        vm.expectRevert(abi.encodeWithSelector(PromptScheduler.InvalidCommitteeSize.selector, 4));
        scheduler.setEscalationSize(modelId, 4);
        vm.expectRevert(abi.encodeWithSelector(PromptScheduler.InvalidCommitteeSize.selector, 17));
        scheduler.setEscalationSize(modelId, 17);
    }

    function test_setTiming_bounds() public {
        scheduler.setTiming(5, 7, 2);
        (uint32 c, uint32 r, uint8 m) = scheduler.timing();
        assertEq(c, 5);
        assertEq(r, 7);
        assertEq(m, 2);
        assertEq(scheduler.maxRounds(), 2);
        vm.expectRevert(PromptScheduler.InvalidTiming.selector);
        scheduler.setTiming(0, 7, 2);
        vm.expectRevert(PromptScheduler.InvalidTiming.selector);
        scheduler.setTiming(5, 1 days + 1, 2);
        vm.expectRevert(PromptScheduler.InvalidTiming.selector);
        scheduler.setTiming(5, 7, 0);
        vm.expectRevert(PromptScheduler.InvalidTiming.selector);
        scheduler.setTiming(5, 7, 11);
        vm.prank(user);
        vm.expectRevert();
        scheduler.setTiming(5, 7, 2);
    }
}
