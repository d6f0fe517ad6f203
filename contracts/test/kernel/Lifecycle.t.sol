// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {console} from "forge-std/console.sol";
import {IAIKernel} from "../../src/interfaces/IAIKernel.sol";
import {KernelBase} from "./KernelBase.sol";

contract LifecycleTest is KernelBase {
    function setUp() public override {
        super.setUp();
        _addNodes(5);
    }

    function test_lifecycle_committee3() public {
        uint256 pid = _submit(3);
        _runAll(pid, ANSWER);
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Settled));
        assertEq(kernel.resultOf(pid), ANSWER);
        assertEq(consumer.lastOutput(), ANSWER);
        assertTrue(consumer.lastSuccess());
    }
}
