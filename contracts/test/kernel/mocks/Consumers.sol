// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAIKernel} from "../../../src/interfaces/IAIKernel.sol";
import {AIKernelConsumer} from "../../../src/interfaces/AIKernelConsumer.sol";

/// @notice A consumer that records the last result (a typical dapp).
contract RecordingConsumer is AIKernelConsumer {
    uint256 public lastPromptId;
    bool public lastSuccess;
    bytes public lastOutput;
    uint256 public calls;

    constructor(IAIKernel kernel_) AIKernelConsumer(kernel_) {}

    function ask(IAIKernel.Request memory request, uint256 fee) external returns (uint256) {
        return _infer(request, fee);
    }

    function _onResult(uint256 promptId, bool success, bytes calldata output) internal override {
        lastPromptId = promptId;
        lastSuccess = success;
        lastOutput = output;
        ++calls;
    }

    receive() external payable {}
}

/// @notice A consumer whose callback always reverts.
contract RevertingConsumer is AIKernelConsumer {
    constructor(IAIKernel kernel_) AIKernelConsumer(kernel_) {}

    function ask(IAIKernel.Request memory request) external payable returns (uint256) {
        return _infer(request, msg.value);
    }

    function _onResult(uint256, bool, bytes calldata) internal pure override {
        revert("nope");
    }
}

/// @notice A consumer whose callback burns all the gas it gets.
contract GasBurningConsumer is AIKernelConsumer {
    constructor(IAIKernel kernel_) AIKernelConsumer(kernel_) {}

    function ask(IAIKernel.Request memory request) external payable returns (uint256) {
        return _infer(request, msg.value);
    }

    function _onResult(uint256, bool, bytes calldata) internal pure override {
        while (true) {}
    }
}

/// @notice A consumer that returns a huge returndata blob (return bomb).
contract ReturnBombConsumer {
    function ask(IAIKernel kernel, IAIKernel.Request memory request) external payable returns (uint256) {
        request.callback = address(this);
        return kernel.infer{value: msg.value}(request);
    }

    fallback() external {
        assembly {
            return(0, 1000000)
        }
    }
}

/// @notice A requester that rejects ETH (refunds must fall back to a credit).
contract EthRejectingRequester {
    IAIKernel public immutable kernel;

    constructor(IAIKernel kernel_) {
        kernel = kernel_;
    }

    function ask(IAIKernel.Request memory request) external payable returns (uint256) {
        return kernel.infer{value: msg.value}(request);
    }

    function withdrawFromKernel() external {
        (bool ok, bytes memory ret) = address(kernel).call(abi.encodeWithSignature("withdraw()"));
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
    }
}

/// @notice A lean consumer: keeps the decoded answer in one slot (the gas benchmark's dapp).
contract AnswerConsumer is AIKernelConsumer {
    uint256 public answer;

    constructor(IAIKernel kernel_) AIKernelConsumer(kernel_) {}

    function ask(IAIKernel.Request memory request, uint256 fee) external returns (uint256) {
        return _infer(request, fee);
    }

    function _onResult(uint256, bool success, bytes calldata output) internal override {
        if (success && output.length == 32) answer = abi.decode(output, (uint256)) + 1;
    }

    receive() external payable {}
}
