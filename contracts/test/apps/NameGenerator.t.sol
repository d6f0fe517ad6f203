// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAIKernel} from "../../src/interfaces/IAIKernel.sol";
import {Schema} from "../../src/lib/Schema.sol";
import {AppBase} from "../../src/apps/AppBase.sol";
import {NameGenerator} from "../../src/apps/NameGenerator.sol";
import {NameRegistry} from "../../src/apps/NameRegistry.sol";
import {AppsBase} from "./AppsBase.sol";

contract NameGeneratorTest is AppsBase {
    NameGenerator internal app;
    NameRegistry internal registry;
    string internal constant DESC = "A wallet that pays your friends in one tap";

    function setUp() public override {
        super.setUp();
        registry = new NameRegistry();
        app = new NameGenerator(kernel, modelId, K, registry);
    }

    function _generate() internal returns (uint256 id, uint256 pid) {
        uint256 budget = app.budgetFee();
        vm.prank(alice);
        (id, pid) = app.generate{value: budget}(DESC);
    }

    function _name(string memory s) internal pure returns (bytes memory) {
        return abi.encode(s);
    }

    function test_happyPath_freeNameFirstTry() public {
        uint256 fee = app.budgetFee() / 4;
        uint256 before = alice.balance;
        (uint256 id, uint256 pid) = _generate();
        IAIKernel.Request memory r = kernel.requestOf(pid);
        assertEq(r.topic, bytes32(id));
        assertEq(
            string(r.input),
            "Suggest a short name for this project: A wallet that pays your friends in one tap\nReply with one lowercase word of 3 to 24 letters or digits."
        );
        assertEq(r.schema, Schema.text(24));
        assertEq(r.maxTokens, 12);
        assertEq(r.temperature, 0);
        assertEq(r.callbackGasLimit, app.CALLBACK_GAS());

        _prepare(pid, _name("TapPay"));
        vm.expectEmit(address(app));
        emit NameGenerator.NameChosen(id, pid, "tappay", alice);
        _finish(pid, _name("TapPay"));
        assertEq(registry.ownerOf("tappay"), alice);
        NameGenerator.NameRequest memory q = app.requestOf(id);
        assertEq(uint8(q.status), uint8(NameGenerator.Status.Registered));
        assertEq(q.name, "tappay");
        assertEq(q.attempts, 1);
        assertEq(app.credits(alice), 3 * fee);
        vm.prank(alice);
        app.withdraw();
        assertEq(alice.balance, before - fee);
    }

    function test_takenName_asksAgainWithContext() public {
        registry.register("tappay", bob);
        (uint256 id, uint256 pid) = _generate();
        _prepare(pid, _name("TapPay"));
        vm.expectEmit(address(app));
        emit NameGenerator.NameTaken(id, pid, "TapPay", "tappay");
        _finish(pid, _name("TapPay"));

        NameGenerator.NameRequest memory q = app.requestOf(id);
        assertEq(uint8(q.status), uint8(NameGenerator.Status.Pending));
        assertEq(q.attempts, 2);
        uint256 pid2 = q.promptId;
        assertEq(pid2, pid + 1, "the follow-up was sent from the callback");
        IAIKernel.Request memory r = kernel.requestOf(pid2);
        assertEq(string(r.input), app.promptFor(DESC, false));
        assertEq(r.temperature, app.RETRY_TEMPERATURE());
        assertEq(r.seed, 2);
        (, uint64 index,) = kernel.contextOf(pid2);
        assertEq(index, 3, "Prompt, Result and the 'taken: tappay' Feed");

        _settle(pid2, _name("friendpay"));
        assertEq(registry.ownerOf("friendpay"), alice);
        assertEq(app.requestOf(id).name, "friendpay");
        assertEq(app.credits(alice), 2 * (app.budgetFee() / 4));
    }

    function test_exhaustedAfterMaxAttempts() public {
        registry.register("taken", bob);
        (uint256 id, uint256 pid) = _generate();
        _settle(pid, _name("taken"));
        _settle(app.requestOf(id).promptId, ERROR_OUTPUT);
        _settle(app.requestOf(id).promptId, _name("Taken."));
        uint256 pid3 = app.requestOf(id).promptId;
        _prepare(pid3, _name("x"));
        vm.expectEmit(address(app));
        emit NameGenerator.RequestExhausted(id);
        _finish(pid3, _name("x"));
        NameGenerator.NameRequest memory q = app.requestOf(id);
        assertEq(uint8(q.status), uint8(NameGenerator.Status.Exhausted));
        assertEq(q.attempts, 4);
        assertEq(q.budget, 0);
        assertEq(app.credits(alice), 0);
        assertEq(address(app).balance, 0);
    }

    function test_followUpFails_stallsThenRetry() public {
        registry.register("taken", bob);
        (uint256 id, uint256 pid) = _generate();
        models.setActive(modelId, false);
        _prepare(pid, _name("taken"));
        vm.expectEmit(address(app));
        emit NameGenerator.RequestStalled(id);
        _finish(pid, _name("taken"));
        assertEq(uint8(app.requestOf(id).status), uint8(NameGenerator.Status.Stalled));
        models.setActive(modelId, true);
        vm.prank(alice);
        uint256 pid2 = app.retry(id);
        assertEq(app.requestOf(id).attempts, 2);
        _settle(pid2, _name("okname"));
        assertEq(registry.ownerOf("okname"), alice);
    }

    function test_feeRise_stallsThenRetryWithTopUp() public {
        registry.register("taken", bob);
        (uint256 id, uint256 pid) = _generate();
        models.setFee(modelId, FEE_PER_TOKEN * 100_000); // the callback's gas dominates a small rise
        _settle(pid, _name("taken"));
        assertEq(uint8(app.requestOf(id).status), uint8(NameGenerator.Status.Stalled));
        uint256 fee = kernel.quote(modelId, 12, K, app.CALLBACK_GAS());
        uint256 budget = app.requestOf(id).budget;
        vm.expectRevert(abi.encodeWithSelector(AppBase.InsufficientFee.selector, fee, budget));
        vm.prank(alice);
        app.retry(id);
        vm.prank(alice);
        app.retry{value: fee - budget}(id);
        assertEq(app.requestOf(id).budget, 0);
    }

    function test_refund_stallsAndDoesNotCount() public {
        uint256 before = alice.balance;
        (uint256 id, uint256 pid) = _generate();
        _refund(pid);
        app.reclaimRefund(pid);
        NameGenerator.NameRequest memory q = app.requestOf(id);
        assertEq(uint8(q.status), uint8(NameGenerator.Status.Stalled));
        assertEq(q.attempts, 0);
        assertEq(alice.balance, before - 3 * (app.budgetFee() / 4));
    }

    function test_revert_all() public {
        uint256 budget = app.budgetFee();
        vm.expectRevert(abi.encodeWithSelector(NameGenerator.DescriptionLength.selector, 0));
        app.generate{value: budget}("");
        vm.expectRevert(abi.encodeWithSelector(NameGenerator.DescriptionLength.selector, 257));
        app.generate{value: budget}(string(new bytes(257)));
        vm.expectRevert(abi.encodeWithSelector(AppBase.InsufficientFee.selector, budget, budget - 1));
        app.generate{value: budget - 1}(DESC);
        vm.expectRevert(abi.encodeWithSelector(NameGenerator.UnknownRequest.selector, 1));
        app.retry(1);
        (uint256 id,) = _generate();
        vm.expectRevert(
            abi.encodeWithSelector(NameGenerator.NotStalled.selector, id, NameGenerator.Status.Pending)
        );
        app.retry(id);
        vm.expectRevert(NameGenerator.NothingToWithdraw.selector);
        app.withdraw();
    }

    function test_revert_retryNotRequester() public {
        (uint256 id, uint256 pid) = _generate();
        _refund(pid);
        vm.expectRevert(
            abi.encodeWithSelector(NameGenerator.NotStalled.selector, id, NameGenerator.Status.Pending)
        );
        app.retry(id);
        app.reclaimRefund(pid);
        vm.expectRevert(abi.encodeWithSelector(NameGenerator.NotRequester.selector, id, bob));
        vm.prank(bob);
        app.retry(id);
    }

    function test_registry() public {
        vm.expectRevert(NameRegistry.ZeroAddress.selector);
        registry.register("abc", address(0));
        vm.expectRevert(abi.encodeWithSelector(NameRegistry.InvalidLabel.selector, "ab"));
        registry.register("ab", bob);
        vm.expectRevert(abi.encodeWithSelector(NameRegistry.InvalidLabel.selector, "-abc"));
        registry.register("-abc", bob);
        vm.expectRevert(abi.encodeWithSelector(NameRegistry.InvalidLabel.selector, "Abc"));
        registry.register("Abc", bob);
        vm.expectEmit(address(registry));
        emit NameRegistry.NameRegistered(keccak256("abc"), "abc", bob, address(this));
        registry.register("abc", bob);
        vm.expectRevert(abi.encodeWithSelector(NameRegistry.NameTaken.selector, "abc", bob));
        registry.register("abc", alice);
        assertFalse(registry.available("abc"));
        assertTrue(registry.available("a-b-c"));
        assertEq(registry.count(), 1);
    }

    function test_normalize() public view {
        assertEq(app.normalize("TapPay"), "tappay");
        assertEq(app.normalize("Moon Beam.eth"), "moon-beam");
        assertEq(app.normalize("  --Hello__World!! "), "hello-world");
        assertEq(app.normalize("\"Quote\"\nsecond line"), "quote");
        assertEq(app.normalize("abcdefghijklmnopqrstuvwxyz0123"), "abcdefghijklmnopqrstuvwx");
        assertEq(app.normalize(unicode"café"), "caf");
        assertEq(app.normalize("!!"), "");
    }

    /// @notice A normalized suggestion is either a valid label or (too short, or trimmed) invalid,
    ///         never longer than 24 bytes, and only uses the label alphabet.
    function testFuzz_normalize(string calldata s) public view {
        bytes memory out = bytes(app.normalize(s));
        assertLe(out.length, 24);
        for (uint256 i; i < out.length; ++i) {
            bytes1 c = out[i];
            assertTrue((c >= "a" && c <= "z") || (c >= "0" && c <= "9") || c == "-");
        }
        if (out.length >= 3) assertTrue(registry.isValidLabel(string(out)));
    }

    /// @notice The callback never reverts; it registers, asks again, or ends, and never overspends.
    function testFuzz_callbackAnyOutput(bytes calldata output, bool success) public {
        (uint256 id, uint256 pid) = _generate();
        vm.prank(address(kernel));
        app.onAIResult(pid, success, output);
        NameGenerator.NameRequest memory q = app.requestOf(id);
        assertTrue(q.status == NameGenerator.Status.Registered || q.status == NameGenerator.Status.Pending);
        assertEq(address(app).balance, q.budget + app.credits(alice));
    }

    /// @notice Any description within the limit becomes the documented first prompt.
    function testFuzz_generate(bytes calldata description, uint256 extra) public {
        vm.assume(description.length > 0 && description.length <= 256);
        extra = bound(extra, 0, 10 ether);
        uint256 budget = app.budgetFee();
        uint256 before = alice.balance;
        vm.prank(alice);
        (, uint256 pid) = app.generate{value: budget + extra}(string(description));
        assertEq(alice.balance, before - budget);
        assertEq(kernel.requestOf(pid).input, bytes(app.promptFor(string(description), true)));
    }
}
