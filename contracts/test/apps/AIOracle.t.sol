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
