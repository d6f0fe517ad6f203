// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IAIKernel} from "../interfaces/IAIKernel.sol";
import {AIKernelConsumer} from "../interfaces/AIKernelConsumer.sol";
import {ContextManager} from "../kernel/ContextManager.sol";
import {Schema} from "../lib/Schema.sol";

/// @notice The one kernel view the example apps need beyond `IAIKernel`: where context chains live.
interface IKernelContext {
    /// @notice The kernel's ContextManager.
    function context() external view returns (ContextManager);
}

/// @title AppBase
/// @notice Shared plumbing of the example dapps (docs/apps.md): the model and committee size every
///         request uses, fee collection from `msg.value` with the excess sent back, a record of who
///         paid for each open prompt so a kernel refund reaches that payer (`reclaimRefund`), and
///         decoders that never revert on a malformed output.
/// @dev The dapp contract is the kernel's requester, so it owns its context topics and appends Feed
///      entries itself through `contextManager`. Results arrive through `_onAppResult`; the open
///      prompt's payment record is cleared first.
abstract contract AppBase is AIKernelConsumer, ReentrancyGuardTransient {
    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    /// @notice Who paid for an open prompt and how much goes back to them if the kernel refunds it.
    struct Payment {
        address payer;
        uint96 amount;
    }

    /*//////////////////////////////////////////////////////////////
                                 STATE
    //////////////////////////////////////////////////////////////*/

    /// @notice Model every request of this app runs.
    uint256 public immutable modelId;
    /// @notice Committee size of every request (odd, 1..15).
    uint16 public immutable committeeSize;
    /// @notice The kernel's context chains (this app appends Feed entries to its own topics).
    ContextManager public immutable contextManager;

    /// @notice Open prompts (submitted, no result yet) and their payers.
    mapping(uint256 promptId => Payment) public payments;

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice A prompt the kernel refunded was closed and its fee sent back to the payer.
    event RefundReclaimed(uint256 indexed promptId, address indexed payer, uint256 amount);

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice The committee size is even, zero or above 15.
    error InvalidCommitteeSize(uint16 size);
    /// @notice `msg.value` is below what the call costs.
    error InsufficientFee(uint256 required, uint256 provided);
    /// @notice Sending ETH to `to` failed.
    error TransferFailed(address to, uint256 amount);
    /// @notice The prompt is not open in this app (never submitted here, or already closed).
    error NotOpen(uint256 promptId);
    /// @notice The kernel has not refunded the prompt.
    error NotRefunded(uint256 promptId, IAIKernel.Status status);
    /// @notice ETH sent by someone other than the kernel to an app that holds none.
    error UnexpectedEther(address from);

    /// @param kernel_ The kernel (DecentralizedInference).
    /// @param modelId_ Model id in the kernel's ModelFileSystem.
    /// @param committeeSize_ Committee size of every request (odd, 1..15).
    constructor(IAIKernel kernel_, uint256 modelId_, uint16 committeeSize_) AIKernelConsumer(kernel_) {
        if (committeeSize_ == 0 || committeeSize_ > 15 || committeeSize_ % 2 == 0) {
            revert InvalidCommitteeSize(committeeSize_);
        }
        modelId = modelId_;
        committeeSize = committeeSize_;
        contextManager = IKernelContext(address(kernel_)).context();
    }

    /// @notice Accepts kernel refunds (pushed with 30,000 gas); apps that hold user funds override it.
    receive() external payable virtual {
        if (msg.sender != address(kernel)) revert UnexpectedEther(msg.sender);
    }

    /*//////////////////////////////////////////////////////////////
                                REFUNDS
    //////////////////////////////////////////////////////////////*/

    /// @notice Closes a prompt the kernel refunded (no committee reached a majority in any round) and
    ///         sends its fee back to whoever paid it. Anyone may call; the ETH goes to the payer.
    /// @param promptId The refunded prompt.
    function reclaimRefund(uint256 promptId) external nonReentrant {
        Payment memory p = payments[promptId];
        if (p.payer == address(0)) revert NotOpen(promptId);
        IAIKernel.Status status = kernel.statusOf(promptId);
        if (status != IAIKernel.Status.Refunded) revert NotRefunded(promptId, status);
        delete payments[promptId];
        _onRefund(promptId);
        emit RefundReclaimed(promptId, p.payer, p.amount);
        _send(p.payer, p.amount);
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @notice The kernel fee of one request of this app with `maxTokens` and `callbackGasLimit`.
    function _kernelFee(uint32 maxTokens, uint32 callbackGasLimit) internal view returns (uint256) {
        return kernel.quote(modelId, maxTokens, committeeSize, callbackGasLimit);
    }

    /// @notice Reverts unless `msg.value >= required`; returns the excess to send back.
    function _collect(uint256 required) internal view returns (uint256 excess) {
        if (msg.value < required) revert InsufficientFee(required, msg.value);
        return msg.value - required;
    }

    /// @notice A request of this app's model and committee with this contract as callback.
    function _newRequest(
        bytes32 topic,
        bytes memory input,
        bytes memory extraContext,
        bytes memory schema,
        uint32 maxTokens,
        uint32 callbackGasLimit
    ) internal view returns (IAIKernel.Request memory r) {
        r.modelId = modelId;
        r.topic = topic;
        r.input = input;
        r.extraContext = extraContext;
        r.schema = schema;
        r.maxTokens = maxTokens;
        r.callback = address(this);
        r.callbackGasLimit = callbackGasLimit;
        r.committeeSize = committeeSize;
    }

    /// @notice Submits `r` paying `fee` from this contract and records `payer` and the `refundable`
    ///         amount for `reclaimRefund`.
    function _submit(IAIKernel.Request memory r, uint256 fee, address payer, uint256 refundable)
        internal
        returns (uint256 promptId)
    {
        promptId = _infer(r, fee);
        payments[promptId] = Payment(payer, uint96(refundable));
    }

    /// @notice Sends `amount` wei to `to` with all gas; reverts with `TransferFailed` on failure.
    function _send(address to, uint256 amount) internal {
        if (amount == 0) return;
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
    }

    /// @notice Appends a Feed entry to this app's own `topic`.
    function _feed(bytes32 topic, bytes memory data) internal {
        contextManager.appendContext(address(this), topic, data, bytes32(0));
    }

    /// @inheritdoc AIKernelConsumer
    function _onResult(uint256 promptId, bool success, bytes calldata output) internal override {
        delete payments[promptId];
        _onAppResult(promptId, success, output);
    }

    /// @notice Handles a result; must not revert on any `output`.
    function _onAppResult(uint256 promptId, bool success, bytes calldata output) internal virtual;

    /// @notice Clears the app's state of a prompt the kernel refunded.
    function _onRefund(uint256 promptId) internal virtual;

    /*//////////////////////////////////////////////////////////////
                                DECODING
    //////////////////////////////////////////////////////////////*/

    /// @notice The single 32-byte word of a successful choice/int/bool output, or `ok = false`;
    ///         `code` is the kernel error code of an error output (0 for a malformed value).
    function _word(bool success, bytes calldata output)
        internal
        pure
        returns (bool ok, uint256 value, uint8 code)
    {
        if (!success) return (false, 0, _errorCode(output));
        if (output.length != 32) return (false, 0, 0);
        return (true, uint256(bytes32(output)), 0);
    }

    /// @notice The string of a successful text output of at most `maxBytes` bytes, or `ok = false`
    ///         (with the error code as in `_word`). Checks the ABI layout instead of reverting.
    function _text(bool success, bytes calldata output, uint256 maxBytes)
        internal
        pure
        returns (bool ok, string memory value, uint8 code)
    {
        if (!success) return (false, "", _errorCode(output));
        if (output.length < 64 || output.length % 32 != 0) return (false, "", 0);
        if (uint256(bytes32(output[0:32])) != 32) return (false, "", 0);
        uint256 len = uint256(bytes32(output[32:64]));
        if (len > maxBytes || len > output.length - 64) return (false, "", 0);
        return (true, string(output[64:64 + len]), 0);
    }

    function _errorCode(bytes calldata output) private pure returns (uint8 code) {
        (, code) = Schema.errorCode(output);
    }
}
