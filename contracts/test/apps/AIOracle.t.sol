// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IAIKernel} from "../../src/interfaces/IAIKernel.sol";
import {Schema} from "../../src/lib/Schema.sol";
import {ContextManager} from "../../src/kernel/ContextManager.sol";
import {AIOracle} from "../../src/apps/AIOracle.sol";
import {AppBase} from "../../src/apps/AppBase.sol";
import {AppsBase} from "./AppsBase.sol";

contract AIOracleTest is AppsBase {
    AIOracle internal oracle;
    address internal owner = makeAddr("owner");
    address internal feeder = makeAddr("feeder");

    function setUp() public override {
        super.setUp();
        vm.startPrank(owner);
        oracle = new AIOracle(kernel, modelId, K);
        oracle.setFeeder(feeder, true);
        vm.stopPrank();
    }

    function _observe(uint256 price) internal {
        vm.prank(feeder);
        oracle.submitPrice(price);
    }

    function _ask() internal returns (uint256 pid) {
        uint256 fee = oracle.requestFee();
        vm.prank(alice);
        pid = oracle.requestPrice{value: fee}();
    }

    function test_happyPath_observationsThenPrice() public {
        vm.recordLogs();
        _observe(97_100);
        _observe(97_250);
        (uint64 len,) = context.chainOf(address(oracle), oracle.TOPIC());
        assertEq(len, 2);
        assertEq(oracle.observationText(2, 97_250), "BTC/USD observation #2: 97250 US dollars");
        assertEq(oracle.lastObservation(), 97_250);

        uint256 pid = _ask();
        IAIKernel.Request memory r = kernel.requestOf(pid);
        assertEq(r.topic, oracle.TOPIC());
        assertEq(string(r.input), oracle.PROMPT());
        assertEq(r.schema, Schema.integer(0, 10_000_000));
        (, uint64 index,) = kernel.contextOf(pid);
        assertEq(index, 2, "the prompt sees both observations");

        bytes memory out = abi.encode(uint256(97_250));
        _prepare(pid, out);
        vm.expectEmit(address(oracle));
        emit AIOracle.PriceAnswered(pid, 97_250);
        _finish(pid, out);
        (uint256 value, uint256 promptId, uint256 at) = oracle.latestPrice();
        assertEq(value, 97_250);
        assertEq(promptId, pid);
        assertEq(at, block.timestamp);
        assertEq(oracle.requesterOf(pid), address(0));
    }

    /// @notice A prompt asked before a newer observation settles after a prompt that saw it: its
    ///         older answer is stale and the newer price stays (the review's out-of-order case).
    function test_olderPromptSettlingLater_doesNotOverwriteNewerPrice() public {
        _observe(50_000);
        uint256 older = _ask();
        _observe(60_000);
        uint256 newer = _ask();
        assertEq(oracle.observedCountOf(older), 1);
        assertEq(oracle.observedCountOf(newer), 2);
        (, uint64 index,) = kernel.contextOf(older);
        assertEq(index, 1, "the older prompt does not see the second observation");

        bytes memory out = abi.encode(uint256(60_000));
        _prepare(newer, out);
        vm.expectEmit(address(oracle));
        emit AIOracle.PriceAnswered(newer, 60_000);
        _finish(newer, out);
        uint256 storedAt = block.timestamp;

        vm.warp(block.timestamp + 1); // still inside the older prompt's commit window
        out = abi.encode(uint256(50_000));
        _prepare(older, out);
        vm.expectEmit(address(oracle));
        emit AIOracle.PriceAnswerStale(older, 50_000, 1);
        _finish(older, out);

        (uint256 value, uint256 promptId, uint256 at) = oracle.latestPrice();
        assertEq(value, 60_000, "newer price kept");
        assertEq(promptId, newer);
        assertEq(at, storedAt);
        assertEq(oracle.price(), 60_000);
        assertEq(oracle.pricePromptId(), newer);
        assertEq(oracle.priceUpdatedAt(), storedAt);
        assertEq(oracle.priceObservedCount(), 2);
        assertEq(oracle.requesterOf(older), address(0), "the stale prompt is closed");
        assertEq(oracle.observedCountOf(older), 0);
    }

    /// @notice In submission order both answers are stored, the later one last.
    function test_inOrderSettlement_storesEach() public {
        _observe(50_000);
        uint256 older = _ask();
        _observe(60_000);
        uint256 newer = _ask();
        _settle(older, abi.encode(uint256(50_000)));
        assertEq(oracle.price(), 50_000);
        assertEq(oracle.priceObservedCount(), 1);
        _settle(newer, abi.encode(uint256(60_000)));
        assertEq(oracle.price(), 60_000);
        assertEq(oracle.pricePromptId(), newer);
        assertEq(oracle.priceObservedCount(), 2);
    }

    /// @notice Two prompts against the same observations: the later prompt id wins whatever the
    ///         settlement order, so the result does not depend on which settles last.
    function test_sameObservations_laterPromptWins() public {
        _observe(50_000);
        uint256 first = _ask();
        uint256 second = _ask();
        _settle(second, abi.encode(uint256(50_100)));
        bytes memory out = abi.encode(uint256(49_900));
        _prepare(first, out);
        vm.expectEmit(address(oracle));
        emit AIOracle.PriceAnswerStale(first, 49_900, 1);
        _finish(first, out);
        assertEq(oracle.price(), 50_100);
        assertEq(oracle.pricePromptId(), second);
    }

    /// @notice A failed newer prompt does not block an older prompt's answer.
    function test_failedNewerPrompt_olderAnswerStored() public {
        _observe(50_000);
        uint256 older = _ask();
        _observe(60_000);
        uint256 newer = _ask();
        _settle(newer, ERROR_OUTPUT);
        _settle(older, abi.encode(uint256(50_000)));
        assertEq(oracle.price(), 50_000);
        assertEq(oracle.pricePromptId(), older);
        assertEq(oracle.priceObservedCount(), 1);
    }

    function test_errorAndOutOfRange_keepOldPrice() public {
        _observe(50_000);
        uint256 pid = _ask();
        _settle(pid, abi.encode(uint256(50_000)));
        pid = _ask();
        _prepare(pid, ERROR_OUTPUT);
        vm.expectEmit(address(oracle));
        emit AIOracle.PriceRequestFailed(pid, 3);
        _finish(pid, ERROR_OUTPUT);
        pid = _ask();
        _settle(pid, abi.encode(uint256(10_000_001)));
        assertEq(oracle.price(), 50_000);
    }

    function test_refund() public {
        _observe(50_000);
        uint256 before = alice.balance;
        uint256 pid = _ask();
        _refund(pid);
        vm.expectEmit(address(oracle));
        emit AIOracle.PriceRequestFailed(pid, 0);
        oracle.reclaimRefund(pid);
        assertEq(alice.balance, before);
    }

    function test_revert_all() public {
        uint256 fee = oracle.requestFee();
        vm.expectRevert(AIOracle.NoObservations.selector);
        oracle.requestPrice{value: fee}();
        vm.expectRevert(abi.encodeWithSelector(AIOracle.NotFeeder.selector, alice));
        vm.prank(alice);
        oracle.submitPrice(1);
        vm.startPrank(feeder);
        vm.expectRevert(abi.encodeWithSelector(AIOracle.PriceOutOfRange.selector, 0));
        oracle.submitPrice(0);
        vm.expectRevert(abi.encodeWithSelector(AIOracle.PriceOutOfRange.selector, 10_000_001));
        oracle.submitPrice(10_000_001);
        vm.stopPrank();
        _observe(1);
        vm.expectRevert(abi.encodeWithSelector(AppBase.InsufficientFee.selector, fee, 0));
        oracle.requestPrice();
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, alice));
        vm.prank(alice);
        oracle.setFeeder(alice, true);
        vm.expectRevert(AIOracle.ZeroAddress.selector);
        vm.prank(owner);
        oracle.setFeeder(address(0), true);
        vm.expectEmit(address(oracle));
        emit AIOracle.FeederSet(feeder, false);
        vm.prank(owner);
        oracle.setFeeder(feeder, false);
        vm.expectRevert(abi.encodeWithSelector(AIOracle.NotFeeder.selector, feeder));
        vm.prank(feeder);
        oracle.submitPrice(1);
    }

    /// @notice Every in-range observation is appended verbatim as a Feed entry.
    function testFuzz_submitPrice(uint256 price) public {
        price = bound(price, 1, 10_000_000);
        (uint64 len, bytes32 root) = context.chainOf(address(oracle), oracle.TOPIC());
        bytes memory data = bytes(oracle.observationText(1, price));
        bytes32 entry = keccak256(abi.encode(uint8(2), uint256(0), keccak256(data), bytes32(0)));
        bytes32 topic = oracle.TOPIC();
        vm.expectEmit(address(context));
        emit ContextManager.ContextAppended(
            address(oracle), topic, len, 2, 0, data, bytes32(0), keccak256(abi.encode(root, entry))
        );
        _observe(price);
        assertEq(oracle.observationCount(), 1);
    }

    /// @notice The callback never reverts and stores only in-range integers.
    function testFuzz_callbackAnyOutput(bytes calldata output, bool success) public {
        _observe(1);
        uint256 pid = _ask();
        vm.prank(address(kernel));
        oracle.onAIResult(pid, success, output);
        bool valid = success && output.length == 32 && uint256(bytes32(output)) <= 10_000_000;
        assertEq(oracle.pricePromptId(), valid ? pid : 0);
    }

    /// @notice Prompts asked around interleaved observations and answered in any order: the stored
    ///         (observedCount, promptId) never moves back, and at the end it is the newest prompt's.
    function testFuzz_priceOnlyMovesForward(uint256 seed) public {
        uint256 n = 5;
        uint256[] memory pids = new uint256[](n);
        _observe(1);
        for (uint256 i; i < n; ++i) {
            if (uint256(keccak256(abi.encode(seed, "observe", i))) % 2 == 0) _observe(1000 + i);
            pids[i] = _ask();
        }
        // Fisher-Yates shuffle of the settlement order.
        for (uint256 i = n - 1; i > 0; --i) {
            uint256 j = uint256(keccak256(abi.encode(seed, "order", i))) % (i + 1);
            (pids[i], pids[j]) = (pids[j], pids[i]);
        }
        uint256 lastCount;
        uint256 lastPid;
        uint256 newest;
        for (uint256 i; i < n; ++i) {
            if (pids[i] > newest) newest = pids[i];
            vm.prank(address(kernel));
            oracle.onAIResult(pids[i], true, abi.encode(pids[i]));
            uint256 count = oracle.priceObservedCount();
            uint256 pid = oracle.pricePromptId();
            assertTrue(count > lastCount || (count == lastCount && pid >= lastPid), "moved back");
            assertEq(oracle.price(), pid, "price and prompt id from the same answer");
            (lastCount, lastPid) = (count, pid);
        }
        assertEq(oracle.pricePromptId(), newest, "the newest prompt's answer is stored");
    }

    /// @notice Any payment at or above the fee buys a request; exactly the fee is kept.
    function testFuzz_requestPrice(uint256 extra) public {
        extra = bound(extra, 0, 10 ether);
        _observe(1);
        uint256 fee = oracle.requestFee();
        uint256 before = alice.balance;
        vm.prank(alice);
        oracle.requestPrice{value: fee + extra}();
        assertEq(alice.balance, before - fee);
    }
}
