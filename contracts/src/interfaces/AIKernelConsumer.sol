// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAIKernel, IAIKernelCallback} from "./IAIKernel.sol";

/// @title AIKernelConsumer
/// @notice Base contract for dapps that ask the aikernel for inference. Inherit it, call
///         `_infer` and implement `_onResult`; only the kernel can deliver results.
/// @dev Results arrive with a bounded gas limit chosen in the request; keep `_onResult` cheap
///      and never let it revert on bad data (the kernel ignores a reverting callback, and the
///      result stays readable through `kernel.resultOf`).
abstract contract AIKernelConsumer is IAIKernelCallback {
    /// @notice The kernel this consumer talks to.
    IAIKernel public immutable kernel;

    /// @notice Thrown when someone other than the kernel calls `onAIResult`.
    error OnlyKernel(address caller);

    /// @param kernel_ The DecentralizedInference contract.
    constructor(IAIKernel kernel_) {
        kernel = kernel_;
    }

    /// @inheritdoc IAIKernelCallback
    function onAIResult(uint256 promptId, bool success, bytes calldata output) external {
        if (msg.sender != address(kernel)) revert OnlyKernel(msg.sender);
        _onResult(promptId, success, output);
    }

    /// @notice Submits `request` paying `fee` wei from this contract's balance, with this
    ///         contract as the callback.
    function _infer(IAIKernel.Request memory request, uint256 fee) internal returns (uint256 promptId) {
        request.callback = address(this);
        return kernel.infer{value: fee}(request);
    }

    /// @notice Handles a settled result. `output` is ABI-encoded per the request's schema when
    ///         `success` is true, and an encoded `AIKernelError(uint8)` otherwise.
    function _onResult(uint256 promptId, bool success, bytes calldata output) internal virtual;
}
