// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "forge-std/Vm.sol";
import {IAIKernel} from "../../src/interfaces/IAIKernel.sol";
import {AIKernelConsumer} from "../../src/interfaces/AIKernelConsumer.sol";
import {KernelBase} from "../kernel/KernelBase.sol";

/// @notice The real kernel with three registered nodes, plus helpers that drive a prompt through
///         real commits and reveals, a refund, and measure gas.
abstract contract AppsBase is KernelBase {
    uint16 internal constant K = 3;
    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");

    /// @dev abi.encode(AIKernelError(3)), an agreed deterministic error (code 3 Unsupported).
    bytes internal constant ERROR_OUTPUT =
        abi.encodeWithSelector(bytes4(keccak256("AIKernelError(uint8)")), uint8(3));

    function setUp() public virtual override {
        super.setUp();
        _addNodes(3);
        vm.deal(alice, 100 ether);
        vm.deal(bob, 100 ether);
    }

    /// @dev Every committee member commits and reveals `output`; the last reveal settles and calls
    ///      the app back. Asserts the callback ran without reverting or running out of gas.
    function _settle(uint256 promptId, bytes memory output) internal {
        _prepare(promptId, output);
        _finish(promptId, output);
    }

    /// @dev Every member commits and all but the last reveal (so `vm.expectEmit` can precede `_finish`).
    function _prepare(uint256 promptId, bytes memory output) internal {
        address[] memory c = _committee(promptId);
        for (uint256 i; i < c.length; ++i) {
            _commit(promptId, c[i], output);
        }
        for (uint256 i; i + 1 < c.length; ++i) {
            _reveal(promptId, c[i], output);
        }
    }

    /// @dev The last reveal: settles, delivers, and checks `CallbackDelivered(promptId, app, true)`.
    function _finish(uint256 promptId, bytes memory output) internal {
        address[] memory c = _committee(promptId);
        vm.recordLogs();
        _reveal(promptId, c[c.length - 1], output);
        assertEq(uint8(kernel.statusOf(promptId)), uint8(IAIKernel.Status.Settled), "not settled");
        Vm.Log[] memory logs = vm.getRecordedLogs();
        bytes32 sig = keccak256("CallbackDelivered(uint256,address,bool)");
        bool seen;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter == address(kernel) && logs[i].topics[0] == sig) {
                assertEq(uint256(logs[i].topics[1]), promptId, "callback prompt");
                assertTrue(abi.decode(logs[i].data, (bool)), "callback failed");
                seen = true;
            }
        }
        assertTrue(seen, "no callback");
    }

    /// @dev Nobody commits: after the commit deadline the silent committee is jailed, no new committee
    ///      can be formed from the three-node pool, and the kernel refunds the requester (the app).
    function _refund(uint256 promptId) internal {
        for (uint256 i; i < 4 && kernel.statusOf(promptId) != IAIKernel.Status.Refunded; ++i) {
            vm.warp(block.timestamp + 200);
            vm.roll(block.number + 2); // past the seed block of the round's draw
            kernel.settle(promptId);
        }
        assertEq(uint8(kernel.statusOf(promptId)), uint8(IAIKernel.Status.Refunded), "not refunded");
    }

    /// @dev Gas the app's callback uses for `output` on cold storage (measured by calling it as the
    ///      kernel would); the state change is rolled back.
    function _callbackGas(AIKernelConsumer app, uint256 promptId, bool success, bytes memory output)
        internal
        returns (uint256 used)
    {
        uint256 snap = vm.snapshotState();
        vm.cool(address(app));
        vm.cool(address(context));
        vm.prank(address(kernel));
        uint256 g = gasleft();
        app.onAIResult(promptId, success, output);
        used = g - gasleft();
        vm.revertToState(snap);
    }

    /// @dev Gas of the last top-level call (run with --isolate for transaction-level figures).
    function _lastGas() internal view returns (uint256) {
        return vm.lastCallGas().gasTotalUsed;
    }
}
