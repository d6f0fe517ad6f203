// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAIKernel} from "../../src/interfaces/IAIKernel.sol";
import {Schema} from "../../src/lib/Schema.sol";
import {ContextManager} from "../../src/kernel/ContextManager.sol";
import {AIDAO} from "../../src/apps/AIDAO.sol";
import {AppBase} from "../../src/apps/AppBase.sol";
import {AppsBase} from "./AppsBase.sol";

contract AIDAOTest is AppsBase {
    AIDAO internal dao;
    bytes internal constant APPROVE = abi.encode(uint8(0));
    bytes internal constant REJECT = abi.encode(uint8(1));

    function setUp() public override {
        super.setUp();
        dao = new AIDAO(kernel, modelId, K);
    }

    function _propose(string memory title, string memory description)
        internal
        returns (uint256 id, uint256 pid)
    {
        uint256 fee = dao.proposalFee();
        vm.prank(alice);
        (id, pid) = dao.propose{value: fee}(title, description);
    }

    function test_happyPath_outcomesBecomeContext() public {
        (uint256 id, uint256 pid) = _propose(
            "Fund a Solidity linter", "Pay 2 ETH to maintain an open-source Solidity linter for a year."
        );
        IAIKernel.Request memory r = kernel.requestOf(pid);
        assertEq(r.topic, dao.TOPIC());
        assertEq(
            string(r.input),
            "Proposal #1: Fund a Solidity linter\nPay 2 ETH to maintain an open-source Solidity linter for a year.\nShould the DAO approve or reject this proposal?"
        );
        assertEq(string(r.extraContext), dao.CHARTER());
        string[] memory opts = new string[](2);
        opts[0] = "approve";
        opts[1] = "reject";
        assertEq(r.schema, Schema.choice(opts));

        bytes memory outcome = bytes("Proposal #1 (Fund a Solidity linter): approved");
        _prepare(pid, APPROVE);
        vm.expectEmit(address(context));
        emit ContextManager.ContextAppended(
            address(dao), dao.TOPIC(), 2, 2, 0, outcome, bytes32(0), _rootAfter(pid, outcome)
        );
        vm.expectEmit(address(dao));
        emit AIDAO.ProposalDecided(id, pid, true);
        _finish(pid, APPROVE);
        assertEq(uint8(dao.proposalOf(id).status), uint8(AIDAO.Status.Approved));

        // Proposal 2 sees proposal 1, its answer and its outcome.
        (uint256 id2, uint256 pid2) =
            _propose("Buy a yacht", "Spend the treasury on a yacht for the core team.");
        (, uint64 index,) = kernel.contextOf(pid2);
        assertEq(index, 3);
        _settle(pid2, REJECT);
        assertEq(uint8(dao.proposalOf(id2).status), uint8(AIDAO.Status.Rejected));
        assertEq(dao.outcomeText(id2, false), "Proposal #2 (Buy a yacht): rejected");
        (uint64 len,) = context.chainOf(address(dao), dao.TOPIC());
        assertEq(len, 6);
    }

    /// @dev The root after appending `outcome` to a chain that holds the prompt's Prompt and Result.
    function _rootAfter(uint256 pid, bytes memory outcome) internal view returns (bytes32) {
        bytes32 root;
        bytes memory input = kernel.requestOf(pid).input;
        root = keccak256(abi.encode(root, keccak256(abi.encode(uint8(0), pid, keccak256(input), bytes32(0)))));
        root =
            keccak256(abi.encode(root, keccak256(abi.encode(uint8(1), pid, keccak256(APPROVE), bytes32(0)))));
        return keccak256(
            abi.encode(root, keccak256(abi.encode(uint8(2), uint256(0), keccak256(outcome), bytes32(0))))
        );
    }

    function test_failed_thenRetried() public {
        (uint256 id, uint256 pid) = _propose("T", "D");
        _prepare(pid, ERROR_OUTPUT);
        vm.expectEmit(address(dao));
        emit AIDAO.ProposalFailed(id, pid, 3);
        _finish(pid, ERROR_OUTPUT);
        assertEq(uint8(dao.proposalOf(id).status), uint8(AIDAO.Status.Failed));
        uint256 fee = dao.proposalFee();
        vm.prank(alice);
        uint256 pid2 = dao.retry{value: fee}(id);
        _settle(pid2, REJECT);
        assertEq(uint8(dao.proposalOf(id).status), uint8(AIDAO.Status.Rejected));
        assertEq(dao.proposalOf(id).promptId, pid2);
    }

    function test_refund_failsProposal() public {
        uint256 before = alice.balance;
        (uint256 id, uint256 pid) = _propose("T", "D");
        _refund(pid);
        dao.reclaimRefund(pid);
        assertEq(alice.balance, before);
        assertEq(uint8(dao.proposalOf(id).status), uint8(AIDAO.Status.Failed));
    }

    function test_revert_propose() public {
        uint256 fee = dao.proposalFee();
        vm.expectRevert(abi.encodeWithSelector(AIDAO.TitleLength.selector, 0));
        dao.propose{value: fee}("", "d");
        vm.expectRevert(abi.encodeWithSelector(AIDAO.TitleLength.selector, 65));
        dao.propose{value: fee}(string(new bytes(65)), "d");
        vm.expectRevert(abi.encodeWithSelector(AIDAO.DescriptionLength.selector, 0));
        dao.propose{value: fee}("t", "");
        vm.expectRevert(abi.encodeWithSelector(AIDAO.DescriptionLength.selector, 1025));
        dao.propose{value: fee}("t", string(new bytes(1025)));
        vm.expectRevert(abi.encodeWithSelector(AppBase.InsufficientFee.selector, fee, 1));
        dao.propose{value: 1}("t", "d");
    }

    function test_revert_retry() public {
        uint256 fee = dao.proposalFee();
        vm.expectRevert(abi.encodeWithSelector(AIDAO.UnknownProposal.selector, 1));
        dao.retry{value: fee}(1);
        (uint256 id, uint256 pid) = _propose("T", "D");
        vm.expectRevert(abi.encodeWithSelector(AIDAO.NotFailed.selector, id, AIDAO.Status.Pending));
        dao.retry{value: fee}(id);
        _settle(pid, ERROR_OUTPUT);
        vm.expectRevert(abi.encodeWithSelector(AIDAO.NotProposer.selector, id, bob));
        vm.prank(bob);
        dao.retry{value: fee}(id);
        vm.expectRevert(abi.encodeWithSelector(AppBase.InsufficientFee.selector, fee, 0));
        vm.prank(alice);
        dao.retry(id);
    }

    /// @notice Any title and description within the limits make the documented prompt.
    function testFuzz_propose(bytes calldata title, bytes calldata description) public {
        vm.assume(title.length > 0 && title.length <= 64);
        vm.assume(description.length > 0 && description.length <= 1024);
        (uint256 id, uint256 pid) = _propose(string(title), string(description));
        assertEq(
            kernel.requestOf(pid).input,
            bytes.concat(
                "Proposal #1: ", title, "\n", description, "\nShould the DAO approve or reject this proposal?"
            )
        );
        assertEq(id, 1);
    }

    /// @notice The callback never reverts; only index 0 or 1 decides.
    function testFuzz_callbackAnyOutput(bytes calldata output, bool success) public {
        (uint256 id, uint256 pid) = _propose("T", "D");
        vm.prank(address(kernel));
        dao.onAIResult(pid, success, output);
        bool valid = success && output.length == 32 && uint256(bytes32(output)) < 2;
        AIDAO.Status s = dao.proposalOf(id).status;
        assertEq(valid, s == AIDAO.Status.Approved || s == AIDAO.Status.Rejected);
        assertEq(!valid, s == AIDAO.Status.Failed);
    }
}
