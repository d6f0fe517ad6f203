// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "forge-std/Vm.sol";
import {IAIKernel} from "../../src/interfaces/IAIKernel.sol";
import {DecentralizedInference} from "../../src/kernel/DecentralizedInference.sol";
import {ModelFileSystem} from "../../src/kernel/ModelFileSystem.sol";
import {PromptScheduler} from "../../src/kernel/PromptScheduler.sol";
import {ContextManager} from "../../src/kernel/ContextManager.sol";
import {Schema} from "../../src/lib/Schema.sol";
import {KernelBase} from "./KernelBase.sol";
import {EthRejectingRequester} from "./mocks/Consumers.sol";

contract DecentralizedInferenceTest is KernelBase {
    function setUp() public override {
        super.setUp();
        _addNodes(5);
    }

    function _fee(IAIKernel.Request memory r) internal view returns (uint256) {
        return kernel.quote(r.modelId, r.maxTokens, r.committeeSize);
    }

    function _infer(IAIKernel.Request memory r) internal returns (uint256) {
        uint256 fee = _fee(r);
        vm.prank(user);
        return kernel.infer{value: fee}(r);
    }

    function _expectInferRevert(IAIKernel.Request memory r, bytes memory err) internal {
        vm.deal(user, 1000 ether);
        vm.prank(user);
        vm.expectRevert(err);
        kernel.infer{value: 1 ether}(r);
    }

    // ---------------------------------------------------------------- quote / infer

    function test_quote_isFeeTimesTokensTimesCommitteePlusProtocolFee() public view {
        uint256 nodeFee = uint256(FEE_PER_TOKEN) * 16 * 3;
        assertEq(kernel.quote(modelId, 16, 3), nodeFee + nodeFee * 500 / 10_000);
    }

    function test_infer_recordsPromptAndEmits() public {
        IAIKernel.Request memory r = _request(3);
        uint256 fee = _fee(r);
        vm.expectEmit(true, true, true, true, address(kernel));
        emit IAIKernel.PromptSubmitted(1, user, modelId, r.topic, fee);
        vm.prank(user);
        uint256 pid = kernel.infer{value: fee}(r);
        assertEq(pid, 1);
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Committing));
        assertEq(kernel.committeeOf(pid).length, 3);
        assertEq(kernel.requesterOf(pid), user);
        DecentralizedInference.Prompt memory p = kernel.promptInfo(pid);
        assertEq(p.commitDeadline, block.timestamp + 60);
        assertEq(p.revealDeadline, block.timestamp + 120);
        assertEq(address(kernel).balance, fee);
    }

    function test_infer_refundsExcess() public {
        IAIKernel.Request memory r = _request(3);
        uint256 fee = _fee(r);
        uint256 before = user.balance;
        vm.prank(user);
        kernel.infer{value: fee + 1 ether}(r);
        assertEq(user.balance, before - fee);
    }

    function test_infer_revertsWhenExcessRefundFails() public {
        EthRejectingRequester rej = new EthRejectingRequester(kernel);
        IAIKernel.Request memory r = _request(1);
        uint256 fee = _fee(r);
        vm.expectRevert(DecentralizedInference.TransferFailed.selector);
        rej.ask{value: fee + 1}(r);
    }

    function testFuzz_requestOf_roundTrips(
        bytes calldata input,
        bytes calldata extra,
        bytes calldata schema,
        uint32 maxTokens,
        uint32 temperature,
        uint64 seed,
        uint32 gasLimit,
        uint8 kRaw
    ) public {
        vm.assume(input.length > 0 && input.length <= 2048 && extra.length <= 2048 && schema.length <= 1024);
        IAIKernel.Request memory r = _request(uint16(bound(kRaw, 0, 2)) * 2 + 1);
        r.input = input;
        r.extraContext = extra;
        r.schema = Schema.isValid(schema) ? schema : bytes("");
        r.maxTokens = uint32(bound(maxTokens, 1, 4096));
        r.temperature = temperature;
        r.seed = seed;
        r.callbackGasLimit = uint32(bound(gasLimit, 0, 1_000_000));
        uint256 pid = _infer(r);
        IAIKernel.Request memory back = kernel.requestOf(pid);
        assertEq(keccak256(abi.encode(back)), keccak256(abi.encode(r)));
    }

    function test_requestOf_offChainInput() public {
        IAIKernel.Request memory r = _request(1);
        r.input = "";
        r.inputHash = sha256("a long document kept on IPFS");
        uint256 pid = _infer(r);
        assertEq(kernel.requestOf(pid).inputHash, r.inputHash);
        assertEq(kernel.requestOf(pid).input.length, 0);
    }

    function test_infer_revert_InvalidCommitteeSize() public {
        uint16[4] memory bad = [uint16(0), 2, 4, 17];
        for (uint256 i; i < bad.length; ++i) {
            IAIKernel.Request memory r = _request(bad[i]);
            _expectInferRevert(
                r,
                abi.encodeWithSelector(DecentralizedInference.InvalidCommitteeSize.selector, uint256(bad[i]))
            );
        }
    }

    function test_infer_revert_InvalidMaxTokens() public {
        IAIKernel.Request memory r = _request(1);
        r.maxTokens = 0;
        _expectInferRevert(
            r, abi.encodeWithSelector(DecentralizedInference.InvalidMaxTokens.selector, 0, 4096)
        );
        r.maxTokens = 4097;
        _expectInferRevert(
            r, abi.encodeWithSelector(DecentralizedInference.InvalidMaxTokens.selector, 4097, 4096)
        );
    }

    function test_infer_revert_InvalidInput() public {
        IAIKernel.Request memory r = _request(1);
        r.input = "";
        _expectInferRevert(r, abi.encodeWithSelector(DecentralizedInference.InvalidInput.selector));
        r.input = "x";
        r.inputHash = bytes32(uint256(1));
        _expectInferRevert(r, abi.encodeWithSelector(DecentralizedInference.InvalidInput.selector));
    }

    function test_infer_revert_InputTooLarge() public {
        IAIKernel.Request memory r = _request(1);
        r.input = new bytes(8193);
        _expectInferRevert(
            r, abi.encodeWithSelector(DecentralizedInference.InputTooLarge.selector, 8193, 8192)
        );
        r.input = "x";
        r.extraContext = new bytes(8193);
        _expectInferRevert(
            r, abi.encodeWithSelector(DecentralizedInference.InputTooLarge.selector, 8193, 8192)
        );
        r.extraContext = "";
        r.schema = new bytes(1025);
        _expectInferRevert(
            r, abi.encodeWithSelector(DecentralizedInference.InputTooLarge.selector, 1025, 1024)
        );
    }

    function test_infer_revert_InvalidSchema() public {
        IAIKernel.Request memory r = _request(1);
        r.schema = hex"ffffffff";
        assertFalse(Schema.isValid(r.schema));
        assertEq(_request(1).schema, Schema.integer(0, 9)); // the schema every other test uses
        _expectInferRevert(r, abi.encodeWithSelector(DecentralizedInference.InvalidSchema.selector));
    }

    function test_infer_revert_CallbackGasTooHigh() public {
        IAIKernel.Request memory r = _request(1);
        r.callbackGasLimit = 1_000_001;
        _expectInferRevert(
            r,
            abi.encodeWithSelector(DecentralizedInference.CallbackGasTooHigh.selector, 1_000_001, 1_000_000)
        );
        r.callback = address(0); // no callback: the limit is ignored
        _infer(r);
    }

    function test_infer_revert_FeeTooLow() public {
        IAIKernel.Request memory r = _request(3);
        uint256 fee = _fee(r);
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(DecentralizedInference.FeeTooLow.selector, fee, fee - 1));
        kernel.infer{value: fee - 1}(r);
    }

    function test_infer_revert_FeeTooHigh() public {
        IAIKernel.Request memory r = _request(1);
        models.setFee(modelId, uint128(uint256(type(uint96).max) / 16));
        uint256 fee = kernel.quote(r.modelId, r.maxTokens, r.committeeSize);
        vm.deal(user, fee);
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(DecentralizedInference.FeeTooHigh.selector, fee));
        kernel.infer{value: fee}(r);
    }

    function test_infer_revert_UnknownModelAndInactive() public {
        IAIKernel.Request memory r = _request(1);
        r.modelId = 99;
        _expectInferRevert(r, abi.encodeWithSelector(ModelFileSystem.UnknownModel.selector, 99));
        models.setActive(modelId, false);
        r.modelId = modelId;
        _expectInferRevert(r, abi.encodeWithSelector(ModelFileSystem.ModelInactive.selector, modelId));
    }

    function test_infer_revert_NotEnoughNodes() public {
        IAIKernel.Request memory r = _request(7);
        _expectInferRevert(r, abi.encodeWithSelector(PromptScheduler.NotEnoughNodes.selector, modelId, 5, 7));
    }

    // ---------------------------------------------------------------- context

    function test_infer_appendsPromptAndResultToContext() public {
        uint256 p1 = _submit(3);
        (uint64 idx, bytes32 root) = kernel.contextOf(p1);
        assertEq(idx, 0);
        assertEq(root, bytes32(0));
        _runAll(p1, ANSWER);
        uint256 p2 = _submit(3);
        (idx, root) = kernel.contextOf(p2);
        assertEq(idx, 2);
        bytes memory input = _request(3).input;
        bytes32 e0 = keccak256(abi.encode(uint8(0), p1, keccak256(input), bytes32(0)));
        bytes32 e1 = keccak256(abi.encode(uint8(1), p1, keccak256(ANSWER), bytes32(0)));
        bytes32 expected = keccak256(abi.encode(keccak256(abi.encode(bytes32(0), e0)), e1));
        assertEq(root, expected);
        (uint64 len, bytes32 now_) = context.chainOf(address(consumer), _request(3).topic);
        assertEq(len, 3);
        assertTrue(now_ != expected);
    }

    // ---------------------------------------------------------------- commit

    function test_commit_recordsOrderAndMovesToRevealing() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        bytes32 cm = _commitment(pid, ANSWER, c[1]);
        vm.expectEmit(true, true, true, true, address(kernel));
        emit DecentralizedInference.Committed(pid, 0, c[1], cm);
        vm.prank(c[1]);
        kernel.commit(pid, cm);
        (uint8 state, uint8 order, bytes28 prefix) = kernel.memberState(pid, c[1]);
        assertEq(state, 1);
        assertEq(order, 1);
        assertEq(prefix, bytes28(cm));
        _commit(pid, c[0], ANSWER);
        _commit(pid, c[2], ANSWER);
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Revealing));
    }

    function test_commit_revert_UnknownPrompt() public {
        vm.expectRevert(abi.encodeWithSelector(DecentralizedInference.UnknownPrompt.selector, 7));
        kernel.commit(7, bytes32(uint256(1)));
    }

    function test_commit_revert_CommitClosed() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        vm.warp(block.timestamp + 61);
        vm.prank(c[0]);
        vm.expectRevert(abi.encodeWithSelector(DecentralizedInference.CommitClosed.selector, pid));
        kernel.commit(pid, bytes32(uint256(1)));
    }

    function test_commit_revert_ZeroCommitment() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        vm.prank(c[0]);
        vm.expectRevert(DecentralizedInference.ZeroCommitment.selector);
        kernel.commit(pid, bytes32(0));
    }

    function test_commit_revert_NotInCommittee() public {
        uint256 pid = _submit(3);
        address outsider = makeAddr("outsider");
        vm.prank(outsider);
        vm.expectRevert(abi.encodeWithSelector(DecentralizedInference.NotInCommittee.selector, pid, outsider));
        kernel.commit(pid, bytes32(uint256(1)));
    }

    function test_commit_revert_AlreadyCommitted() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        _commit(pid, c[0], ANSWER);
        vm.prank(c[0]);
        vm.expectRevert(abi.encodeWithSelector(DecentralizedInference.AlreadyCommitted.selector, pid, c[0]));
        kernel.commit(pid, bytes32(uint256(1)));
    }

    function testFuzz_commit_onlyCommitteeMembers(address who, bytes32 cm) public {
        vm.assume(cm != bytes32(0));
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        bool member = who == c[0] || who == c[1] || who == c[2];
        vm.prank(who);
        if (!member) {
            vm.expectRevert(abi.encodeWithSelector(DecentralizedInference.NotInCommittee.selector, pid, who));
        }
        kernel.commit(pid, cm);
    }

    // ---------------------------------------------------------------- reveal

    function test_reveal_revert_RevealClosedBeforeCommitDeadline() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        _commit(pid, c[0], ANSWER);
        vm.prank(c[0]);
        vm.expectRevert(abi.encodeWithSelector(DecentralizedInference.RevealClosed.selector, pid));
        kernel.reveal(pid, _salt(c[0], pid), ANSWER);
    }

    function test_reveal_revert_RevealClosedAfterDeadline() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        _commit(pid, c[0], ANSWER);
        vm.warp(block.timestamp + 121);
        vm.prank(c[0]);
        vm.expectRevert(abi.encodeWithSelector(DecentralizedInference.RevealClosed.selector, pid));
        kernel.reveal(pid, _salt(c[0], pid), ANSWER);
    }

    function test_reveal_revert_UnknownPrompt() public {
        vm.expectRevert(abi.encodeWithSelector(DecentralizedInference.UnknownPrompt.selector, 9));
        kernel.reveal(9, bytes32(0), ANSWER);
    }

    function test_reveal_revert_NotCommittedAndAlreadyRevealed() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        _commit(pid, c[0], ANSWER);
        _commit(pid, c[1], ANSWER);
        vm.warp(block.timestamp + 61);
        vm.prank(c[2]);
        vm.expectRevert(abi.encodeWithSelector(DecentralizedInference.NotCommitted.selector, pid, c[2]));
        kernel.reveal(pid, _salt(c[2], pid), ANSWER);
        _reveal(pid, c[0], ANSWER);
        vm.prank(c[0]);
        vm.expectRevert(abi.encodeWithSelector(DecentralizedInference.AlreadyRevealed.selector, pid, c[0]));
        kernel.reveal(pid, _salt(c[0], pid), ANSWER);
    }

    function test_reveal_revert_InvalidReveal() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        for (uint256 i; i < 3; ++i) {
            _commit(pid, c[i], ANSWER);
        }
        vm.prank(c[0]);
        vm.expectRevert(abi.encodeWithSelector(DecentralizedInference.InvalidReveal.selector, pid, c[0]));
        kernel.reveal(pid, _salt(c[0], pid), WRONG);
        vm.prank(c[0]);
        vm.expectRevert(abi.encodeWithSelector(DecentralizedInference.InvalidReveal.selector, pid, c[0]));
        kernel.reveal(pid, bytes32(uint256(5)), ANSWER);
    }

    function test_reveal_revert_OutputTooLarge() public {
        uint256 pid = _submit(1);
        address[] memory c = _committee(pid);
        _commit(pid, c[0], ANSWER);
        vm.prank(c[0]);
        vm.expectRevert(abi.encodeWithSelector(DecentralizedInference.OutputTooLarge.selector, 8193));
        kernel.reveal(pid, bytes32(0), new bytes(8193));
    }

    function testFuzz_reveal_settlesAnyOutput(bytes calldata output, uint8 kRaw) public {
        vm.assume(output.length <= 4096);
        uint16 k = uint16(bound(kRaw, 0, 2)) * 2 + 1;
        uint256 pid = _submit(k);
        _runAll(pid, output);
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Settled));
        assertEq(kernel.resultOf(pid), output);
        // RecordingConsumer copies the output to storage: past ~150 bytes its 200k callback gas
        // runs out (CallbackDelivered ok = false, which settlement tolerates), so check it only
        // where it fits. (forge seeds the fuzzer with the project's string literals, long prompts
        // of contracts/src/apps among them.)
        if (output.length <= 96) {
            assertEq(consumer.lastOutput(), output);
            assertEq(consumer.lastSuccess(), output.length % 32 != 4);
        }
    }

    // ---------------------------------------------------------------- settlement

    function test_settle_paysFirstCommitterLargerShare() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        _commit(pid, c[2], ANSWER); // earliest committer
        _commit(pid, c[0], ANSWER);
        _commit(pid, c[1], ANSWER);
        uint256 reward = kernel.nextReward();
        vm.recordLogs();
        for (uint256 i; i < 3; ++i) {
            _reveal(pid, c[i], ANSWER);
        }
        uint256 nodeFee = uint256(FEE_PER_TOKEN) * 16 * 3;
        DecentralizedInference.Earnings memory e2 = kernel.earningsOf(c[2]);
        DecentralizedInference.Earnings memory e0 = kernel.earningsOf(c[0]);
        DecentralizedInference.Earnings memory e1 = kernel.earningsOf(c[1]);
        assertGt(e2.eth, e0.eth);
        assertEq(e0.eth, e1.eth);
        assertEq(uint256(e0.eth) + e1.eth + e2.eth, nodeFee);
        assertEq(uint256(e0.eai) + e1.eai + e2.eai, reward);
        assertEq(e2.eth, nodeFee - 2 * ((nodeFee - nodeFee * 6000 / 10_000) / 2));
        (, uint96 emitted, uint96 accrued) = kernel.globals();
        assertEq(emitted, reward);
        assertEq(accrued, nodeFee * 500 / 10_000);
        assertEq(kernel.nextReward(), (REWARD_BUDGET - reward) / REWARD_DECAY);
        assertLt(kernel.nextReward(), reward);
    }

    function test_settle_errorResultCallsBackWithFailureAndSkipsContext() public {
        bytes memory err = abi.encodeWithSelector(bytes4(keccak256("AIKernelError(uint8)")), uint8(2));
        uint256 pid = _submit(3);
        _runAll(pid, err);
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Settled));
        assertFalse(consumer.lastSuccess());
        assertEq(consumer.lastOutput(), err);
        (uint64 len,) = context.chainOf(address(consumer), _request(3).topic);
        assertEq(len, 1); // only the Prompt entry
    }

    function test_settle_revert_SettlementNotDue() public {
        uint256 pid = _submit(3);
        vm.expectRevert(abi.encodeWithSelector(DecentralizedInference.SettlementNotDue.selector, pid));
        kernel.settle(pid);
        address[] memory c = _committee(pid);
        _commit(pid, c[0], ANSWER);
        _commit(pid, c[1], ANSWER);
        vm.warp(block.timestamp + 61); // two commits: a majority is still possible
        vm.expectRevert(abi.encodeWithSelector(DecentralizedInference.SettlementNotDue.selector, pid));
        kernel.settle(pid);
    }

    function test_settle_revert_UnknownAndAlreadyFinal() public {
        vm.expectRevert(abi.encodeWithSelector(DecentralizedInference.UnknownPrompt.selector, 3));
        kernel.settle(3);
        uint256 pid = _submit(1);
        _runAll(pid, ANSWER);
        vm.expectRevert(abi.encodeWithSelector(DecentralizedInference.AlreadyFinal.selector, pid));
        kernel.settle(pid);
    }

    function test_settle_afterRevealDeadlineWithMajority() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        for (uint256 i; i < 3; ++i) {
            _commit(pid, c[i], ANSWER);
        }
        _reveal(pid, c[0], ANSWER);
        _reveal(pid, c[1], ANSWER);
        vm.warp(block.timestamp + 121);
        kernel.settle(pid);
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Settled));
        assertEq(kernel.resultOf(pid), ANSWER);
        assertEq(consumer.calls(), 1);
        assertTrue(gpu.nodeInfo(c[2]).jailed);
    }

    function test_resultOf_revert_NotSettled() public {
        uint256 pid = _submit(3);
        vm.expectRevert(abi.encodeWithSelector(DecentralizedInference.NotSettled.selector, pid));
        kernel.resultOf(pid);
    }

    function test_views_revertForUnknownPrompt() public {
        vm.expectRevert(abi.encodeWithSelector(DecentralizedInference.UnknownPrompt.selector, 5));
        kernel.requestOf(5);
        vm.expectRevert(abi.encodeWithSelector(DecentralizedInference.UnknownPrompt.selector, 5));
        kernel.committeeOf(5);
        vm.expectRevert(abi.encodeWithSelector(DecentralizedInference.UnknownPrompt.selector, 5));
        kernel.contextOf(5);
    }

    // ---------------------------------------------------------------- escalation and refund

    function test_tooFewCommits_escalatesToFreshCommittee() public {
        uint256 pid = _submit(1);
        address[] memory first = _committee(pid);
        vm.warp(block.timestamp + 61);
        vm.recordLogs();
        kernel.settle(pid);
        DecentralizedInference.Prompt memory p = kernel.promptInfo(pid);
        assertEq(p.round, 1);
        assertEq(uint8(p.status), uint8(IAIKernel.Status.Committing));
        address[] memory second = _committee(pid);
        assertTrue(second[0] != first[0]);
        assertTrue(gpu.nodeInfo(first[0]).jailed);
        _runAll(pid, ANSWER);
        assertEq(kernel.resultOf(pid), ANSWER);
    }

    function test_noMajority_escalatesThenRefundsAfterLastRound() public {
        uint256 pid = _submit(3);
        uint256 fee = _fee(_request(3));
        uint256 before = address(consumer).balance;
        for (uint256 round; round < 3; ++round) {
            address[] memory c = _committee(pid);
            _commit(pid, c[0], ANSWER);
            _commit(pid, c[1], WRONG);
            _commit(pid, c[2], abi.encode(uint8(9)));
            _reveal(pid, c[0], ANSWER);
            _reveal(pid, c[1], WRONG);
            _reveal(pid, c[2], abi.encode(uint8(9)));
            for (uint256 i; i < 3; ++i) {
                assertFalse(gpu.nodeInfo(c[i]).jailed); // nobody provably wrong
            }
        }
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Refunded));
        assertEq(address(consumer).balance, before + fee);
        assertEq(address(kernel).balance, 0);
    }

    function test_refund_creditedWhenRequesterRejectsEth() public {
        EthRejectingRequester rej = new EthRejectingRequester(kernel);
        scheduler.setTiming(60, 60, 1);
        IAIKernel.Request memory r = _request(1);
        r.callback = address(0);
        uint256 fee = _fee(r);
        vm.deal(address(this), fee);
        uint256 pid = rej.ask{value: fee}(r);
        vm.warp(block.timestamp + 61);
        vm.expectEmit(true, true, true, true, address(kernel));
        emit DecentralizedInference.RefundCredited(pid, address(rej), fee);
        kernel.settle(pid);
        assertEq(kernel.earningsOf(address(rej)).eth, fee);
        vm.expectRevert(DecentralizedInference.TransferFailed.selector);
        rej.withdrawFromKernel();
    }

    function test_escalation_refundsWhenPoolTooSmall() public {
        uint256 pid = _submit(5); // all five nodes
        vm.warp(block.timestamp + 61);
        kernel.settle(pid); // everyone silent and jailed: no committee left
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Refunded));
    }

    // ---------------------------------------------------------------- callback gas

    function test_settle_revert_InsufficientGasForCallback() public {
        uint256 pid = _submit(1);
        address[] memory c = _committee(pid);
        _commit(pid, c[0], ANSWER);
        vm.prank(c[0]);
        vm.expectPartialRevert(DecentralizedInference.InsufficientGasForCallback.selector);
        kernel.reveal{gas: 150_000}(pid, _salt(c[0], pid), ANSWER);
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Revealing));
        _reveal(pid, c[0], ANSWER);
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Settled));
    }

    // ---------------------------------------------------------------- withdraw

    function test_withdraw_paysEthAndMintsEai() public {
        uint256 pid = _submit(3);
        _runAll(pid, ANSWER);
        address n = _committee(pid)[0];
        DecentralizedInference.Earnings memory e = kernel.earningsOf(n);
        uint256 ethBefore = n.balance;
        uint256 eaiBefore = eai.balanceOf(n);
        vm.prank(n);
        kernel.withdraw();
        assertEq(n.balance, ethBefore + e.eth);
        assertEq(eai.balanceOf(n), eaiBefore + e.eai);
        vm.prank(n);
        vm.expectRevert(DecentralizedInference.NothingToWithdraw.selector);
        kernel.withdraw();
    }

    function test_withdrawProtocolFees() public {
        vm.expectRevert(DecentralizedInference.NothingToWithdraw.selector);
        kernel.withdrawProtocolFees();
        uint256 pid = _submit(3);
        _runAll(pid, ANSWER);
        (,, uint96 accrued) = kernel.globals();
        kernel.withdrawProtocolFees();
        assertEq(treasury.balance, accrued);
    }

    // ---------------------------------------------------------------- admin

    function test_setConfig_boundsAndAuth() public {
        (uint16 a, uint16 b, uint16 c_, uint16 d, uint32 e, uint32 f, uint32 g) = kernel.config();
        DecentralizedInference.Config memory cfg = DecentralizedInference.Config(a, b, c_, d, e, f, g);
        cfg.protocolFeeBps = 100;
        kernel.setConfig(cfg);
        (a,,,,,,) = kernel.config();
        assertEq(a, 100);
        cfg.firstShareBps = 4999;
        vm.expectRevert(DecentralizedInference.InvalidParameter.selector);
        kernel.setConfig(cfg);
        cfg.firstShareBps = 6000;
        cfg.protocolFeeBps = 2001;
        vm.expectRevert(DecentralizedInference.InvalidParameter.selector);
        kernel.setConfig(cfg);
        cfg.protocolFeeBps = 0;
        cfg.maxTokensLimit = 0;
        vm.expectRevert(DecentralizedInference.InvalidParameter.selector);
        kernel.setConfig(cfg);
        cfg.maxTokensLimit = 10;
        vm.prank(user);
        vm.expectRevert();
        kernel.setConfig(cfg);
    }

    function test_setTreasury() public {
        vm.expectRevert(DecentralizedInference.InvalidParameter.selector);
        kernel.setTreasury(address(0));
        kernel.setTreasury(user);
        assertEq(kernel.treasury(), user);
        vm.prank(user);
        vm.expectRevert();
        kernel.setTreasury(user);
    }

    function test_constructor_revert_InvalidParameter() public {
        vm.expectRevert(DecentralizedInference.InvalidParameter.selector);
        new DecentralizedInference(address(this), eai, models, scheduler, gpu, context, address(0), 1, 1);
        vm.expectRevert(DecentralizedInference.InvalidParameter.selector);
        new DecentralizedInference(address(this), eai, models, scheduler, gpu, context, treasury, 1, 0);
        uint256 tooMuch = eai.mintable() + 1;
        vm.expectRevert(DecentralizedInference.InvalidParameter.selector);
        new DecentralizedInference(address(this), eai, models, scheduler, gpu, context, treasury, tooMuch, 1);
    }

    function test_sortitionUsesPrevrandao() public {
        _addNodes(20);
        vm.prevrandao(bytes32(uint256(1)));
        uint256 a = _submit(3);
        vm.prevrandao(bytes32(uint256(2)));
        uint256 b = _submit(3);
        address[] memory ca = _committee(a);
        address[] memory cb = _committee(b);
        assertTrue(ca[0] != cb[0] || ca[1] != cb[1] || ca[2] != cb[2]);
    }

    receive() external payable {}
}
