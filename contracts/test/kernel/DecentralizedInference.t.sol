// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "forge-std/Vm.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IAIKernel} from "../../src/interfaces/IAIKernel.sol";
import {DecentralizedInference} from "../../src/kernel/DecentralizedInference.sol";
import {KernelCore} from "../../src/kernel/KernelCore.sol";
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

    /// @dev A request sent by `user` itself: its callback, if any, must be the requester.
    function _asUser(IAIKernel.Request memory r) internal view returns (IAIKernel.Request memory) {
        if (r.callback != address(0)) r.callback = user;
        return r;
    }

    function _infer(IAIKernel.Request memory r) internal returns (uint256) {
        r = _asUser(r);
        uint256 fee = _fee(r);
        vm.prank(user);
        return kernel.infer{value: fee}(r);
    }

    function _expectInferRevert(IAIKernel.Request memory r, bytes memory err) internal {
        r = _asUser(r);
        vm.deal(user, 1000 ether);
        vm.prank(user);
        vm.expectRevert(err);
        kernel.infer{value: 1 ether}(r);
    }

    // ---------------------------------------------------------------- quote / infer

    function test_quote_isNodeFeePlusProtocolFeePlusCallbackGas() public {
        uint256 nodeFee = uint256(FEE_PER_TOKEN) * 16 * 3;
        assertEq(kernel.quote(modelId, 16, 3, 0), nodeFee + nodeFee * 500 / 10_000);
        // The callback's gas (plus the call overhead) at the 1 gwei floor...
        assertEq(kernel.quote(modelId, 16, 3, 200_000), nodeFee + nodeFee * 500 / 10_000 + 210_000 gwei);
        // ... or at twice the base fee when that is higher.
        vm.fee(5 gwei);
        assertEq(kernel.quote(modelId, 16, 3, 200_000), nodeFee + nodeFee * 500 / 10_000 + 210_000 * 10 gwei);
    }

    function test_infer_recordsPromptAndSchedulesDraw() public {
        IAIKernel.Request memory r = _asUser(_request(3));
        uint256 fee = _fee(r);
        vm.expectEmit(true, true, true, true, address(kernel));
        emit IAIKernel.PromptSubmitted(1, user, modelId, r.topic, fee);
        vm.expectEmit(true, true, true, true, address(kernel));
        emit KernelCore.DrawScheduled(
            1, 0, uint64(block.number + 1), uint32(block.timestamp + 60), uint32(block.timestamp + 120)
        );
        vm.prank(user);
        uint256 pid = kernel.infer{value: fee}(r);
        assertEq(pid, 1);
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Committing));
        // No committee exists until a later block's hash does.
        assertEq(kernel.committeeOf(pid).length, 0);
        assertEq(_committee(pid).length, 3);
        (address requester,,) = kernel.contextOf(pid);
        assertEq(requester, user);
        KernelCore.Prompt memory p = kernel.promptInfo(pid);
        assertEq(p.commitDeadline, block.timestamp + 60);
        assertEq(p.revealDeadline, block.timestamp + 120);
        assertEq(address(kernel).balance, fee);
    }

    function test_infer_refundsExcess() public {
        IAIKernel.Request memory r = _asUser(_request(3));
        uint256 fee = _fee(r);
        uint256 before = user.balance;
        vm.prank(user);
        kernel.infer{value: fee + 1 ether}(r);
        assertEq(user.balance, before - fee);
    }

    function test_infer_revertsWhenExcessRefundFails() public {
        EthRejectingRequester rej = new EthRejectingRequester(kernel);
        IAIKernel.Request memory r = _request(1);
        r.callback = address(0);
        r.callbackGasLimit = 0;
        uint256 fee = _fee(r);
        vm.expectRevert(KernelCore.TransferFailed.selector);
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
                r, abi.encodeWithSelector(ModelFileSystem.InvalidCommitteeSize.selector, uint256(bad[i]))
            );
        }
    }

    function test_infer_revert_InvalidMaxTokens() public {
        IAIKernel.Request memory r = _request(1);
        r.maxTokens = 0;
        _expectInferRevert(r, abi.encodeWithSelector(ModelFileSystem.InvalidMaxTokens.selector, 0, 4096));
        r.maxTokens = 4097;
        _expectInferRevert(r, abi.encodeWithSelector(ModelFileSystem.InvalidMaxTokens.selector, 4097, 4096));
    }

    function test_infer_revert_InvalidInput() public {
        IAIKernel.Request memory r = _request(1);
        r.input = "";
        _expectInferRevert(r, abi.encodeWithSelector(ModelFileSystem.InvalidInput.selector));
        r.input = "x";
        r.inputHash = bytes32(uint256(1));
        _expectInferRevert(r, abi.encodeWithSelector(ModelFileSystem.InvalidInput.selector));
    }

    function test_infer_revert_InputTooLarge() public {
        IAIKernel.Request memory r = _request(1);
        r.input = new bytes(8193);
        _expectInferRevert(r, abi.encodeWithSelector(ModelFileSystem.InputTooLarge.selector, 8193, 8192));
        r.input = "x";
        r.extraContext = new bytes(8193);
        _expectInferRevert(r, abi.encodeWithSelector(ModelFileSystem.InputTooLarge.selector, 8193, 8192));
        r.extraContext = "";
        r.schema = new bytes(1025);
        _expectInferRevert(r, abi.encodeWithSelector(ModelFileSystem.InputTooLarge.selector, 1025, 1024));
    }

    function test_infer_revert_InvalidSchema() public {
        IAIKernel.Request memory r = _request(1);
        r.schema = hex"ffffffff";
        assertFalse(Schema.isValid(r.schema));
        assertEq(_request(1).schema, Schema.integer(0, 9)); // the schema every other test uses
        _expectInferRevert(r, abi.encodeWithSelector(ModelFileSystem.InvalidSchema.selector));
    }

    function test_infer_revert_CallbackGasTooHigh() public {
        IAIKernel.Request memory r = _request(1);
        r.callbackGasLimit = 1_000_001;
        _expectInferRevert(
            r, abi.encodeWithSelector(KernelCore.CallbackGasTooHigh.selector, 1_000_001, 1_000_000)
        );
        r.callback = address(0); // no callback: the limit is ignored
        _infer(r);
    }

    function test_infer_revert_FeeTooLow() public {
        IAIKernel.Request memory r = _asUser(_request(3));
        uint256 fee = _fee(r);
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.FeeTooLow.selector, fee, fee - 1));
        kernel.infer{value: fee - 1}(r);
    }

    function test_infer_revert_FeeTooHigh() public {
        IAIKernel.Request memory r = _asUser(_request(1));
        models.setFee(modelId, uint128(uint256(type(uint96).max) / 16));
        uint256 fee = _fee(r);
        vm.deal(user, fee);
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.FeeTooHigh.selector, fee));
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
        (, uint64 idx, bytes32 root) = kernel.contextOf(p1);
        assertEq(idx, 0);
        assertEq(root, bytes32(0));
        _runAll(p1, ANSWER);
        uint256 p2 = _submit(3);
        (, idx, root) = kernel.contextOf(p2);
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
        bytes32 cm = _commitment(pid, 0, ANSWER, c[1]);
        vm.expectEmit(true, true, true, true, address(kernel));
        emit KernelCore.Committed(pid, 0, c[1], cm);
        vm.prank(c[1]);
        kernel.commit(pid, cm);
        (uint8 state, uint8 order, bytes28 prefix) = kernel.memberState(pid, 0, c[1]);
        assertEq(state, 1);
        assertEq(order, 1);
        assertEq(prefix, bytes28(cm));
        _commit(pid, c[0], ANSWER);
        _commit(pid, c[2], ANSWER);
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Revealing));
    }

    function test_commit_revert_UnknownPrompt() public {
        vm.expectRevert(abi.encodeWithSelector(KernelCore.UnknownPrompt.selector, 7));
        kernel.commit(7, bytes32(uint256(1)));
    }

    function test_commit_revert_CommitClosed() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        vm.warp(block.timestamp + 61);
        vm.prank(c[0]);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.CommitClosed.selector, pid));
        kernel.commit(pid, bytes32(uint256(1)));
    }

    function test_commit_revert_ZeroCommitment() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        vm.prank(c[0]);
        vm.expectRevert(KernelCore.ZeroCommitment.selector);
        kernel.commit(pid, bytes32(0));
    }

    function test_commit_revert_NotInCommittee() public {
        uint256 pid = _submit(3);
        _ready(pid);
        address outsider = makeAddr("outsider");
        vm.prank(outsider);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.NotInCommittee.selector, pid, outsider));
        kernel.commit(pid, bytes32(uint256(1)));
    }

    function test_commit_revert_AlreadyCommitted() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        _commit(pid, c[0], ANSWER);
        vm.prank(c[0]);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.AlreadyCommitted.selector, pid, c[0]));
        kernel.commit(pid, bytes32(uint256(1)));
    }

    function test_commit_revert_SeedNotReady() public {
        uint256 pid = _submit(3);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.SeedNotReady.selector, pid, block.number + 1));
        kernel.commit(pid, bytes32(uint256(1)));
        vm.roll(block.number + 1); // the seed block itself: its hash is not readable yet
        vm.expectRevert(abi.encodeWithSelector(KernelCore.SeedNotReady.selector, pid, block.number));
        kernel.draw(pid);
    }

    function testFuzz_commit_onlyCommitteeMembers(address who, bytes32 cm) public {
        vm.assume(cm != bytes32(0));
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        bool member = who == c[0] || who == c[1] || who == c[2];
        cm = _tagged(pid, cm);
        vm.assume(cm != bytes32(0));
        vm.prank(who);
        if (!member) {
            vm.expectRevert(abi.encodeWithSelector(KernelCore.NotInCommittee.selector, pid, who));
        }
        kernel.commit(pid, cm);
    }

    // ---------------------------------------------------------------- reveal

    function test_reveal_revert_RevealClosedBeforeCommitDeadline() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        _commit(pid, c[0], ANSWER);
        vm.prank(c[0]);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.RevealClosed.selector, pid));
        kernel.reveal(pid, _salt(c[0], pid), _roundHash(pid, 0, ANSWER), "", 0);
    }

    function test_reveal_revert_RevealClosedAfterDeadline() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        _commit(pid, c[0], ANSWER);
        vm.warp(block.timestamp + 121);
        vm.prank(c[0]);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.RevealClosed.selector, pid));
        kernel.reveal(pid, _salt(c[0], pid), _roundHash(pid, 0, ANSWER), "", 0);
    }

    function test_reveal_revert_UnknownPrompt() public {
        vm.expectRevert(abi.encodeWithSelector(KernelCore.UnknownPrompt.selector, 9));
        kernel.reveal(9, bytes32(0), bytes32(0), ANSWER, 0);
    }

    function test_reveal_revert_NotCommittedAndAlreadyRevealed() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        _commit(pid, c[0], ANSWER);
        _commit(pid, c[1], ANSWER);
        vm.warp(block.timestamp + 61);
        bytes32 rh = _roundHash(pid, 0, ANSWER);
        vm.prank(c[2]);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.NotCommitted.selector, pid, c[2]));
        kernel.reveal(pid, _salt(c[2], pid), rh, "", 0);
        _reveal(pid, c[0], ANSWER);
        vm.prank(c[0]);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.AlreadyRevealed.selector, pid, c[0]));
        kernel.reveal(pid, _salt(c[0], pid), rh, "", 0);
    }

    function test_reveal_revert_InvalidReveal() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        for (uint256 i; i < 3; ++i) {
            _commit(pid, c[i], ANSWER);
        }
        vm.prank(c[0]);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.InvalidReveal.selector, pid, c[0]));
        kernel.reveal(pid, _salt(c[0], pid), _roundHash(pid, 0, WRONG), WRONG, _trace(WRONG));
        vm.prank(c[0]);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.InvalidReveal.selector, pid, c[0]));
        kernel.reveal(pid, bytes32(uint256(5)), _roundHash(pid, 0, ANSWER), "", 0);
        // The round hash of another round (or prompt) does not open this round's commitment.
        vm.prank(c[0]);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.InvalidReveal.selector, pid, c[0]));
        kernel.reveal(pid, _salt(c[0], pid), _roundHash(pid, 1, ANSWER), "", 0);
    }

    function test_reveal_revert_OutputMismatch() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        for (uint256 i; i < 3; ++i) {
            _commit(pid, c[i], ANSWER);
        }
        vm.prank(c[0]);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.OutputMismatch.selector, pid));
        kernel.reveal(pid, _salt(c[0], pid), _roundHash(pid, 0, ANSWER), WRONG, _trace(ANSWER));
        // The right output with another trace (a node that did not run the model) is refused too.
        vm.prank(c[0]);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.OutputMismatch.selector, pid));
        kernel.reveal(pid, _salt(c[0], pid), _roundHash(pid, 0, ANSWER), ANSWER, bytes32(uint256(1)));
    }

    function test_reveal_revert_OutputTooLarge() public {
        uint256 pid = _submit(1);
        address[] memory c = _committee(pid);
        _commit(pid, c[0], ANSWER);
        vm.prank(c[0]);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.OutputTooLarge.selector, 8193));
        kernel.reveal(pid, bytes32(0), bytes32(0), new bytes(8193), 0);
    }

    function testFuzz_reveal_settlesAnyOutput(bytes calldata output, uint8 kRaw) public {
        vm.assume(output.length > 0 && output.length <= 4096); // no output is ever empty
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

    function test_settle_splitsFeeEquallyAndPaysTheSettlerTheCallbackGas() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        _commit(pid, c[2], ANSWER); // earliest committer: no bonus for speed (it would reward guessing)
        _commit(pid, c[0], ANSWER);
        _commit(pid, c[1], ANSWER);
        _revealHash(pid, c[0], ANSWER);
        _revealHash(pid, c[2], ANSWER);
        _reveal(pid, c[1], ANSWER); // the last reveal carries the bytes and settles
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Settled));
        uint256 nodeFee = uint256(FEE_PER_TOKEN) * 16 * 3;
        uint256 callbackFee = (200_000 + 10_000) * 1 gwei;
        assertEq(kernel.earningsOf(c[0]), nodeFee / 3);
        assertEq(kernel.earningsOf(c[2]), nodeFee / 3);
        assertEq(kernel.earningsOf(c[1]), nodeFee / 3 + callbackFee);
        assertEq(kernel.earningsOf(treasury), nodeFee * 500 / 10_000);
    }

    function test_settle_withoutBytesAwaitsPublication() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        for (uint256 i; i < 3; ++i) {
            _commit(pid, c[i], ANSWER);
        }
        for (uint256 i; i < 3; ++i) {
            _revealHash(pid, c[i], ANSWER);
        }
        KernelCore.Prompt memory p = kernel.promptInfo(pid);
        assertEq(uint8(p.status), uint8(IAIKernel.Status.Publishing));
        // Bytes that are not the decided output are refused.
        vm.expectRevert(abi.encodeWithSelector(KernelCore.NotAwaited.selector, pid));
        _publish(pid, WRONG);
        address anyone = makeAddr("anyone");
        vm.prank(anyone);
        _publish(pid, ANSWER);
        assertEq(kernel.resultOf(pid), ANSWER);
        assertEq(consumer.calls(), 1);
        assertEq(kernel.earningsOf(anyone), (200_000 + 10_000) * 1 gwei); // the settler's gas
        vm.expectRevert(abi.encodeWithSelector(KernelCore.NotAwaited.selector, pid));
        _publish(pid, ANSWER);
    }

    function test_settle_unpublishedOutputPunishesItsHoldersAndEscalates() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        for (uint256 i; i < 3; ++i) {
            _commit(pid, c[i], ANSWER);
        }
        for (uint256 i; i < 3; ++i) {
            _revealHash(pid, c[i], ANSWER);
        }
        uint256 deadline = kernel.promptInfo(pid).revealDeadline;
        vm.warp(deadline);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.SettlementNotDue.selector, pid));
        kernel.settle(pid);
        vm.warp(deadline + 1);
        kernel.settle(pid);
        assertEq(kernel.promptInfo(pid).round, 1);
        for (uint256 i; i < 3; ++i) {
            assertTrue(gpu.nodeInfo(c[i]).jailed);
            assertEq(gpu.slashableOf(c[i]), STAKE - STAKE / 10);
            (uint8 state,,) = kernel.memberState(pid, 0, c[i]);
            assertEq(state, 3); // withheld: not judged again
        }
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
        vm.expectRevert(abi.encodeWithSelector(KernelCore.SettlementNotDue.selector, pid));
        kernel.settle(pid);
        address[] memory c = _committee(pid);
        _commit(pid, c[0], ANSWER);
        _commit(pid, c[1], ANSWER);
        vm.warp(block.timestamp + 61); // two commits: a majority is still possible
        vm.expectRevert(abi.encodeWithSelector(KernelCore.SettlementNotDue.selector, pid));
        kernel.settle(pid);
    }

    function test_settle_revert_UnknownAndAlreadyFinal() public {
        vm.expectRevert(abi.encodeWithSelector(KernelCore.UnknownPrompt.selector, 3));
        kernel.settle(3);
        uint256 pid = _submit(1);
        _runAll(pid, ANSWER);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.AlreadyFinal.selector, pid));
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
        kernel.settle(pid); // two agreeing reveals decide round 0; the bytes are then awaited
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Publishing));
        _publish(pid, ANSWER);
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Settled));
        assertEq(kernel.resultOf(pid), ANSWER);
        assertEq(consumer.calls(), 1);
        // Committed and stayed silent: as costly as a wrong answer.
        assertTrue(gpu.nodeInfo(c[2]).jailed);
        assertEq(gpu.slashableOf(c[2]), STAKE - STAKE / 10);
    }

    function test_resultOf_revert_NotSettled() public {
        uint256 pid = _submit(3);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.NotSettled.selector, pid));
        kernel.resultOf(pid);
    }

    function test_views_revertForUnknownPrompt() public {
        vm.expectRevert(abi.encodeWithSelector(KernelCore.UnknownPrompt.selector, 5));
        kernel.requestOf(5);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.UnknownPrompt.selector, 5));
        kernel.committeeOf(5);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.UnknownPrompt.selector, 5));
        kernel.contextOf(5);
    }

    // ---------------------------------------------------------------- escalation and refund

    function test_tooFewCommits_escalatesToLargerFreshCommittee() public {
        uint256 pid = _submit(1);
        address[] memory first = _committee(pid);
        vm.warp(block.timestamp + 61);
        kernel.settle(pid);
        KernelCore.Prompt memory p = kernel.promptInfo(pid);
        assertEq(p.round, 1);
        assertEq(uint8(p.status), uint8(IAIKernel.Status.Committing));
        address[] memory second = _committee(pid);
        assertEq(second.length, 3); // 2k + 1
        for (uint256 i; i < 3; ++i) {
            assertTrue(second[i] != first[0]);
        }
        assertTrue(gpu.nodeInfo(first[0]).jailed);
        assertEq(gpu.slashableOf(first[0]), STAKE - STAKE * 200 / 10_000); // silent: no commit
        _runAll(pid, ANSWER);
        assertEq(kernel.resultOf(pid), ANSWER);
    }

    function test_noDecision_escalatesThenRefundsAfterLastRound() public {
        uint256 pid = _submit(3);
        uint256 fee = _fee(_request(3));
        uint256 before = address(consumer).balance;
        for (uint256 round; round < 3; ++round) {
            address[] memory c = _committee(pid);
            for (uint256 i; i < c.length; ++i) {
                _commit(pid, c[i], abi.encode(uint8(10 + i)));
            }
            for (uint256 i; i < c.length; ++i) {
                _reveal(pid, c[i], abi.encode(uint8(10 + i)));
            }
            for (uint256 i; i < c.length; ++i) {
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
        r.callbackGasLimit = 0;
        uint256 fee = _fee(r);
        vm.deal(address(this), fee);
        uint256 pid = rej.ask{value: fee}(r);
        _ready(pid);
        vm.warp(block.timestamp + 61);
        vm.expectEmit(true, true, true, true, address(kernel));
        emit KernelCore.RefundCredited(pid, address(rej), fee);
        kernel.settle(pid);
        assertEq(kernel.earningsOf(address(rej)), fee);
        vm.expectRevert(KernelCore.TransferFailed.selector);
        rej.withdrawFromKernel();
    }

    function test_escalation_refundsWhenPoolTooSmall() public {
        uint256 pid = _submit(5); // all five nodes
        _ready(pid);
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
        vm.expectPartialRevert(KernelCore.InsufficientGasForCallback.selector);
        kernel.reveal{gas: 150_000}(pid, _salt(c[0], pid), _roundHash(pid, 0, ANSWER), ANSWER, _trace(ANSWER));
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Revealing));
        _reveal(pid, c[0], ANSWER);
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Settled));
    }

    // ---------------------------------------------------------------- withdraw

    function test_withdraw_paysEth() public {
        uint256 pid = _submit(3);
        _runAll(pid, ANSWER);
        address n = _committee(pid)[0];
        uint256 earned = kernel.earningsOf(n);
        assertGt(earned, 0);
        uint256 ethBefore = n.balance;
        vm.prank(n);
        kernel.withdraw();
        assertEq(n.balance, ethBefore + earned);
        vm.prank(n);
        vm.expectRevert(KernelCore.NothingToWithdraw.selector);
        kernel.withdraw();
    }

    function test_treasuryWithdrawsProtocolFees() public {
        vm.prank(treasury);
        vm.expectRevert(KernelCore.NothingToWithdraw.selector);
        kernel.withdraw();
        uint256 pid = _submit(3);
        _runAll(pid, ANSWER);
        uint256 accrued = kernel.earningsOf(treasury);
        assertEq(accrued, uint256(FEE_PER_TOKEN) * 16 * 3 * 500 / 10_000);
        vm.prank(treasury);
        kernel.withdraw();
        assertEq(treasury.balance, accrued);
    }

    // ---------------------------------------------------------------- admin

    function _config() internal view returns (KernelCore.Config memory cfg) {
        (uint16 a, uint16 b, uint16 c_, uint32 d, uint32 e, uint32 f, uint64 g) = kernel.config();
        cfg = KernelCore.Config(a, b, c_, d, e, f, g);
    }

    function test_setConfig_boundsAndAuth() public {
        KernelCore.Config memory cfg = _config();
        cfg.protocolFeeBps = 100;
        kernel.setConfig(cfg);
        assertEq(_config().protocolFeeBps, 100);
        cfg.protocolFeeBps = 2001;
        vm.expectRevert(KernelCore.InvalidParameter.selector);
        kernel.setConfig(cfg);
        cfg.protocolFeeBps = 0;
        // Silence after a commit may never cost less than a wrong answer.
        cfg.silentSlashBps = cfg.minoritySlashBps + 1;
        vm.expectRevert(KernelCore.InvalidParameter.selector);
        kernel.setConfig(cfg);
        cfg.silentSlashBps = 200;
        cfg.maxTokensLimit = 0;
        vm.expectRevert(KernelCore.InvalidParameter.selector);
        kernel.setConfig(cfg);
        cfg.maxTokensLimit = 10;
        cfg.callbackGasPrice = 0;
        vm.expectRevert(KernelCore.InvalidParameter.selector);
        kernel.setConfig(cfg);
        cfg.callbackGasPrice = 1;
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, user));
        kernel.setConfig(cfg);
    }

    function test_setTreasury() public {
        vm.expectRevert(KernelCore.InvalidParameter.selector);
        kernel.setTreasury(address(0));
        kernel.setTreasury(user);
        assertEq(kernel.treasury(), user);
        vm.prank(user);
        vm.expectRevert();
        kernel.setTreasury(user);
    }

    function test_constructor_revert_InvalidParameter() public {
        vm.expectRevert(KernelCore.InvalidParameter.selector);
        new DecentralizedInference(address(this), models, scheduler, gpu, context, address(0));
    }

    receive() external payable {}
}
