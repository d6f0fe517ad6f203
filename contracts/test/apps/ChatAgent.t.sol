// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IAIKernel} from "../../src/interfaces/IAIKernel.sol";
import {Schema} from "../../src/lib/Schema.sol";
import {AppBase} from "../../src/apps/AppBase.sol";
import {ChatAgent} from "../../src/apps/ChatAgent.sol";
import {AppsBase} from "./AppsBase.sol";

contract ChatAgentTest is AppsBase {
    uint256 internal constant SERVICE = 0.001 ether;
    ChatAgent internal app;
    address internal owner = makeAddr("owner");

    function setUp() public override {
        super.setUp();
        vm.prank(owner);
        app = new ChatAgent(kernel, modelId, K, SERVICE);
    }

    function _send(address who, string memory message) internal returns (uint256 pid) {
        uint256 fee = app.messageFee();
        vm.prank(who);
        pid = app.send{value: fee}(message);
    }

    function test_happyPath_conversationCarriesContext() public {
        uint256 pid = _send(alice, "Hi, I am Alice. What can you do?");
        IAIKernel.Request memory r = kernel.requestOf(pid);
        assertEq(r.topic, bytes32(uint256(uint160(alice))));
        assertEq(r.topic, app.topicOf(alice));
        assertEq(string(r.input), "Hi, I am Alice. What can you do?");
        assertEq(string(r.extraContext), app.PERSONA());
        assertEq(r.schema, Schema.text(256));
        assertEq(r.maxTokens, 64);
        assertEq(r.callbackGasLimit, app.CALLBACK_GAS());

        string memory reply = "Hello Alice! I answer questions onchain.";
        _prepare(pid, abi.encode(reply));
        vm.expectEmit(address(app));
        emit ChatAgent.ReplyReceived(alice, pid, reply);
        _finish(pid, abi.encode(reply));
        assertEq(app.replyOf(alice), reply);
        assertEq(app.accruedServiceFees(), SERVICE);

        // The second message's context is the first exchange: Prompt and Result entries.
        uint256 pid2 = _send(alice, "What is my name?");
        (, uint64 index,) = kernel.contextOf(pid2);
        assertEq(index, 2);
        (uint64 len,) = context.chainOf(address(app), app.topicOf(alice));
        assertEq(len, 3);
        _settle(pid2, abi.encode(string("Your name is Alice.")));
        assertEq(app.replyOf(alice), "Your name is Alice.");
        assertEq(app.conversationOf(alice).replies, 2);

        // Bob's conversation is separate.
        uint256 pid3 = _send(bob, "Hello");
        (, index,) = kernel.contextOf(pid3);
        assertEq(index, 0);
    }

    function test_longestReply_fitsCallbackGas() public {
        uint256 pid = _send(alice, "Tell me a long story.");
        bytes memory reply = new bytes(256);
        for (uint256 i; i < 256; ++i) {
            reply[i] = bytes1(uint8(0x61 + i % 26));
        }
        uint256 used = _callbackGas(app, pid, true, abi.encode(string(reply)));
        assertLt(used * 3 / 2, app.CALLBACK_GAS(), "callback gas margin");
        _settle(pid, abi.encode(string(reply)));
        assertEq(bytes(app.replyOf(alice)), reply);
    }

    function test_serviceFees_withdrawnByOwner() public {
        uint256 pid = _send(alice, "one");
        assertEq(app.accruedServiceFees(), 0, "not earned before the answer");
        _settle(pid, abi.encode(string("two")));
        pid = _send(bob, "three");
        _settle(pid, ERROR_OUTPUT);
        assertEq(app.accruedServiceFees(), 2 * SERVICE);
        address payable sink = payable(makeAddr("sink"));
        vm.expectEmit(address(app));
        emit ChatAgent.ServiceFeesWithdrawn(sink, 2 * SERVICE);
        vm.prank(owner);
        app.withdrawServiceFees(sink);
        assertEq(sink.balance, 2 * SERVICE);
        assertEq(address(app).balance, 0);
    }

    function test_errorResult_clearsPending() public {
        uint256 pid = _send(alice, "hello");
        _prepare(pid, ERROR_OUTPUT);
        vm.expectEmit(address(app));
        emit ChatAgent.ReplyFailed(alice, pid, 3);
        _finish(pid, ERROR_OUTPUT);
        assertEq(app.conversationOf(alice).pendingPromptId, 0);
        _send(alice, "again");
    }

    function test_refund_returnsKernelAndServiceFee() public {
        uint256 before = alice.balance;
        uint256 pid = _send(alice, "hello");
        _refund(pid);
        app.reclaimRefund(pid);
        assertEq(alice.balance, before);
        assertEq(app.accruedServiceFees(), 0);
        assertEq(address(app).balance, 0);
        assertEq(app.conversationOf(alice).pendingPromptId, 0);
    }

    function test_setServiceFee() public {
        vm.expectEmit(address(app));
        emit ChatAgent.ServiceFeeSet(2 ether / 10);
        vm.prank(owner);
        app.setServiceFee(2 ether / 10);
        assertEq(app.messageFee(), app.kernelFee() + 2 ether / 10);
    }

    function test_revert_send() public {
        uint256 fee = app.messageFee();
        vm.expectRevert(ChatAgent.EmptyMessage.selector);
        app.send{value: fee}("");
        vm.expectRevert(abi.encodeWithSelector(ChatAgent.MessageTooLong.selector, 1025));
        app.send{value: fee}(string(new bytes(1025)));
        vm.expectRevert(abi.encodeWithSelector(AppBase.InsufficientFee.selector, fee, fee - 1));
        app.send{value: fee - 1}("hi");
        uint256 pid = _send(alice, "hi");
        vm.expectRevert(abi.encodeWithSelector(ChatAgent.ReplyPending.selector, alice, pid));
        vm.prank(alice);
        app.send{value: fee}("hi again");
    }

    function test_revert_owner() public {
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, alice));
        vm.prank(alice);
        app.setServiceFee(0);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, alice));
        vm.prank(alice);
        app.withdrawServiceFees(alice);
        vm.startPrank(owner);
        vm.expectRevert(abi.encodeWithSelector(ChatAgent.ServiceFeeTooHigh.selector, 1 ether + 1));
        app.setServiceFee(1 ether + 1);
        vm.expectRevert(ChatAgent.ZeroAddress.selector);
        app.withdrawServiceFees(address(0));
        vm.expectRevert(ChatAgent.NothingToWithdraw.selector);
        app.withdrawServiceFees(owner);
        vm.stopPrank();
        vm.expectRevert(abi.encodeWithSelector(ChatAgent.ServiceFeeTooHigh.selector, 2 ether));
        new ChatAgent(kernel, modelId, K, 2 ether);
    }

    /// @notice Any message within the limit is sent verbatim on the sender's topic; the caller pays
    ///         exactly the kernel fee plus the service fee.
    function testFuzz_send(bytes calldata message, uint256 extra) public {
        vm.assume(message.length > 0 && message.length <= 1024);
        extra = bound(extra, 0, 10 ether);
        uint256 fee = app.messageFee();
        uint256 before = alice.balance;
        vm.prank(alice);
        uint256 pid = app.send{value: fee + extra}(string(message));
        assertEq(alice.balance, before - fee);
        assertEq(kernel.requestOf(pid).input, message);
        assertEq(address(app).balance, SERVICE);
    }

    /// @notice The callback never reverts; it stores exactly the well-formed replies.
    function testFuzz_callbackAnyOutput(bytes calldata output, bool success) public {
        uint256 pid = _send(alice, "hi");
        vm.prank(address(kernel));
        app.onAIResult(pid, success, output);
        assertEq(app.conversationOf(alice).pendingPromptId, 0);
        assertEq(app.accruedServiceFees(), SERVICE);
    }

    /// @notice Any fee up to the maximum is charged on top of the kernel fee.
    function testFuzz_setServiceFee(uint256 fee) public {
        fee = bound(fee, 0, 1 ether);
        vm.prank(owner);
        app.setServiceFee(fee);
        assertEq(app.messageFee(), app.kernelFee() + fee);
    }
}
