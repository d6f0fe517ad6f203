// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAIKernel} from "../../src/interfaces/IAIKernel.sol";
import {KernelBase} from "./KernelBase.sol";
import {KernelHandler} from "./Invariant.t.sol";
import {RecordingConsumer} from "./mocks/Consumers.sol";

/// @notice The invariant handler's actions make real progress (so the invariants are not vacuous).
contract HandlerSmokeTest is KernelBase {
    function test_handlerSettlesEscalatesAndRefunds() public {
        _addNodes(9);
        address[] memory reqs = new address[](2);
        reqs[0] = user;
        reqs[1] = address(new RecordingConsumer(kernel));
        KernelHandler h = new KernelHandler(kernel, gpu, scheduler, eai, [modelId, modelId], reqs, nodes);
        h.submit(1, 1, false, 1); // odd: no automatic round
        h.round(0, 0, 0, true);
        assertEq(uint8(kernel.statusOf(1)), uint8(IAIKernel.Status.Settled));
        assertEq(h.settledCount(), 1);
        h.submit(0, 1, false, 1);
        h.round(1, 0, 0, false); // hashes only: the handler publishes
        assertEq(uint8(kernel.statusOf(2)), uint8(IAIKernel.Status.Settled));
        h.submit(0, 1, false, 1);
        h.round(2, 4, 0, true); // one wrong member: round 0 disagrees and escalates
        assertEq(kernel.promptInfo(3).round, 1);
        assertEq(h.escalations(), 1);
        h.round(2, 0, 0, true);
        assertEq(uint8(kernel.statusOf(3)), uint8(IAIKernel.Status.Settled));
        h.submit(0, 1, false, 1);
        h.finalizeAll();
        assertEq(h.refundedCount(), 1);
        assertEq(h.swallowedTotal(), 0);
    }
}
