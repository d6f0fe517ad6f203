// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IAIKernel} from "../../src/interfaces/IAIKernel.sol";
import {Schema} from "../../src/lib/Schema.sol";
import {AIWallet} from "../../src/apps/AIWallet.sol";
import {AppBase} from "../../src/apps/AppBase.sol";
import {AppsBase} from "./AppsBase.sol";

/// @notice A recipient that rejects ETH (the wallet must credit it instead).
contract Rejecter {
    receive() external payable {
        revert("no");
    }

    function claimFrom(AIWallet w) external {
        w.claim();
    }
}

contract AIWalletTest is AppsBase {
    AIWallet internal wallet;
    address internal owner = makeAddr("owner");
    address internal shop = makeAddr("shop");
    bytes internal constant NO = abi.encode(false);
    bytes internal constant YES = abi.encode(true);

    function setUp() public override {
        super.setUp();
        vm.prank(owner);
        wallet = new AIWallet(kernel, modelId, K);
        vm.deal(owner, 100 ether);
        vm.prank(owner);
        (bool ok,) = address(wallet).call{value: 10 ether}("");
        assertTrue(ok);
    }

    function _transfer(address to, uint256 amount) internal returns (uint256 id, uint256 pid) {
        uint256 fee = wallet.checkFee();
        vm.prank(owner);
        (id, pid) = wallet.transfer{value: fee}(to, amount, "coffee beans");
    }

    function test_happyPath_notSuspicious_executesInCallback() public {
        (uint256 id, uint256 pid) = _transfer(shop, 1 ether);
        IAIKernel.Request memory r = kernel.requestOf(pid);
        assertEq(r.topic, wallet.TOPIC());
        assertEq(r.schema, Schema.boolean());
        assertEq(
            string(r.input),
            string.concat(
                "suspiciousTransaction: the wallet owner wants to send 1000000000000000000 wei to ",
                vm.toLowercase(vm.toString(shop)),
                " (memo: coffee beans). Given the wallet's transaction history above, is this transaction suspicious?"
            )
        );
        assertEq(wallet.locked(), 1 ether);
        assertEq(wallet.available(), 9 ether);
        assertEq(address(wallet).balance, 10 ether, "the fee went to the kernel");

        _prepare(pid, NO);
        vm.expectEmit(address(wallet));
        emit AIWallet.TransferExecuted(id, shop, 1 ether, false);
        _finish(pid, NO);
        assertEq(shop.balance, 1 ether);
        assertEq(wallet.locked(), 0);
        assertEq(uint8(wallet.transferOf(id).status), uint8(AIWallet.Status.Executed));

        // The executed transfer is history: the next check sees Prompt, Result and Feed entries.
        (, uint256 pid2) = _transfer(shop, 2 ether);
        (, uint64 index,) = kernel.contextOf(pid2);
        assertEq(index, 3);
    }

    function test_flagged_heldThenApproved() public {
        (uint256 id, uint256 pid) = _transfer(shop, 3 ether);
        _prepare(pid, YES);
        vm.expectEmit(address(wallet));
        emit AIWallet.TransferHeld(id, pid, true, 0);
        _finish(pid, YES);
        assertEq(shop.balance, 0);
        assertEq(wallet.locked(), 3 ether);
        assertTrue(wallet.transferOf(id).flagged);
        vm.expectEmit(address(wallet));
        emit AIWallet.TransferExecuted(id, shop, 3 ether, true);
        vm.prank(owner);
        wallet.approve(id);
        assertEq(shop.balance, 3 ether);
        assertEq(wallet.locked(), 0);
    }

    function test_flagged_heldThenCancelled() public {
        (uint256 id, uint256 pid) = _transfer(shop, 3 ether);
        _settle(pid, YES);
        vm.expectEmit(address(wallet));
        emit AIWallet.TransferCancelled(id);
        vm.prank(owner);
        wallet.cancel(id);
        assertEq(wallet.locked(), 0);
        assertEq(wallet.available(), 10 ether);
        assertEq(uint8(wallet.transferOf(id).status), uint8(AIWallet.Status.Cancelled));
    }

    function test_errorResult_holdsTransfer() public {
        (uint256 id, uint256 pid) = _transfer(shop, 1 ether);
        _prepare(pid, ERROR_OUTPUT);
        vm.expectEmit(address(wallet));
        emit AIWallet.TransferHeld(id, pid, false, 3);
        _finish(pid, ERROR_OUTPUT);
        assertEq(uint8(wallet.transferOf(id).status), uint8(AIWallet.Status.Held));
        assertEq(shop.balance, 0);
    }

    function test_refund_holdsTransfer_andReturnsFee() public {
        uint256 before = owner.balance;
        (uint256 id, uint256 pid) = _transfer(shop, 1 ether);
        _refund(pid);
        wallet.reclaimRefund(pid);
        assertEq(owner.balance, before);
        assertEq(uint8(wallet.transferOf(id).status), uint8(AIWallet.Status.Held));
        assertEq(wallet.locked(), 1 ether);
    }

    function test_rejectingRecipient_isCredited() public {
        Rejecter r = new Rejecter();
        (uint256 id, uint256 pid) = _transfer(address(r), 1 ether);
        _prepare(pid, NO);
        vm.expectEmit(address(wallet));
        emit AIWallet.PaymentCredited(id, address(r), 1 ether);
        _finish(pid, NO);
        assertEq(wallet.credits(address(r)), 1 ether);
        assertEq(wallet.available(), 9 ether);
        vm.expectRevert(abi.encodeWithSelector(AppBase.TransferFailed.selector, address(r), 1 ether));
        r.claimFrom(wallet);
    }

    function test_claim() public {
        // A recipient whose receive needs more than SEND_GAS is credited and claims later.
        GasHungry g = new GasHungry();
        (, uint256 pid) = _transfer(address(g), 1 ether);
        _settle(pid, NO);
        assertEq(wallet.credits(address(g)), 1 ether);
        vm.expectEmit(address(wallet));
        emit AIWallet.Claimed(address(g), 1 ether);
        g.claimFrom(wallet);
        assertEq(address(g).balance, 1 ether);
        assertEq(wallet.totalCredits(), 0);
        vm.expectRevert(AIWallet.NothingToClaim.selector);
        g.claimFrom(wallet);
    }

    function test_revert_transfer() public {
        uint256 fee = wallet.checkFee();
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, alice));
        vm.prank(alice);
        wallet.transfer{value: fee}(shop, 1, "");
        vm.startPrank(owner);
        vm.expectRevert(AIWallet.ZeroAddress.selector);
        wallet.transfer{value: fee}(address(0), 1, "");
        vm.expectRevert(abi.encodeWithSelector(AIWallet.InvalidAmount.selector, 0));
        wallet.transfer{value: fee}(shop, 0, "");
        vm.expectRevert(
            abi.encodeWithSelector(AIWallet.InvalidAmount.selector, uint256(type(uint96).max) + 1)
        );
        wallet.transfer{value: fee}(shop, uint256(type(uint96).max) + 1, "");
        vm.expectRevert(abi.encodeWithSelector(AIWallet.MemoTooLong.selector, 257));
        wallet.transfer{value: fee}(shop, 1, string(new bytes(257)));
        vm.expectRevert(abi.encodeWithSelector(AIWallet.InsufficientBalance.selector, 10 ether, 10 ether + 1));
        wallet.transfer{value: fee}(shop, 10 ether + 1, "");
        vm.expectRevert(abi.encodeWithSelector(AppBase.InsufficientFee.selector, fee, fee - 1));
        wallet.transfer{value: fee - 1}(shop, 1, "");
        vm.stopPrank();
        // Locked funds are not available.
        _transfer(shop, 6 ether);
        vm.expectRevert(abi.encodeWithSelector(AIWallet.InsufficientBalance.selector, 4 ether, 5 ether));
        vm.prank(owner);
        wallet.transfer{value: fee}(shop, 5 ether, "");
    }

    function test_revert_approveCancel() public {
        (uint256 id, uint256 pid) = _transfer(shop, 1 ether);
        vm.startPrank(owner);
        vm.expectRevert(abi.encodeWithSelector(AIWallet.NotHeld.selector, id, AIWallet.Status.Pending));
        wallet.approve(id);
        vm.expectRevert(abi.encodeWithSelector(AIWallet.NotHeld.selector, id, AIWallet.Status.Pending));
        wallet.cancel(id);
        vm.expectRevert(abi.encodeWithSelector(AIWallet.NotHeld.selector, 9, AIWallet.Status.None));
        wallet.approve(9);
        vm.stopPrank();
        _settle(pid, YES);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, alice));
        vm.prank(alice);
        wallet.approve(id);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, alice));
        vm.prank(alice);
        wallet.cancel(id);
    }

    function test_deposit_emits() public {
        vm.expectEmit(address(wallet));
        emit AIWallet.Deposited(alice, 1 ether);
        vm.prank(alice);
        (bool ok,) = address(wallet).call{value: 1 ether}("");
        assertTrue(ok);
        assertEq(wallet.available(), 11 ether);
    }

    /// @notice Any amount up to the balance is locked, and released exactly once whatever the answer.
    function testFuzz_transfer(uint256 amount, bool flagged) public {
        amount = bound(amount, 1, 10 ether);
        (uint256 id, uint256 pid) = _transfer(shop, amount);
        assertEq(wallet.available(), 10 ether - amount);
        _settle(pid, abi.encode(flagged));
        if (flagged) {
            vm.prank(owner);
            wallet.cancel(id);
            assertEq(shop.balance, 0);
        } else {
            assertEq(shop.balance, amount);
        }
        assertEq(wallet.locked(), 0);
        assertEq(wallet.available() + shop.balance, 10 ether);
    }

    /// @notice The callback never reverts, and only an exact `false` sends the funds.
    function testFuzz_callbackAnyOutput(bytes calldata output, bool success) public {
        (uint256 id, uint256 pid) = _transfer(shop, 1 ether);
        vm.prank(address(kernel));
        wallet.onAIResult(pid, success, output);
        bool sent = success && output.length == 32 && uint256(bytes32(output)) == 0;
        assertEq(shop.balance, sent ? 1 ether : 0);
        assertEq(
            uint8(wallet.transferOf(id).status), uint8(sent ? AIWallet.Status.Executed : AIWallet.Status.Held)
        );
    }
}

/// @notice A recipient whose receive uses more than the wallet's SEND_GAS.
contract GasHungry {
    uint256[] internal sink;

    receive() external payable {
        for (uint256 i; i < 3; ++i) {
            sink.push(i);
        }
    }

    function claimFrom(AIWallet w) external {
        w.claim();
    }
}
