// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAIKernel} from "../../src/interfaces/IAIKernel.sol";
import {AIKernelConsumer} from "../../src/interfaces/AIKernelConsumer.sol";
import {Schema} from "../../src/lib/Schema.sol";
import {AppBase} from "../../src/apps/AppBase.sol";
import {FantasySports} from "../../src/apps/FantasySports.sol";
import {AppsBase} from "./AppsBase.sol";

contract FantasySportsTest is AppsBase {
    FantasySports internal app;

    function setUp() public override {
        super.setUp();
        app = new FantasySports(kernel, modelId, K);
    }

    function _create() internal returns (uint256) {
        vm.prank(alice);
        return app.createMatchup(
            "Lions",
            "Tigers",
            "30 goals scored, 5 conceded, 9 wins in 10 games",
            "8 goals scored, 25 conceded, 1 win"
        );
    }

    function _request(uint256 id) internal returns (uint256 pid) {
        uint256 fee = app.requestFee();
        vm.prank(bob);
        pid = app.requestWinner{value: fee}(id);
    }

    function test_happyPath_teamBWins() public {
        uint256 id = _create();
        uint256 pid = _request(id);
        IAIKernel.Request memory r = kernel.requestOf(pid);
        assertEq(r.topic, bytes32(id));
        assertEq(string(r.input), app.promptOf(id));
        assertEq(
            string(r.input),
            "Fantasy sports matchup.\nLions: 30 goals scored, 5 conceded, 9 wins in 10 games\nTigers: 8 goals scored, 25 conceded, 1 win\nWhich team wins?"
        );
        string[] memory opts = new string[](2);
        opts[0] = "Lions";
        opts[1] = "Tigers";
        assertEq(r.schema, Schema.choice(opts));
        assertEq(r.maxTokens, app.MAX_TOKENS());
        assertEq(r.committeeSize, K);
        assertEq(r.callbackGasLimit, app.CALLBACK_GAS());
        assertEq(r.callback, address(app));

        _prepare(pid, abi.encode(uint8(1)));
        vm.expectEmit(address(app));
        emit FantasySports.WinnerDecided(id, pid, 1, "Tigers");
        _finish(pid, abi.encode(uint8(1)));
        (bool decided, uint8 index, string memory name) = app.winnerOf(id);
        assertTrue(decided);
        assertEq(index, 1);
        assertEq(name, "Tigers");
        assertEq(uint8(app.matchupOf(id).status), uint8(FantasySports.Status.Decided));
        (address payer,) = app.payments(pid);
        assertEq(payer, address(0));
    }

    function test_happyPath_teamAWins_andExcessRefunded() public {
        uint256 id = _create();
        uint256 fee = app.requestFee();
        uint256 before = bob.balance;
        vm.prank(bob);
        uint256 pid = app.requestWinner{value: fee + 1 ether}(id);
        assertEq(bob.balance, before - fee);
        assertEq(address(app).balance, 0);
        _settle(pid, abi.encode(uint8(0)));
        (, uint8 index, string memory name) = app.winnerOf(id);
        assertEq(index, 0);
        assertEq(name, "Lions");
    }

    function test_errorResult_reopensMatchup() public {
        uint256 id = _create();
        uint256 pid = _request(id);
        _prepare(pid, ERROR_OUTPUT);
        vm.expectEmit(address(app));
        emit FantasySports.WinnerRequestFailed(id, pid, 3);
        _finish(pid, ERROR_OUTPUT);
        assertEq(uint8(app.matchupOf(id).status), uint8(FantasySports.Status.Open));
        uint256 pid2 = _request(id);
        _settle(pid2, abi.encode(uint8(1)));
        (bool decided,,) = app.winnerOf(id);
        assertTrue(decided);
    }

    function test_outOfRangeIndex_reopensMatchup() public {
        uint256 id = _create();
        uint256 pid = _request(id);
        _prepare(pid, abi.encode(uint8(2)));
        vm.expectEmit(address(app));
        emit FantasySports.WinnerRequestFailed(id, pid, 0);
        _finish(pid, abi.encode(uint8(2)));
        assertEq(uint8(app.matchupOf(id).status), uint8(FantasySports.Status.Open));
    }

    function test_refund_reclaimedByPayer() public {
        uint256 id = _create();
        uint256 fee = app.requestFee();
        uint256 before = bob.balance;
        uint256 pid = _request(id);
        vm.expectRevert(
            abi.encodeWithSelector(AppBase.NotRefunded.selector, pid, IAIKernel.Status.Committing)
        );
        app.reclaimRefund(pid);
        _refund(pid);
        assertEq(address(app).balance, fee);
        vm.expectEmit(address(app));
        emit AppBase.RefundReclaimed(pid, bob, fee);
        app.reclaimRefund(pid);
        assertEq(bob.balance, before);
        assertEq(uint8(app.matchupOf(id).status), uint8(FantasySports.Status.Open));
        vm.expectRevert(abi.encodeWithSelector(AppBase.NotOpen.selector, pid));
        app.reclaimRefund(pid);
    }

    function test_revert_createMatchup() public {
        vm.expectRevert(abi.encodeWithSelector(FantasySports.TeamNameLength.selector, 0));
        app.createMatchup("", "B", "", "");
        vm.expectRevert(abi.encodeWithSelector(FantasySports.TeamNameLength.selector, 33));
        app.createMatchup("A", "123456789012345678901234567890123", "", "");
        vm.expectRevert(FantasySports.SameTeams.selector);
        app.createMatchup("A", "A", "", "");
        bytes memory long = new bytes(1025);
        vm.expectRevert(abi.encodeWithSelector(FantasySports.StatsTooLong.selector, 1025));
        app.createMatchup("A", "B", string(long), "");
        vm.expectRevert(abi.encodeWithSelector(FantasySports.StatsTooLong.selector, 1025));
        app.createMatchup("A", "B", "", string(long));
        vm.expectRevert(abi.encodeWithSelector(Schema.SchemaInvalid.selector, hex"0202014101ff"));
        bytes memory bad = hex"ff";
        app.createMatchup("A", string(bad), "", "");
    }

    function test_revert_requestWinner() public {
        uint256 fee = app.requestFee();
        vm.expectRevert(abi.encodeWithSelector(FantasySports.UnknownMatchup.selector, 7));
        app.requestWinner{value: fee}(7);
        uint256 id = _create();
        vm.expectRevert(abi.encodeWithSelector(AppBase.InsufficientFee.selector, fee, fee - 1));
        app.requestWinner{value: fee - 1}(id);
        uint256 pid = _request(id);
        vm.expectRevert(
            abi.encodeWithSelector(FantasySports.MatchupNotOpen.selector, id, FantasySports.Status.Pending)
        );
        app.requestWinner{value: fee}(id);
        _settle(pid, abi.encode(uint8(0)));
        vm.expectRevert(
            abi.encodeWithSelector(FantasySports.MatchupNotOpen.selector, id, FantasySports.Status.Decided)
        );
        app.requestWinner{value: fee}(id);
    }

    function test_revert_onlyKernelCallback_andNoStrayEther() public {
        vm.expectRevert(abi.encodeWithSelector(AIKernelConsumer.OnlyKernel.selector, address(this)));
        app.onAIResult(1, true, abi.encode(uint8(0)));
        vm.prank(alice);
        (bool ok, bytes memory ret) = address(app).call{value: 1}("");
        assertFalse(ok);
        assertEq(ret, abi.encodeWithSelector(AppBase.UnexpectedEther.selector, alice));
    }

    function test_revert_constructorCommitteeSize() public {
        vm.expectRevert(abi.encodeWithSelector(AppBase.InvalidCommitteeSize.selector, 2));
        new FantasySports(kernel, modelId, 2);
        vm.expectRevert(abi.encodeWithSelector(AppBase.InvalidCommitteeSize.selector, 0));
        new FantasySports(kernel, modelId, 0);
        vm.expectRevert(abi.encodeWithSelector(AppBase.InvalidCommitteeSize.selector, 17));
        new FantasySports(kernel, modelId, 17);
    }

    /// @notice Any pair of distinct ASCII names within the limit makes a matchup whose request
    ///         schema is the choice of exactly those two names.
    function testFuzz_createMatchup(string calldata a, string calldata b, uint8 la, uint8 lb) public {
        string memory ta = _ascii(a, bound(la, 1, 32));
        string memory tb = _ascii(b, bound(lb, 1, 32));
        vm.assume(keccak256(bytes(ta)) != keccak256(bytes(tb)));
        uint256 id = app.createMatchup(ta, tb, "x", "y");
        uint256 pid = app.requestWinner{value: app.requestFee()}(id);
        string[] memory opts = new string[](2);
        opts[0] = ta;
        opts[1] = tb;
        assertEq(kernel.requestOf(pid).schema, Schema.choice(opts));
    }

    /// @notice Whatever the committee agrees on, the callback never reverts and decides only on 0 or 1.
    function testFuzz_callbackAnyOutput(bytes calldata output, bool success) public {
        uint256 id = _create();
        uint256 pid = _request(id);
        vm.prank(address(kernel));
        app.onAIResult(pid, success, output);
        FantasySports.Status s = app.matchupOf(id).status;
        bool valid = success && output.length == 32 && uint256(bytes32(output)) < 2;
        assertEq(uint8(s), uint8(valid ? FantasySports.Status.Decided : FantasySports.Status.Open));
    }

    /// @notice Any payment at or above the fee is accepted and exactly the fee is kept.
    function testFuzz_requestWinnerPayment(uint256 extra) public {
        extra = bound(extra, 0, 50 ether);
        uint256 id = _create();
        uint256 fee = app.requestFee();
        uint256 before = bob.balance;
        vm.prank(bob);
        app.requestWinner{value: fee + extra}(id);
        assertEq(bob.balance, before - fee);
    }

    function _ascii(string calldata seed, uint256 len) internal pure returns (string memory) {
        bytes memory out = new bytes(len);
        bytes memory s = bytes(seed);
        for (uint256 i; i < len; ++i) {
            uint8 c = i < s.length ? uint8(s[i]) : uint8(i);
            out[i] = bytes1(uint8(0x20 + c % 0x5f));
        }
        return string(out);
    }
}
