// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAIKernel} from "../../src/interfaces/IAIKernel.sol";
import {KernelBase} from "./KernelBase.sol";
import {KernelHandler} from "./Invariant.t.sol";

/// @notice The invariant handler's actions make real progress (so the invariants are not vacuous).
contract HandlerSmokeTest is KernelBase {
    function test_handlerSettlesAndRefunds() public {
        _addNodes(9);
        KernelHandler h = new KernelHandler(kernel, gpu, eai, modelId, user, nodes);
        h.submit(1, 1); // odd: no automatic round
        h.round(0, 0, 0);
        assertEq(uint8(kernel.statusOf(1)), uint8(IAIKernel.Status.Settled));
        assertEq(h.settledCount(), 1);
        h.submit(0, 1);
        h.finalizeAll();
        assertEq(h.refundedCount(), 1);
    }
}
