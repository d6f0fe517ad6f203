// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IAIKernel} from "../interfaces/IAIKernel.sol";
import {Schema} from "../lib/Schema.sol";
import {AppBase} from "./AppBase.sol";

/// @title ChatAgent
/// @notice An onchain conversational agent. Each user talks on a topic of their own
///         (`topicOf(user)`), so the kernel's context chain carries the conversation: every earlier
///         message (Prompt entry) and reply (Result entry) of that user comes before the new message.
///         Each message costs the kernel fee plus the owner's service fee; the owner withdraws the
///         service fees of answered messages.
/// @dev One message in flight per user keeps the conversation in order. The reply is stored in full
///      (at most MAX_REPLY_BYTES), so CALLBACK_GAS covers writing that many bytes to fresh storage.
contract ChatAgent is AppBase, Ownable {
    /*//////////////////////////////////////////////////////////////
                               CONSTANTS
    //////////////////////////////////////////////////////////////*/

    /// @notice Longest message, in bytes.
    uint256 public constant MAX_MESSAGE_BYTES = 1024;
    /// @notice Longest reply, in bytes (the TEXT schema's maxBytes).
    uint16 public constant MAX_REPLY_BYTES = 256;
    /// @notice maxTokens of every request.
    uint32 public constant MAX_TOKENS = 64;
    /// @notice Gas the kernel forwards to `onAIResult`.
    uint32 public constant CALLBACK_GAS = 450_000;
    /// @notice Highest service fee the owner may set.
    uint256 public constant MAX_SERVICE_FEE = 1 ether;
    /// @notice Extra context of every request (the agent's persona).
    string public constant PERSONA =
        "You are Kai, a friendly assistant living on a blockchain. Keep replies short.";

    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    /// @notice A user's conversation: the open prompt (0 when none), the service fee it carries, the
    ///         number of replies so far and the last reply.
    struct Conversation {
        uint256 pendingPromptId;
        uint256 pendingServiceFee;
        uint256 replies;
        string lastReply;
    }

    /*//////////////////////////////////////////////////////////////
                                 STATE
    //////////////////////////////////////////////////////////////*/

    /// @notice Service fee per message, in wei, on top of the kernel fee.
    uint256 public serviceFee;
    /// @notice Service fees of settled messages not yet withdrawn.
    uint256 public accruedServiceFees;
    mapping(address => Conversation) internal _conversations;
    /// @notice The user a prompt answers.
    mapping(uint256 promptId => address user) public userOfPrompt;

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice A user sent a message.
    event MessageSent(
        address indexed user, uint256 indexed promptId, string message, uint256 kernelFee, uint256 serviceFee
    );
    /// @notice The agent replied.
    event ReplyReceived(address indexed user, uint256 indexed promptId, string reply);
    /// @notice A message got no reply (kernel error `code`, 0 for a malformed value or a refund).
    event ReplyFailed(address indexed user, uint256 indexed promptId, uint8 code);
    /// @notice The owner set the service fee.
    event ServiceFeeSet(uint256 serviceFee);
    /// @notice The owner withdrew service fees.
    event ServiceFeesWithdrawn(address indexed to, uint256 amount);

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice An empty message.
    error EmptyMessage();
    /// @notice A message longer than MAX_MESSAGE_BYTES.
    error MessageTooLong(uint256 length);
    /// @notice The user's previous message has no reply yet.
    error ReplyPending(address user, uint256 promptId);
    /// @notice A service fee above MAX_SERVICE_FEE.
    error ServiceFeeTooHigh(uint256 fee);
    /// @notice No service fees to withdraw.
    error NothingToWithdraw();
    /// @notice The zero address as recipient.
    error ZeroAddress();

    /// @param kernel_ The kernel (DecentralizedInference).
    /// @param modelId_ Model id.
    /// @param committeeSize_ Committee size (odd).
    /// @param serviceFee_ Initial service fee per message, in wei (<= 1 ether). The deployer is the owner.
    constructor(IAIKernel kernel_, uint256 modelId_, uint16 committeeSize_, uint256 serviceFee_)
        AppBase(kernel_, modelId_, committeeSize_)
        Ownable(msg.sender)
    {
        _setServiceFee(serviceFee_);
    }

    /*//////////////////////////////////////////////////////////////
                                 USERS
    //////////////////////////////////////////////////////////////*/

    /// @notice Sends a message to the agent. Send at least `messageFee()`; the excess is sent back.
    /// @param message The message (1..1024 bytes of UTF-8).
    /// @return promptId The kernel prompt; watch `ReplyReceived`.
    function send(string calldata message) external payable nonReentrant returns (uint256 promptId) {
        uint256 len = bytes(message).length;
        if (len == 0) revert EmptyMessage();
        if (len > MAX_MESSAGE_BYTES) revert MessageTooLong(len);
        Conversation storage c = _conversations[msg.sender];
        if (c.pendingPromptId != 0) revert ReplyPending(msg.sender, c.pendingPromptId);
        uint256 kFee = kernelFee();
        uint256 service = serviceFee;
        uint256 excess = _collect(kFee + service);
        IAIKernel.Request memory r = _newRequest(
            topicOf(msg.sender),
            bytes(message),
            bytes(PERSONA),
            Schema.text(MAX_REPLY_BYTES),
            MAX_TOKENS,
            CALLBACK_GAS
        );
        promptId = _submit(r, kFee, msg.sender, kFee + service);
        c.pendingPromptId = promptId;
        c.pendingServiceFee = service;
        userOfPrompt[promptId] = msg.sender;
        emit MessageSent(msg.sender, promptId, message, kFee, service);
        _send(msg.sender, excess);
    }

    /*//////////////////////////////////////////////////////////////
                                 OWNER
    //////////////////////////////////////////////////////////////*/

    /// @notice Sets the service fee per message (applies to later messages).
    /// @param fee Wei per message (<= MAX_SERVICE_FEE).
    function setServiceFee(uint256 fee) external onlyOwner {
        _setServiceFee(fee);
    }

    /// @notice Sends all accrued service fees to `to`.
    /// @param to Recipient.
    function withdrawServiceFees(address to) external onlyOwner nonReentrant {
        if (to == address(0)) revert ZeroAddress();
        uint256 amount = accruedServiceFees;
        if (amount == 0) revert NothingToWithdraw();
        accruedServiceFees = 0;
        emit ServiceFeesWithdrawn(to, amount);
        _send(to, amount);
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice Wei to send with `send`: kernel fee plus service fee.
    function messageFee() external view returns (uint256) {
        return kernelFee() + serviceFee;
    }

    /// @notice The kernel's part of `messageFee`.
    function kernelFee() public view returns (uint256) {
        return _kernelFee(MAX_TOKENS, CALLBACK_GAS);
    }

    /// @notice The context topic of `user`'s conversation: `bytes32(uint256(uint160(user)))`.
    /// @param user The user.
    function topicOf(address user) public pure returns (bytes32) {
        return bytes32(uint256(uint160(user)));
    }

    /// @notice The last reply to `user` ("" before the first).
    /// @param user The user.
    function replyOf(address user) external view returns (string memory) {
        return _conversations[user].lastReply;
    }

    /// @notice A user's conversation state.
    /// @param user The user.
    function conversationOf(address user) external view returns (Conversation memory) {
        return _conversations[user];
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    function _setServiceFee(uint256 fee) private {
        if (fee > MAX_SERVICE_FEE) revert ServiceFeeTooHigh(fee);
        serviceFee = fee;
        emit ServiceFeeSet(fee);
    }

    /// @dev The service fee is earned once the committee has answered (reply or agreed error).
    function _onAppResult(uint256 promptId, bool success, bytes calldata output) internal override {
        address user = userOfPrompt[promptId];
        Conversation storage c = _conversations[user];
        if (user == address(0) || c.pendingPromptId != promptId) return;
        accruedServiceFees += c.pendingServiceFee;
        c.pendingPromptId = 0;
        c.pendingServiceFee = 0;
        (bool ok, string memory reply, uint8 code) = _text(success, output, MAX_REPLY_BYTES);
        if (ok) {
            c.lastReply = reply;
            ++c.replies;
            emit ReplyReceived(user, promptId, reply);
        } else {
            emit ReplyFailed(user, promptId, code);
        }
    }

    /// @dev A refunded message returns the kernel fee and the service fee (see `reclaimRefund`).
    function _onRefund(uint256 promptId) internal override {
        address user = userOfPrompt[promptId];
        Conversation storage c = _conversations[user];
        if (c.pendingPromptId == promptId) {
            c.pendingPromptId = 0;
            c.pendingServiceFee = 0;
            emit ReplyFailed(user, promptId, 0);
        }
    }
}
