// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {console} from "forge-std/console.sol";
import {IAIKernel} from "../../src/interfaces/IAIKernel.sol";
import {KernelBase} from "./KernelBase.sol";
import {AnswerConsumer} from "./mocks/Consumers.sol";

/// @notice Gas of one prompt's full lifecycle with a committee of 3: submit (through a dapp
///         contract), 3 commits (the first one draws the committee), 3 reveals; the third reveal
///         carries the output, settles and calls the dapp back.
/// @dev Run with `--isolate` (as `.gas-snapshot` is made) so each call is its own transaction and
///      `lastCallGas` is the transaction's gas: 21,000 base + calldata + execution, cold storage.
///      Peers: Ritual Infernet create+deliver ~352,544 (one node, unverified); goal < 705,088.
contract GasLifecycleTest is KernelBase {
    uint256 internal constant GOAL = 705_088;
    AnswerConsumer internal dapp;

    function setUp() public override {
        super.setUp();
        _addNodes(3);
        dapp = new AnswerConsumer(kernel);
        vm.deal(address(dapp), 10 ether);
    }

    function _lifecycle() internal returns (uint256 total) {
        IAIKernel.Request memory r = _request(3);
        r.callbackGasLimit = 60_000;
        uint256 pid = dapp.ask(r, _fee(r));
        total = _log("submit", 0);
        address[] memory c = _committee(pid);
        for (uint256 i; i < 3; ++i) {
            _commit(pid, c[i], ANSWER);
            total = _log("commit", total);
        }
        // As nodes do: the first reveals carry the round hash only, the last one the output too.
        for (uint256 i; i < 3; ++i) {
            if (i < 2) _revealHash(pid, c[i], ANSWER);
            else _reveal(pid, c[i], ANSWER);
            total = _log(i == 2 ? "reveal+settle+callback" : "reveal", total);
        }
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Settled));
        assertEq(dapp.answer(), 3);
        console.log("lifecycle total", total);
    }

    function _log(string memory what, uint256 total) internal view returns (uint256) {
        uint256 g = vm.lastCallGas().gasTotalUsed;
        console.log(what, g);
        return total + g;
    }

    /// @notice The network's first prompt: every counter, balance and context chain starts at zero.
    function test_gas_lifecycle_committee3_cold() public {
        uint256 total = _lifecycle();
        assertLt(total, GOAL + 150_000); // zero-to-nonzero slots of a fresh network (counters, chains, earnings)
    }

    /// @notice Steady state: the same dapp and topic asked before and the nodes hold earnings.
    function test_gas_lifecycle_committee3() public {
        _lifecycle();
        uint256 total = _lifecycle();
        assertLt(total, GOAL);
    }
}
