// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {IAIKernel} from "../../src/interfaces/IAIKernel.sol";
import {EAI} from "../../src/token/EAI.sol";
import {ModelFileSystem} from "../../src/kernel/ModelFileSystem.sol";
import {PromptScheduler} from "../../src/kernel/PromptScheduler.sol";
import {GPUManagement} from "../../src/kernel/GPUManagement.sol";
import {ContextManager} from "../../src/kernel/ContextManager.sol";
import {DecentralizedInference} from "../../src/kernel/DecentralizedInference.sol";
import {RecordingConsumer} from "./mocks/Consumers.sol";

/// @notice Deploys and wires the whole kernel the way contracts/script/Deploy.s.sol does.
abstract contract KernelBase is Test {
    uint256 internal constant CAP = 1_000_000_000 ether;
    uint256 internal constant GENESIS = 100_000_000 ether;
    uint256 internal constant REWARD_BUDGET = 500_000_000 ether;
    uint64 internal constant HALVING = 365 days;
    uint256 internal constant STAKE = 10_000 ether;
    uint128 internal constant FEE_PER_TOKEN = 1 gwei;

    EAI internal eai;
    ModelFileSystem internal models;
    PromptScheduler internal scheduler;
    GPUManagement internal gpu;
    ContextManager internal context;
    DecentralizedInference internal kernel;
    RecordingConsumer internal consumer;

    address internal treasury = makeAddr("treasury");
    address internal user = makeAddr("user");
    uint256 internal modelId;
    address[] internal nodes;

    bytes internal constant ANSWER = abi.encode(uint8(2));
    bytes internal constant WRONG = abi.encode(uint8(3));

    function setUp() public virtual {
        vm.warp(1_700_000_000);
        eai = new EAI(address(this), CAP, address(this), GENESIS);
        models = new ModelFileSystem(address(this));
        scheduler = new PromptScheduler(address(this));
        gpu = new GPUManagement(address(this), eai, models, scheduler, treasury);
        context = new ContextManager(address(this));
        kernel = new DecentralizedInference(address(this), models, scheduler, gpu, context, treasury);
        scheduler.grantRole(scheduler.POOL_MANAGER_ROLE(), address(gpu));
        scheduler.grantRole(scheduler.ASSIGNER_ROLE(), address(kernel));
        gpu.grantRole(gpu.SLASHER_ROLE(), address(kernel));
        context.grantRole(context.KERNEL_ROLE(), address(kernel));
        eai.grantRole(eai.MINTER_ROLE(), address(gpu));
        gpu.startRewards(uint128(REWARD_BUDGET / (2 * uint256(HALVING))), HALVING);
        modelId = models.registerModel(_spec());
        consumer = new RecordingConsumer(kernel);
        vm.deal(user, 100 ether);
        vm.deal(address(consumer), 100 ether);
    }

    function _spec() internal pure returns (ModelFileSystem.ModelSpec memory s) {
        string[] memory uris = new string[](1);
        uris[0] = "ipfs://bafkreismollm2";
        s = ModelFileSystem.ModelSpec({
            name: "SmolLM2-135M-Instruct",
            driver: "llama",
            format: "gguf-q4_1",
            contentRoot: keccak256("smollm2"),
            size: 98_362_432,
            chunkSize: 1 << 20,
            uris: uris,
            minMemoryMiB: 512,
            minDeviceCount: 1,
            feePerToken: FEE_PER_TOKEN,
            // Fast enough that requests add no compute time: the tests' windows stay the
            // scheduler's (WorkWindow.t.sol tests slower models).
            tokensPerSecond: type(uint32).max
        });
    }

    function _hardware() internal pure returns (GPUManagement.Hardware memory) {
        return GPUManagement.Hardware({deviceModel: "cpu-avx2", memoryMiB: 24_576, deviceCount: 1});
    }

    function _models() internal view returns (uint256[] memory ids) {
        ids = new uint256[](1);
        ids[0] = modelId;
    }

    function _addNode(string memory name) internal returns (address node) {
        node = makeAddr(name);
        eai.transfer(node, STAKE);
        vm.startPrank(node);
        eai.approve(address(gpu), STAKE);
        gpu.register(_hardware(), _models(), STAKE);
        vm.stopPrank();
        nodes.push(node);
    }

    function _addNodes(uint256 n) internal {
        for (uint256 i; i < n; ++i) {
            _addNode(string.concat("node", vm.toString(nodes.length)));
        }
    }

    function _request(uint16 k) internal view returns (IAIKernel.Request memory r) {
        r = IAIKernel.Request({
            modelId: modelId,
            topic: keccak256("chat"),
            input: bytes("What is 2+2? Answer with one digit."),
            inputHash: bytes32(0),
            extraContext: "",
            schema: hex"0300000000000000000000000000000009", // Schema.integer(0, 9)
            maxTokens: 16,
            temperature: 0,
            seed: 42,
            callback: address(consumer),
            callbackGasLimit: 200_000,
            committeeSize: k
        });
    }

    function _fee(IAIKernel.Request memory r) internal view returns (uint256) {
        return kernel.quote(r.modelId, r.maxTokens, r.committeeSize, r.callbackGasLimit);
    }

    function _submit(uint16 k) internal returns (uint256 promptId) {
        IAIKernel.Request memory r = _request(k);
        promptId = consumer.ask(r, _fee(r));
    }

    function _round(uint256 promptId) internal view returns (uint8) {
        return kernel.promptInfo(promptId).round;
    }

    function _salt(address node, uint256 promptId) internal pure returns (bytes32) {
        return keccak256(abi.encode(keccak256(abi.encodePacked("aikernel-salt", node)), promptId));
    }

    /// @dev The trace an honest node's engine reports for `output` (any fixed function of it here).
    function _trace(bytes memory output) internal pure returns (bytes32) {
        return keccak256(abi.encode("logits of", output));
    }

    function _roundHash(uint256 promptId, uint8 round, bytes memory output) internal pure returns (bytes32) {
        return
            keccak256(abi.encode(promptId, round, keccak256(abi.encode(keccak256(output), _trace(output)))));
    }

    /// @dev The commitment with its request tag (the low 32 bits: the request blob's address).
    function _commitment(uint256 promptId, uint8 round, bytes memory output, address node)
        internal
        view
        returns (bytes32)
    {
        bytes32 h = keccak256(
            abi.encode(promptId, round, _roundHash(promptId, round, output), _salt(node, promptId), node)
        );
        return _tagged(promptId, h);
    }

    /// @dev `h` with its low 32 bits replaced by the prompt's request tag.
    function _tagged(uint256 promptId, bytes32 h) internal view returns (bytes32) {
        uint32 tag = uint32(uint160(kernel.promptInfo(promptId).blob));
        return bytes32((uint256(h) >> 32) << 32 | tag);
    }

    /// @dev Mines past the current round's seed block so its committee can be drawn.
    function _ready(uint256 promptId) internal {
        (uint64 seedBlock,) = kernel.seedBlockOf(promptId);
        if (block.number <= seedBlock) vm.roll(seedBlock + 1);
    }

    function _commit(uint256 promptId, address node, bytes memory output) internal {
        _ready(promptId);
        bytes32 c = _commitment(promptId, _round(promptId), output, node);
        vm.prank(node);
        kernel.commit(promptId, c);
    }

    /// @dev Reveals with the output bytes (the reveal that completes a deciding round settles).
    function _reveal(uint256 promptId, address node, bytes memory output) internal {
        uint8 round = _round(promptId);
        bytes32 salt = _salt(node, promptId);
        vm.prank(node);
        kernel.reveal(promptId, salt, _roundHash(promptId, round, output), output, _trace(output));
    }

    /// @dev Reveals only the round hash, keeping the output private.
    function _revealHash(uint256 promptId, address node, bytes memory output) internal {
        uint8 round = _round(promptId);
        bytes32 salt = _salt(node, promptId);
        vm.prank(node);
        kernel.reveal(promptId, salt, _roundHash(promptId, round, output), "", 0);
    }

    /// @dev Publishes the decided output (status Publishing).
    function _publish(uint256 promptId, bytes memory output) internal {
        kernel.publish(promptId, output, _trace(output));
    }

    /// @dev The current round's committee (drawing it if its seed is ready).
    function _committee(uint256 promptId) internal returns (address[] memory) {
        _ready(promptId);
        return kernel.committeeOf(promptId);
    }

    /// @dev Every committee member commits and reveals `output`.
    function _runAll(uint256 promptId, bytes memory output) internal {
        address[] memory c = _committee(promptId);
        for (uint256 i; i < c.length; ++i) {
            _commit(promptId, c[i], output);
        }
        for (uint256 i; i < c.length; ++i) {
            _reveal(promptId, c[i], output);
        }
    }
}
