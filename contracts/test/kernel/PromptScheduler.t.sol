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

    function testFuzz_assign_distinctEligibleNodes(uint256 seed, uint8 kRaw) public {
        uint256 k = bound(kRaw, 1, 10);
        (address[] memory c, uint32 cd, uint32 rd) = scheduler.assign(modelId, k, seed, new address[](0));
        assertEq(c.length, k);
        assertTrue(_distinct(c));
        for (uint256 i; i < k; ++i) {
            assertTrue(gpu.isEligible(c[i]));
        }
        assertEq(cd, block.timestamp + 60);
        assertEq(rd, uint256(cd) + 60);
    }

    function testFuzz_assign_excludesPreviousCommittee(uint256 seed) public {
        (address[] memory first,,) = scheduler.assign(modelId, 5, seed, new address[](0));
        (address[] memory second,,) = scheduler.assign(modelId, 5, seed, first);
        for (uint256 i; i < 5; ++i) {
            for (uint256 j; j < 5; ++j) {
                assertTrue(second[i] != first[j]);
            }
        }
        // Not enough others: the exclusion is dropped rather than failing.
        (address[] memory third,,) = scheduler.assign(modelId, 7, seed, first);
        assertTrue(_distinct(third));
    }

    function test_assign_revert_NotEnoughNodesAndInvalidSize() public {
        vm.expectRevert(abi.encodeWithSelector(PromptScheduler.NotEnoughNodes.selector, modelId, 10, 11));
        scheduler.assign(modelId, 11, 1, new address[](0));
        vm.expectRevert(abi.encodeWithSelector(PromptScheduler.InvalidCommitteeSize.selector, 0));
        scheduler.assign(modelId, 0, 1, new address[](0));
        vm.expectRevert(abi.encodeWithSelector(PromptScheduler.InvalidCommitteeSize.selector, 16));
        scheduler.assign(modelId, 16, 1, new address[](0));
        bytes32 role = scheduler.ASSIGNER_ROLE();
        vm.prank(user);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, user, role)
        );
        scheduler.assign(modelId, 1, 1, new address[](0));
    }

    function test_roundRobin_rotatesThroughPool() public {
        scheduler.setPolicy(modelId, PromptScheduler.Policy.RoundRobin);
        (address[] memory a,,) = scheduler.assign(modelId, 3, 0, new address[](0));
        (address[] memory b,,) = scheduler.assign(modelId, 3, 0, new address[](0));
        for (uint256 i; i < 3; ++i) {
            assertEq(a[i], scheduler.poolAt(modelId, i));
            assertEq(b[i], scheduler.poolAt(modelId, 3 + i));
        }
        assertEq(scheduler.cursorOf(modelId), 6);
        (address[] memory c,,) = scheduler.assign(modelId, 5, 0, new address[](0));
        assertEq(c[4], scheduler.poolAt(modelId, 0)); // wraps
        assertTrue(_distinct(c));
    }

    function test_pool_addRemoveKeepsIndex() public {
        address n3 = nodes[3];
        address last = nodes[9];
        vm.prank(n3);
        gpu.pause();
        assertEq(scheduler.poolSize(modelId), 9);
        assertFalse(scheduler.inPool(modelId, n3));
        assertEq(scheduler.poolAt(modelId, 3), last); // swap-and-pop
        bytes32 role = scheduler.POOL_MANAGER_ROLE();
        vm.prank(user);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, user, role)
        );
        scheduler.addNode(user, _models());
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
