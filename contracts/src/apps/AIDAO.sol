// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {IAIKernel} from "../interfaces/IAIKernel.sol";
import {Schema} from "../lib/Schema.sol";
import {AppBase} from "./AppBase.sol";

/// @title AIDAO
/// @notice A DAO whose proposals the aikernel approves or rejects. Anyone submits a proposal and pays
///         for its decision; the kernel answers CHOICE ["approve", "reject"] with the DAO's history
///         as context: every earlier proposal (Prompt entry), its answer (Result entry) and its
///         recorded outcome (Feed entry `"Proposal #N (title): approved|rejected"`, appended by the
///         callback) sit on the DAO's topic (TOPIC) before the new proposal.
/// @dev A proposal whose request fails (kernel error, malformed value or refund) becomes Failed and
///      its proposer may `retry` it.
contract AIDAO is AppBase {
    using Strings for uint256;

    /*//////////////////////////////////////////////////////////////
                               CONSTANTS
    //////////////////////////////////////////////////////////////*/

    /// @notice The DAO's context topic.
    bytes32 public constant TOPIC = keccak256("aikernel.apps.AIDAO.proposals");
    /// @notice Longest title, in bytes.
    uint256 public constant MAX_TITLE_BYTES = 64;
    /// @notice Longest description, in bytes.
    uint256 public constant MAX_DESCRIPTION_BYTES = 1024;
    /// @notice maxTokens of every request (`approve` / `reject`).
    uint32 public constant MAX_TOKENS = 8;
    /// @notice Gas the kernel forwards to `onAIResult` (covers the outcome's Feed entry).
    uint32 public constant CALLBACK_GAS = 150_000;
    /// @notice The DAO's charter, the extra context of every request.
    string public constant CHARTER =
        "You decide for a DAO that funds open-source developer tools. Approve proposals that are concrete, cheap and useful to developers; reject vague, expensive or harmful ones.";

    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    /// @notice Lifecycle of a proposal.
    enum Status {
        None,
        Pending,
        Approved,
        Rejected,
        Failed
    }

    /// @notice A proposal and the latest prompt deciding it.
    struct Proposal {
        address proposer;
        Status status;
        uint256 promptId;
        string title;
        string description;
    }

    /*//////////////////////////////////////////////////////////////
                                 STATE
    //////////////////////////////////////////////////////////////*/

    /// @notice Number of proposals (ids are 1..proposalCount).
    uint256 public proposalCount;
    mapping(uint256 => Proposal) internal _proposals;
    /// @notice The proposal a prompt decides.
    mapping(uint256 promptId => uint256 proposalId) public proposalOfPrompt;

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice A proposal was submitted (or retried) and sent to the kernel.
    event ProposalSubmitted(
        uint256 indexed proposalId,
        uint256 indexed promptId,
        address indexed proposer,
        string title,
        uint256 fee
    );
    /// @notice The kernel decided a proposal.
    event ProposalDecided(uint256 indexed proposalId, uint256 indexed promptId, bool approved);
    /// @notice A decision request failed (kernel error `code`, 0 for a malformed value or a refund).
    event ProposalFailed(uint256 indexed proposalId, uint256 indexed promptId, uint8 code);

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice A title that is empty or longer than MAX_TITLE_BYTES.
    error TitleLength(uint256 length);
    /// @notice A description that is empty or longer than MAX_DESCRIPTION_BYTES.
    error DescriptionLength(uint256 length);
    /// @notice No proposal with this id.
    error UnknownProposal(uint256 proposalId);
    /// @notice Only a Failed proposal can be retried.
    error NotFailed(uint256 proposalId, Status status);
    /// @notice Only the proposer can retry.
    error NotProposer(uint256 proposalId, address caller);

    /// @param kernel_ The kernel (DecentralizedInference).
    /// @param modelId_ Model id.
    /// @param committeeSize_ Committee size (odd).
    constructor(IAIKernel kernel_, uint256 modelId_, uint16 committeeSize_)
        AppBase(kernel_, modelId_, committeeSize_)
    {}

    /*//////////////////////////////////////////////////////////////
                                 USERS
    //////////////////////////////////////////////////////////////*/

    /// @notice Submits a proposal for the kernel to decide. Send at least `proposalFee()`; the
    ///         excess is sent back.
    /// @param title Short title (1..64 bytes).
    /// @param description What the proposal does (1..1024 bytes).
    /// @return proposalId The proposal.
    /// @return promptId The kernel prompt; watch `ProposalDecided`.
    function propose(string calldata title, string calldata description)
        external
        payable
        nonReentrant
        returns (uint256 proposalId, uint256 promptId)
    {
        uint256 tl = bytes(title).length;
        if (tl == 0 || tl > MAX_TITLE_BYTES) revert TitleLength(tl);
        uint256 dl = bytes(description).length;
        if (dl == 0 || dl > MAX_DESCRIPTION_BYTES) revert DescriptionLength(dl);
        proposalId = ++proposalCount;
        Proposal storage p = _proposals[proposalId];
        p.proposer = msg.sender;
        p.title = title;
        p.description = description;
        promptId = _ask(proposalId, p);
    }

    /// @notice Asks the kernel again about a Failed proposal (proposer only; same fee as `propose`).
    /// @param proposalId The proposal.
    /// @return promptId The new prompt.
    function retry(uint256 proposalId) external payable nonReentrant returns (uint256 promptId) {
        Proposal storage p = _proposals[proposalId];
        if (p.status != Status.Failed) {
            if (p.status == Status.None) revert UnknownProposal(proposalId);
            revert NotFailed(proposalId, p.status);
        }
        if (msg.sender != p.proposer) revert NotProposer(proposalId, msg.sender);
        promptId = _ask(proposalId, p);
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice Wei to send with `propose` or `retry` (the kernel fee).
    function proposalFee() public view returns (uint256) {
        return _kernelFee(MAX_TOKENS, CALLBACK_GAS);
    }

    /// @notice A proposal.
    /// @param proposalId The proposal.
    function proposalOf(uint256 proposalId) external view returns (Proposal memory) {
        return _proposals[proposalId];
    }

    /// @notice The exact prompt input of a proposal:
    ///         `"Proposal #" + id + ": " + title + "\n" + description + "\nShould the DAO approve or reject this proposal?"`.
    /// @param proposalId The proposal.
    function promptOf(uint256 proposalId) public view returns (string memory) {
        Proposal storage p = _proposals[proposalId];
        return string.concat(
            "Proposal #",
            proposalId.toString(),
            ": ",
            p.title,
            "\n",
            p.description,
            "\nShould the DAO approve or reject this proposal?"
        );
    }

    /// @notice The Feed entry recording a decided proposal:
    ///         `"Proposal #" + id + " (" + title + "): approved"` (or `rejected`).
    /// @param proposalId The proposal.
    /// @param approved The decision.
    function outcomeText(uint256 proposalId, bool approved) public view returns (string memory) {
        return string.concat(
            "Proposal #",
            proposalId.toString(),
            " (",
            _proposals[proposalId].title,
            "): ",
            approved ? "approved" : "rejected"
        );
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    function _ask(uint256 proposalId, Proposal storage p) private returns (uint256 promptId) {
        uint256 fee = proposalFee();
        uint256 excess = _collect(fee);
        IAIKernel.Request memory r = _newRequest(
            TOPIC,
            bytes(promptOf(proposalId)),
            bytes(CHARTER),
            Schema.choice(_options()),
            MAX_TOKENS,
            CALLBACK_GAS
        );
        promptId = _submit(r, fee, msg.sender, fee);
        p.status = Status.Pending;
        p.promptId = promptId;
        proposalOfPrompt[promptId] = proposalId;
        emit ProposalSubmitted(proposalId, promptId, p.proposer, p.title, fee);
        _send(msg.sender, excess);
    }

    function _options() private pure returns (string[] memory opts) {
        opts = new string[](2);
        opts[0] = "approve";
        opts[1] = "reject";
    }

    function _onAppResult(uint256 promptId, bool success, bytes calldata output) internal override {
        uint256 id = proposalOfPrompt[promptId];
        Proposal storage p = _proposals[id];
        if (id == 0 || p.status != Status.Pending || p.promptId != promptId) return;
        (bool ok, uint256 index, uint8 code) = _word(success, output);
        if (ok && index < 2) {
            bool approved = index == 0;
            p.status = approved ? Status.Approved : Status.Rejected;
            _feed(TOPIC, bytes(outcomeText(id, approved)));
            emit ProposalDecided(id, promptId, approved);
        } else {
            p.status = Status.Failed;
            emit ProposalFailed(id, promptId, code);
        }
    }

    function _onRefund(uint256 promptId) internal override {
        uint256 id = proposalOfPrompt[promptId];
        Proposal storage p = _proposals[id];
        if (p.status == Status.Pending && p.promptId == promptId) {
            p.status = Status.Failed;
            emit ProposalFailed(id, promptId, 0);
        }
    }
}
