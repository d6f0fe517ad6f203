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
        vm.deal(subject, 100 ether);
    }

    /// @dev `from` asks for a score of `account` with `history`, paying the fee.
    function _ask(address from, address account, string memory history) internal returns (uint256 pid) {
        uint256 fee = app.requestFee();
        vm.prank(from);
        pid = app.requestScore{value: fee}(account, history);
    }

    /// @dev The subject asks for its own score from the history it supplies.
    function _askSelf(string memory history) internal returns (uint256 pid) {
        return _ask(subject, subject, history);
    }

    function test_happyPath_suppliedHistory() public {
        uint256 pid = _askSelf("Repaid 12 loans on time; wallet active for 4 years.");
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

    /// @notice A stranger cannot score someone else from a history the stranger wrote (the review's
    ///         finding): the request is refused and nothing reaches the kernel.
    function test_revert_strangerSuppliesHistoryForAnother() public {
        uint256 fee = app.requestFee();
        (uint64 lenBefore,) = context.chainOf(address(app), app.topicOf(subject));
        vm.expectRevert(abi.encodeWithSelector(CreditScore.HistoryNotFromAccount.selector, subject, alice));
        vm.prank(alice);
        app.requestScore{value: fee}(subject, "Defaulted on every loan; known scammer.");
        // Not even once history is recorded: a stranger's own text is never accepted.
        vm.prank(reporter);
        app.recordHistory(subject, "Repaid a 2 ETH loan on time");
        vm.expectRevert(abi.encodeWithSelector(CreditScore.HistoryNotFromAccount.selector, subject, alice));
        vm.prank(alice);
        app.requestScore{value: fee}(subject, "Defaulted on every loan; known scammer.");
        // A reporter may record history but not supply it with a request either.
        vm.deal(reporter, fee);
        vm.expectRevert(abi.encodeWithSelector(CreditScore.HistoryNotFromAccount.selector, subject, reporter));
        vm.prank(reporter);
        app.requestScore{value: fee}(subject, "x");
        (uint64 lenAfter,) = context.chainOf(address(app), app.topicOf(subject));
        assertEq(lenAfter, lenBefore + 1, "only the recorded entry reached the topic");
        assertEq(app.scoreOf(subject).pendingPromptId, 0);
    }

    /// @notice The account itself may supply its history, and the request is recorded as its own.
    function test_accountSuppliesOwnHistory() public {
        uint256 fee = app.requestFee();
        vm.expectEmit(address(app));
        emit CreditScore.ScoreRequested(subject, 1 + _lastPromptId(), subject, fee);
        uint256 pid = _askSelf("Repaid 12 loans on time.");
        assertEq(kernel.requestOf(pid).callback, address(app));
        _settle(pid, abi.encode(uint256(760)));
        assertEq(app.scoreOf(subject).score, 760);
        // Its own request with an empty history is fine too (nothing recorded yet).
        pid = _askSelf("");
        _settle(pid, abi.encode(uint256(750)));
        assertEq(app.scoreOf(subject).score, 750);
    }

    /// @notice A stranger may request a score from the recorded history only, once there is some.
    function test_strangerRequests_fromRecordedHistoryOnly() public {
        uint256 fee = app.requestFee();
        vm.expectRevert(abi.encodeWithSelector(CreditScore.NoRecordedHistory.selector, subject));
        vm.prank(alice);
        app.requestScore{value: fee}(subject, "");
        // History the account supplied with its own request is not recorded history.
        _settle(_askSelf("Repaid 12 loans on time."), abi.encode(uint256(780)));
        vm.expectRevert(abi.encodeWithSelector(CreditScore.NoRecordedHistory.selector, subject));
        vm.prank(alice);
        app.requestScore{value: fee}(subject, "");

        vm.prank(reporter);
        app.recordHistory(subject, "Defaulted on a 5 ETH loan");
        assertEq(app.historyCount(subject), 1);
        vm.expectEmit(address(app));
        emit CreditScore.ScoreRequested(subject, 1 + _lastPromptId(), alice, fee);
        uint256 pid = _ask(alice, subject, "");
        assertEq(
            string(kernel.requestOf(pid).input),
            "Credit history of wallet 0x00000000000000000000000000000000deadbeef:\n(see the recorded history above)\nRate this wallet's creditworthiness from 300 (worst) to 850 (best)."
        );
        _settle(pid, abi.encode(uint256(400)));
        CreditScore.Score memory s = app.scoreOf(subject);
        assertEq(s.score, 400);
        assertEq(s.promptId, pid);
    }

    /// @notice The account may record its own history (self-reported, named in the event); then
    ///         strangers may request from it. A stranger may not record about someone else.
    function test_recordHistory_accountItselfOrReporterOnly() public {
        vm.expectRevert(abi.encodeWithSelector(CreditScore.NotReporter.selector, alice));
        vm.prank(alice);
        app.recordHistory(subject, "Defaulted on a 5 ETH loan");
        assertEq(app.historyCount(subject), 0);

        vm.expectEmit(address(app));
        emit CreditScore.HistoryRecorded(subject, subject, "Repaid a 2 ETH loan on time");
        vm.prank(subject);
        app.recordHistory(subject, "Repaid a 2 ETH loan on time");
        assertEq(app.historyCount(subject), 1);
        (uint64 len,) = context.chainOf(address(app), app.topicOf(subject));
        assertEq(len, 1);
        uint256 pid = _ask(alice, subject, "");
        (, uint64 index,) = kernel.contextOf(pid);
        assertEq(index, 1, "the stranger's request sees the self-recorded entry");

        // A disallowed reporter may no longer record about others (but still about itself).
        vm.prank(owner);
        app.setReporter(reporter, false);
        vm.expectRevert(abi.encodeWithSelector(CreditScore.NotReporter.selector, reporter));
        vm.prank(reporter);
        app.recordHistory(subject, "x");
        vm.prank(reporter);
        app.recordHistory(reporter, "x");
        assertEq(app.historyCount(reporter), 1);
    }

    function test_recordedHistory_isContext() public {
        vm.expectEmit(address(app));
        emit CreditScore.HistoryRecorded(subject, reporter, "Defaulted on a 5 ETH loan");
        vm.prank(reporter);
        app.recordHistory(subject, "Defaulted on a 5 ETH loan");
        uint256 pid = _ask(alice, subject, "");
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
        uint256 pid = _askSelf("h");
        _settle(pid, abi.encode(uint256(700)));
        pid = _askSelf("h");
        _prepare(pid, ERROR_OUTPUT);
        vm.expectEmit(address(app));
        emit CreditScore.ScoreFailed(subject, pid, 3);
        _finish(pid, ERROR_OUTPUT);
        pid = _askSelf("h");
        _settle(pid, abi.encode(uint256(299)));
        assertEq(app.scoreOf(subject).score, 700);
        assertEq(app.scoreOf(subject).pendingPromptId, 0);
    }

    function test_refund() public {
        uint256 before = subject.balance;
        uint256 pid = _askSelf("h");
        _refund(pid);
        app.reclaimRefund(pid);
        assertEq(subject.balance, before);
        assertEq(app.scoreOf(subject).pendingPromptId, 0);
    }

    function test_revert_all() public {
        uint256 fee = app.requestFee();
        vm.expectRevert(CreditScore.ZeroAddress.selector);
        app.requestScore{value: fee}(address(0), "");
        vm.expectRevert(abi.encodeWithSelector(CreditScore.HistoryLength.selector, 2049));
        app.requestScore{value: fee}(subject, string(new bytes(2049)));
        vm.expectRevert(
            abi.encodeWithSelector(CreditScore.HistoryNotFromAccount.selector, subject, address(this))
        );
        app.requestScore{value: fee}(subject, "h");
        vm.expectRevert(abi.encodeWithSelector(CreditScore.NoRecordedHistory.selector, subject));
        app.requestScore{value: fee}(subject, "");
        vm.expectRevert(abi.encodeWithSelector(AppBase.InsufficientFee.selector, fee, 0));
        vm.prank(subject);
        app.requestScore(subject, "");
        uint256 pid = _askSelf("h");
        vm.expectRevert(abi.encodeWithSelector(CreditScore.ScorePending.selector, subject, pid));
        vm.prank(subject);
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

    /// @notice Any account asking with its own history within the limit makes one open request on
    ///         its topic.
    function testFuzz_requestScore(address account, bytes calldata history) public {
        _assumeUser(account);
        vm.assume(history.length <= 2048);
        vm.deal(account, 1 ether);
        uint256 pid = _ask(account, account, string(history));
        assertEq(kernel.requestOf(pid).topic, app.topicOf(account));
        assertEq(app.scoreOf(account).pendingPromptId, pid);
        assertEq(app.accountOfPrompt(pid), account);
    }

    /// @notice Nobody but the account may supply history for it, whatever is recorded.
    function testFuzz_strangerHistoryRefused(
        address caller,
        address account,
        bytes calldata history,
        bool recorded
    ) public {
        vm.assume(account != address(0) && caller != account && history.length > 0 && history.length <= 2048);
        assumeNotForgeAddress(caller);
        if (recorded) {
            vm.prank(reporter);
            app.recordHistory(account, "Repaid a 2 ETH loan on time");
        }
        uint256 fee = app.requestFee();
        vm.deal(caller, fee);
        vm.expectRevert(abi.encodeWithSelector(CreditScore.HistoryNotFromAccount.selector, account, caller));
        vm.prank(caller);
        app.requestScore{value: fee}(account, string(history));
    }

    /// @notice The callback never reverts and stores only scores in 300..850.
    function testFuzz_callbackAnyOutput(bytes calldata output, bool success) public {
        uint256 pid = _askSelf("h");
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
        assertEq(app.historyCount(account), 1);
    }

    /// @dev An address that can send a plain transaction with ETH: no code, no precompile, not a
    ///      test harness address.
    function _assumeUser(address account) internal view {
        vm.assume(account != address(0) && account.code.length == 0 && uint160(account) > 0x1ff);
        assumeNotForgeAddress(account);
    }

    function _lastPromptId() internal view returns (uint256 id) {
        id = kernel.lastPromptId();
    }
}
