// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IAIKernel} from "../../src/interfaces/IAIKernel.sol";
import {Schema} from "../../src/lib/Schema.sol";
import {AppBase} from "../../src/apps/AppBase.sol";
import {CreditScore} from "../../src/apps/CreditScore.sol";
import {AppsBase} from "./AppsBase.sol";

contract CreditScoreTest is AppsBase {
    CreditScore internal app;
    address internal owner = makeAddr("owner");
    address internal reporter = makeAddr("reporter");
    address internal subject = 0x00000000000000000000000000000000DeaDBeef;

    function setUp() public override {
        super.setUp();
        vm.startPrank(owner);
        app = new CreditScore(kernel, modelId, K);
        app.setReporter(reporter, true);
        vm.stopPrank();
    }

    function _ask(address account, string memory history) internal returns (uint256 pid) {
        uint256 fee = app.requestFee();
        vm.prank(alice);
        pid = app.requestScore{value: fee}(account, history);
    }

    function test_happyPath_suppliedHistory() public {
        uint256 pid = _ask(subject, "Repaid 12 loans on time; wallet active for 4 years.");
        IAIKernel.Request memory r = kernel.requestOf(pid);
        assertEq(r.topic, bytes32(uint256(uint160(subject))));
        assertEq(
            string(r.input),
            "Credit history of wallet 0x00000000000000000000000000000000deadbeef:\nRepaid 12 loans on time; wallet active for 4 years.\nRate this wallet's creditworthiness from 300 (worst) to 850 (best)."
        );
        assertEq(r.schema, Schema.integer(300, 850));
        bytes memory out = abi.encode(uint256(780));
        _prepare(pid, out);
        vm.expectEmit(address(app));
        emit CreditScore.ScoreUpdated(subject, pid, 780);
        _finish(pid, out);
        CreditScore.Score memory s = app.scoreOf(subject);
        assertEq(s.score, 780);
        assertEq(s.promptId, pid);
        assertEq(s.pendingPromptId, 0);
    }

    function test_recordedHistory_isContext() public {
        vm.expectEmit(address(app));
        emit CreditScore.HistoryRecorded(subject, reporter, "Defaulted on a 5 ETH loan");
        vm.prank(reporter);
        app.recordHistory(subject, "Defaulted on a 5 ETH loan");
        uint256 pid = _ask(subject, "");
        (, uint64 index,) = kernel.contextOf(pid);
        assertEq(index, 1);
        assertEq(
            string(kernel.requestOf(pid).input),
            "Credit history of wallet 0x00000000000000000000000000000000deadbeef:\n(see the recorded history above)\nRate this wallet's creditworthiness from 300 (worst) to 850 (best)."
        );
        _settle(pid, abi.encode(uint256(320)));
        assertEq(app.scoreOf(subject).score, 320);
    }

    function test_errorAndOutOfRange_keepScore() public {
        uint256 pid = _ask(subject, "h");
        _settle(pid, abi.encode(uint256(700)));
        pid = _ask(subject, "h");
        _prepare(pid, ERROR_OUTPUT);
        vm.expectEmit(address(app));
        emit CreditScore.ScoreFailed(subject, pid, 3);
        _finish(pid, ERROR_OUTPUT);
        pid = _ask(subject, "h");
        _settle(pid, abi.encode(uint256(299)));
        assertEq(app.scoreOf(subject).score, 700);
        assertEq(app.scoreOf(subject).pendingPromptId, 0);
    }

    function test_refund() public {
        uint256 before = alice.balance;
        uint256 pid = _ask(subject, "h");
        _refund(pid);
        app.reclaimRefund(pid);
        assertEq(alice.balance, before);
        assertEq(app.scoreOf(subject).pendingPromptId, 0);
    }

    function test_revert_all() public {
        uint256 fee = app.requestFee();
        vm.expectRevert(CreditScore.ZeroAddress.selector);
        app.requestScore{value: fee}(address(0), "");
        vm.expectRevert(abi.encodeWithSelector(CreditScore.HistoryLength.selector, 2049));
        app.requestScore{value: fee}(subject, string(new bytes(2049)));
        vm.expectRevert(abi.encodeWithSelector(AppBase.InsufficientFee.selector, fee, 0));
        app.requestScore(subject, "");
        uint256 pid = _ask(subject, "h");
        vm.expectRevert(abi.encodeWithSelector(CreditScore.ScorePending.selector, subject, pid));
        app.requestScore{value: fee}(subject, "");

        vm.expectRevert(abi.encodeWithSelector(CreditScore.NotReporter.selector, alice));
        vm.prank(alice);
        app.recordHistory(subject, "x");
        vm.startPrank(reporter);
        vm.expectRevert(CreditScore.ZeroAddress.selector);
        app.recordHistory(address(0), "x");
        vm.expectRevert(abi.encodeWithSelector(CreditScore.HistoryLength.selector, 0));
        app.recordHistory(subject, "");
        vm.expectRevert(abi.encodeWithSelector(CreditScore.HistoryLength.selector, 2049));
        app.recordHistory(subject, string(new bytes(2049)));
        vm.stopPrank();

        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, alice));
        vm.prank(alice);
        app.setReporter(alice, true);
        vm.expectRevert(CreditScore.ZeroAddress.selector);
        vm.prank(owner);
        app.setReporter(address(0), true);
    }

    /// @notice Any account and history within the limit make one open request on that account's topic.
    function testFuzz_requestScore(address account, bytes calldata history) public {
        vm.assume(account != address(0) && history.length <= 2048);
        uint256 pid = _ask(account, string(history));
        assertEq(kernel.requestOf(pid).topic, app.topicOf(account));
        assertEq(app.scoreOf(account).pendingPromptId, pid);
        assertEq(app.accountOfPrompt(pid), account);
    }

    /// @notice The callback never reverts and stores only scores in 300..850.
    function testFuzz_callbackAnyOutput(bytes calldata output, bool success) public {
        uint256 pid = _ask(subject, "h");
        vm.prank(address(kernel));
        app.onAIResult(pid, success, output);
        uint256 v = output.length == 32 ? uint256(bytes32(output)) : 0;
        bool valid = success && output.length == 32 && v >= 300 && v <= 850;
        assertEq(app.scoreOf(subject).score, valid ? v : 0);
        assertEq(app.scoreOf(subject).pendingPromptId, 0);
    }

    /// @notice Any allowed reporter's entry goes to the subject's topic.
    function testFuzz_recordHistory(address account, bytes calldata entry) public {
        vm.assume(account != address(0) && entry.length > 0 && entry.length <= 2048);
        vm.prank(reporter);
        app.recordHistory(account, string(entry));
        (uint64 len,) = context.chainOf(address(app), app.topicOf(account));
        assertEq(len, 1);
    }
}
