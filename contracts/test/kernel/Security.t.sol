// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAIKernel} from "../../src/interfaces/IAIKernel.sol";
import {DecentralizedInference} from "../../src/kernel/DecentralizedInference.sol";
import {KernelCore} from "../../src/kernel/KernelCore.sol";
import {PromptScheduler} from "../../src/kernel/PromptScheduler.sol";
import {KernelBase} from "./KernelBase.sol";
import {RecordingConsumer} from "./mocks/Consumers.sol";

/// @notice A requester contract that only wants prompts its own node serves: it submits, reads the
///         committee in the same transaction, and reverts when its node is not in it.
contract ProbingRequester {
    IAIKernel internal immutable kernel;
    address internal immutable mine;

    error NotMine();

    constructor(IAIKernel k, address node) {
        kernel = k;
        mine = node;
    }

    function ask(IAIKernel.Request memory r) external payable returns (uint256 pid) {
        pid = kernel.infer{value: msg.value}(r);
        address[] memory c = DecentralizedInference(address(kernel)).committeeOf(pid);
        for (uint256 i; i < c.length; ++i) {
            if (c[i] == mine) return pid;
        }
        revert NotMine();
    }

    receive() external payable {}
}

/// @notice The attacks a security review found against the previous protocol, each written as the
///         attacker would run it, now failing to profit.
contract SecurityTest is KernelBase {
    function setUp() public override {
        super.setUp();
        _addNodes(10);
    }

    // ------------------------------------------------------------ committee steering

    /// Steering by dust prompts (or by choosing the block): the committee depends on the hash of a
    /// block after the submission, which no transaction sender knows when it is sent. Inside the
    /// submission block the committee does not exist yet; then the same submission gets different
    /// committees under different seed-block hashes, whatever the attacker did before.
    function test_steering_committeeUnknowableAtSubmission() public {
        // The attacker bumps the prompt counter with dust prompts as much as it likes...
        for (uint256 i; i < 5; ++i) {
            _submit(1);
        }
        uint256 pid = _submit(3);
        // ...but in the submission block there is nothing to simulate.
        assertEq(kernel.committeeOf(pid).length, 0);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.SeedNotReady.selector, pid, block.number + 1));
        kernel.draw(pid);
        // The draw is a function of the seed block's hash: two possible futures, two committees.
        uint256 seedBlock = block.number + 1;
        vm.roll(seedBlock + 1);
        uint256 snap = vm.snapshotState();
        vm.setBlockhash(seedBlock, keccak256("future A"));
        address[] memory a = kernel.committeeOf(pid);
        vm.revertToState(snap);
        vm.setBlockhash(seedBlock, keccak256("future B"));
        address[] memory b = kernel.committeeOf(pid);
        assertEq(a.length, 3);
        assertTrue(keccak256(abi.encode(a)) != keccak256(abi.encode(b)), "the seed block decides");
    }

    /// A requester filtering its committee with a reverting probe: the committee is never known in
    /// the submission transaction, so the probe can only ever revert (and pays for nothing).
    function test_steering_revertingProbeLearnsNothing() public {
        ProbingRequester probe = new ProbingRequester(kernel, nodes[0]);
        IAIKernel.Request memory r = _request(1);
        r.callback = address(0);
        r.callbackGasLimit = 0;
        uint256 fee = _fee(r);
        vm.deal(address(this), 100 * fee);
        for (uint256 i; i < 20; ++i) {
            vm.prevrandao(bytes32(i));
            vm.expectRevert(ProbingRequester.NotMine.selector);
            probe.ask{value: fee}(r);
        }
    }

    /// Grinding the next committee when a round fails: the settler picks the block of the failure,
    /// but the escalation is drawn from the following block's hash, and pool changes made after that
    /// hash is known (pausing nodes, registering more) do not move the draw.
    function test_settleGrinding_escalationFixedBeforeAttackerCanReshapePool() public {
        uint256 pid = _submit(1);
        _committee(pid);
        vm.warp(block.timestamp + 61);
        kernel.settle(pid); // the attacker ends the round in the block of its choice
        assertEq(kernel.promptInfo(pid).round, 1);
        assertEq(kernel.committeeOf(pid).length, 0); // nothing to grind on yet
        (uint64 seedBlock,) = kernel.seedBlockOf(pid);
        assertEq(seedBlock, block.number + 1);
        vm.roll(seedBlock + 1);
        address[] memory preview = kernel.committeeOf(pid);
        // Now the attacker sees the escalation and reshapes the pool: its nodes outside the
        // committee pause to shift the others, and it registers fresh ones.
        for (uint256 i; i < nodes.length; ++i) {
            bool inCommittee;
            for (uint256 j; j < preview.length; ++j) {
                if (preview[j] == nodes[i]) inCommittee = true;
            }
            if (!inCommittee && !gpu.nodeInfo(nodes[i]).jailed) {
                vm.prank(nodes[i]);
                gpu.pause();
            }
        }
        _addNodes(5);
        assertEq(kernel.draw(pid), preview);
    }

    // ------------------------------------------------------------ reward farming

    /// Self-dealing for block rewards: a node owner pays dust fees for prompts its own node may
    /// serve. Block rewards are emitted by time to eligible stake, so the prompts change nothing
    /// but the fees it loses.
    function test_selfDealing_earnsNoBlockReward() public {
        address mine = nodes[0];
        uint256 snap = vm.snapshotState();
        vm.warp(block.timestamp + 1 days);
        uint256 honestOnly = gpu.pendingRewards(mine);
        vm.revertToState(snap);

        RecordingConsumer helper = new RecordingConsumer(kernel);
        vm.deal(address(helper), 10 ether);
        uint256 spent;
        for (uint256 i; i < 24; ++i) {
            IAIKernel.Request memory r = _request(1);
            r.maxTokens = 1;
            r.callback = address(helper);
            uint256 fee = _fee(r);
            uint256 pid = helper.ask(r, fee);
            spent += fee;
            _runAll(pid, ANSWER);
            vm.warp(block.timestamp + 1 hours);
        }
        assertEq(gpu.pendingRewards(mine), honestOnly, "prompts earned block rewards");
        // What came back to the owner's node (fees of the prompts it served, plus callback gas
        // when it settled) is less than what its helper paid.
        assertLt(kernel.earningsOf(mine), spent);
        assertGt(honestOnly, 0);
    }

    // ------------------------------------------------------------ unresolvable input

    /// A requester names an input nobody can resolve: every node answers the deterministic
    /// `InputUnavailable` error, the committee agrees, the requester pays, no node is slashed or
    /// jailed, and the pool stays whole.
    function test_unresolvableInput_requesterPaysNodesKeepStake() public {
        IAIKernel.Request memory r = _request(3);
        r.input = "";
        r.inputHash = sha256("a document that was never published");
        uint256 pid = consumer.ask(r, _fee(r));
        bytes memory unavailable = abi.encodeWithSelector(bytes4(keccak256("AIKernelError(uint8)")), uint8(6));
        address[] memory c = _committee(pid);
        _runAll(pid, unavailable);
        assertEq(uint8(kernel.statusOf(pid)), uint8(IAIKernel.Status.Settled));
        assertFalse(consumer.lastSuccess());
        assertEq(consumer.lastOutput(), unavailable);
        for (uint256 i; i < 3; ++i) {
            assertEq(gpu.slashableOf(c[i]), STAKE);
            assertFalse(gpu.nodeInfo(c[i]).jailed);
            assertGt(kernel.earningsOf(c[i]), 0);
        }
        assertEq(scheduler.poolSize(modelId), 10);
    }

    // ------------------------------------------------------------ early settle

    /// Ending a round early (too few commits for a decision) punishes only the members that did not
    /// commit: members that committed on time had no chance to reveal yet.
    function test_earlySettle_neverSlashesCommittedMembers() public {
        uint256 pid = _submit(5);
        address[] memory c = _committee(pid);
        _commit(pid, c[0], ANSWER);
        _commit(pid, c[1], ANSWER);
        vm.warp(block.timestamp + 61); // reveals are open, 59 s remain
        kernel.settle(pid); // 2 of 5 committed: no decision possible, the round ends now
        for (uint256 i; i < 2; ++i) {
            assertEq(gpu.slashableOf(c[i]), STAKE);
            assertFalse(gpu.nodeInfo(c[i]).jailed);
        }
        for (uint256 i = 2; i < 5; ++i) {
            assertEq(gpu.slashableOf(c[i]), STAKE - STAKE * 200 / 10_000);
            assertTrue(gpu.nodeInfo(c[i]).jailed);
        }
    }

    // ------------------------------------------------------------ guessing

    /// Guessing a two-option answer instead of running the model. Without the model a node does not
    /// know the trace, so even a right guess commits a round hash nobody else has: the committee
    /// disagrees and the guesser ends in the final minority. Staying silent after committing costs
    /// as much. Expected value of guessing: a slash every time; of computing: a fee share.
    function test_guessing_losesEvenWhenTheGuessIsRight() public {
        bytes memory yes = abi.encode(true);
        // The guess is the right output, but with a made-up trace.
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        address guesser = c[0];
        bytes32 guessedTrace = keccak256("no model was run");
        bytes32 rh = keccak256(abi.encode(pid, uint8(0), keccak256(abi.encode(keccak256(yes), guessedTrace))));
        bytes32 commitment =
            _tagged(pid, keccak256(abi.encode(pid, uint8(0), rh, _salt(guesser, pid), guesser)));
        vm.prank(guesser);
        kernel.commit(pid, commitment);
        _commit(pid, c[1], yes);
        _commit(pid, c[2], yes);
        vm.prank(guesser);
        kernel.reveal(pid, _salt(guesser, pid), rh, "", 0);
        _reveal(pid, c[1], yes);
        _reveal(pid, c[2], yes);
        assertEq(kernel.promptInfo(pid).round, 1, "a right guess still disagrees");
        _runAll(pid, yes);
        assertEq(kernel.resultOf(pid), yes);
        uint256 guessLoss = STAKE - gpu.slashableOf(guesser);
        assertEq(guessLoss, STAKE / 10);
        assertEq(kernel.earningsOf(guesser), 0);
        uint256 computed = kernel.earningsOf(c[1]);
        assertGt(computed, 0);

        // The silent alternative: commit a guess, see the others' reveals, never reveal.
        uint256 p2 = _submit(3);
        address[] memory d = _committee(p2);
        uint256 before = gpu.slashableOf(d[0]);
        bytes32 guess = _tagged(p2, keccak256(abi.encode(p2, uint8(0), rh, _salt(d[0], p2), d[0])));
        vm.prank(d[0]);
        kernel.commit(p2, guess);
        _commit(p2, d[1], yes);
        _commit(p2, d[2], yes);
        _reveal(p2, d[1], yes);
        _reveal(p2, d[2], yes);
        vm.warp(block.timestamp + 121);
        kernel.settle(p2);
        _publish(p2, yes);
        assertEq(before - gpu.slashableOf(d[0]), before / 10, "silence after a commit costs a wrong answer");
        // EV per prompt: computing earns `computed` wei; guessing loses 10% of the stake every time.
        // Guessing pays only if running the model costs more than a fee share plus that slash.
        assertGt(guessLoss, 0);
    }

    // ------------------------------------------------------------ cross-round copying

    /// After round 0 disagrees, its members' round hashes are public. A fresh escalation member
    /// that commits to one of them (instead of computing) commits to a hash that is not a round-1
    /// answer: it ends in the minority. Replaying a round-0 commitment cannot be opened either.
    function test_crossRoundCopy_failsAndIsSlashed() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        _commit(pid, c[0], ANSWER);
        _commit(pid, c[1], ANSWER);
        _commit(pid, c[2], WRONG);
        for (uint256 i; i < 3; ++i) {
            _revealHash(pid, c[i], i < 2 ? ANSWER : WRONG);
        }
        assertEq(kernel.promptInfo(pid).round, 1);
        bytes32 seen = _roundHash(pid, 0, ANSWER); // public in round 0's Revealed events
        address[] memory e = _committee(pid);
        address copier = e[0];
        bytes32 copied = _tagged(pid, keccak256(abi.encode(pid, uint8(1), seen, _salt(copier, pid), copier)));
        vm.prank(copier);
        kernel.commit(pid, copied);
        for (uint256 i = 1; i < e.length; ++i) {
            _commit(pid, e[i], ANSWER);
        }
        vm.prank(copier);
        kernel.reveal(pid, _salt(copier, pid), seen, "", 0);
        for (uint256 i = 1; i < e.length; ++i) {
            _reveal(pid, e[i], ANSWER);
        }
        assertEq(kernel.resultOf(pid), ANSWER);
        assertEq(kernel.earningsOf(copier), 0);
        assertEq(gpu.slashableOf(copier), STAKE - STAKE / 10);
        // The round-0 members that were right are paid like the escalation's.
        assertGt(kernel.earningsOf(c[0]), 0);
    }

    /// A commitment of one round (or of one prompt) never opens in another.
    function test_crossRoundCopy_commitmentBindsRound() public {
        uint256 pid = _submit(1);
        address[] memory c = _committee(pid);
        vm.warp(block.timestamp + 61);
        kernel.settle(pid); // round 0 failed silently
        address[] memory e = _committee(pid);
        bytes32 round0 = _commitment(pid, 0, ANSWER, e[0]);
        vm.prank(e[0]);
        kernel.commit(pid, round0);
        for (uint256 i = 1; i < e.length; ++i) {
            _commit(pid, e[i], ANSWER);
        }
        vm.prank(e[0]);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.InvalidReveal.selector, pid, e[0]));
        kernel.reveal(pid, _salt(e[0], pid), _roundHash(pid, 0, ANSWER), "", 0);
        c;
    }

    // ------------------------------------------------------------ callbacks

    /// Naming somebody else's contract as the callback is refused: a consumer only ever receives
    /// results of prompts it submitted itself.
    function test_foreignCallback_refused() public {
        IAIKernel.Request memory r = _request(1);
        r.callback = address(consumer);
        uint256 fee = _fee(r);
        vm.prank(user);
        vm.expectRevert(
            abi.encodeWithSelector(KernelCore.CallbackNotRequester.selector, address(consumer), user)
        );
        kernel.infer{value: fee}(r);
    }

    /// The callback's gas is paid by the requester and credited to whoever settles: the last
    /// revealer of a gas-burning callback is reimbursed at least its cost at the quoted price.
    function test_callbackGas_pricedAndReimbursed() public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        for (uint256 i; i < 3; ++i) {
            _commit(pid, c[i], ANSWER);
        }
        _revealHash(pid, c[0], ANSWER);
        _revealHash(pid, c[1], ANSWER);
        uint256 before = kernel.earningsOf(c[2]);
        _reveal(pid, c[2], ANSWER);
        uint256 callbackGas = (200_000 + 10_000);
        assertEq(kernel.earningsOf(c[2]) - before, uint256(FEE_PER_TOKEN) * 16 + callbackGas * 1 gwei);
    }

    // ------------------------------------------------------------ settlement cost

    /// Colluders cannot make a prompt unsettleable by being many: with 15-node committees, 7 liars
    /// in round 0 and 7 more in the escalation, the settling reveal slashes 14 nodes and pays 16
    /// in a few million gas (slashes go to the treasury, so the cost is linear, not losers x winners).
    function test_manyLosers_settlementStaysBounded() public {
        _addNodes(30);
        IAIKernel.Request memory r = _request(15);
        uint256 pid = consumer.ask(r, _fee(r));
        address[] memory c = _committee(pid);
        for (uint256 i; i < 15; ++i) {
            _commit(pid, c[i], i < 7 ? WRONG : ANSWER);
        }
        for (uint256 i; i < 15; ++i) {
            _revealHash(pid, c[i], i < 7 ? WRONG : ANSWER);
        }
        assertEq(kernel.promptInfo(pid).round, 1);
        address[] memory e = _committee(pid);
        assertEq(e.length, 15);
        for (uint256 i; i < 15; ++i) {
            _commit(pid, e[i], i < 7 ? WRONG : ANSWER);
        }
        for (uint256 i; i + 1 < 15; ++i) {
            _revealHash(pid, e[i], i < 7 ? WRONG : ANSWER);
        }
        vm.prank(e[14]);
        uint256 g = gasleft();
        kernel.reveal(pid, _salt(e[14], pid), _roundHash(pid, 1, ANSWER), ANSWER, _trace(ANSWER));
        uint256 used = g - gasleft();
        assertEq(kernel.resultOf(pid), ANSWER);
        assertLt(used, 3_000_000, "settlement gas");
        for (uint256 i; i < 7; ++i) {
            assertTrue(gpu.nodeInfo(c[i]).jailed);
            assertTrue(gpu.nodeInfo(e[i]).jailed);
        }
    }

    // ------------------------------------------------------------ reorg replay

    /// A reorg puts another request under an existing prompt id, and a commit transaction a node
    /// sent for the old request is mined again on the new chain (orphaned transactions go back to
    /// the mempool). Its request tag, the old request blob's address, no longer matches: the commit
    /// reverts instead of binding the node to an answer for a request it never computed, and the
    /// node can still commit for the new request. With seven of ten nodes drawn each time, some
    /// node sits in both committees.
    function test_reorgReplay_orphanedCommitFailsForAnotherRequest() public {
        uint256 fork = vm.snapshotState();
        uint256 pid = _submit(7);
        address[] memory a = _committee(pid);
        address oldBlob = kernel.promptInfo(pid).blob;
        bytes32[] memory signed = new bytes32[](a.length);
        for (uint256 i; i < a.length; ++i) {
            signed[i] = _commitment(pid, 0, ANSWER, a[i]);
        }

        vm.revertToState(fork);
        IAIKernel.Request memory r = _request(7);
        r.input = bytes("What is 3+3? Answer with one digit.");
        assertEq(consumer.ask(r, _fee(r)), pid);
        assertTrue(kernel.promptInfo(pid).blob != oldBlob);
        address[] memory b = _committee(pid);
        address both;
        bytes32 replayed;
        for (uint256 i; i < a.length && both == address(0); ++i) {
            for (uint256 j; j < b.length; ++j) {
                if (a[i] == b[j]) (both, replayed) = (a[i], signed[i]);
            }
        }
        assertTrue(both != address(0));
        vm.prank(both);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.RequestReplaced.selector, pid));
        kernel.commit(pid, replayed);
        _commit(pid, both, ANSWER);
        (uint8 state,,) = kernel.memberState(pid, 0, both);
        assertEq(state, 1);
    }

    /// The same request under the same id (a reorg that re-mines it unchanged) keeps its blob and
    /// its tag: the orphaned commit is still a commitment to the right request's answer.
    function test_reorgReplay_sameRequestKeepsItsTag() public {
        uint256 fork = vm.snapshotState();
        uint256 pid = _submit(7);
        address[] memory a = _committee(pid);
        address oldBlob = kernel.promptInfo(pid).blob;
        bytes32 signed = _commitment(pid, 0, ANSWER, a[0]);

        vm.revertToState(fork);
        assertEq(_submit(7), pid);
        assertEq(kernel.promptInfo(pid).blob, oldBlob);
        _ready(pid);
        vm.prank(a[0]);
        kernel.commit(pid, signed);
    }

    /// Any other tag is refused, whatever the rest of the commitment.
    function testFuzz_commit_wrongTagReverts(bytes32 h, uint32 tag) public {
        uint256 pid = _submit(3);
        address[] memory c = _committee(pid);
        vm.assume(tag != uint32(uint160(kernel.promptInfo(pid).blob)));
        bytes32 commitment = bytes32((uint256(h) >> 32) << 32 | tag);
        vm.assume(commitment != bytes32(0));
        vm.prank(c[0]);
        vm.expectRevert(abi.encodeWithSelector(KernelCore.RequestReplaced.selector, pid));
        kernel.commit(pid, commitment);
    }
}
