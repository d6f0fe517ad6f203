// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {console} from "forge-std/console.sol";
import {AIKernelConsumer} from "../../src/interfaces/AIKernelConsumer.sol";
import {FantasySports} from "../../src/apps/FantasySports.sol";
import {ChatAgent} from "../../src/apps/ChatAgent.sol";
import {AIWallet} from "../../src/apps/AIWallet.sol";
import {AIOracle} from "../../src/apps/AIOracle.sol";
import {AIDAO} from "../../src/apps/AIDAO.sol";
import {CreditScore} from "../../src/apps/CreditScore.sol";
import {NameGenerator} from "../../src/apps/NameGenerator.sol";
import {NameRegistry} from "../../src/apps/NameRegistry.sol";
import {AppsBase} from "./AppsBase.sol";

/// @notice Gas of each app's request transaction (committee of 3) and of its callback on its most
///         expensive answer, with cold storage; asserts each callback limit has at least 25 % margin.
/// @dev Transaction-level figures (21,000 base + calldata + execution) need `--isolate`:
///      `forge test --match-path contracts/test/apps/AppsGas.t.sol --isolate -vv` (docs/apps.md).
///      The kernel has settled one prompt before, as on a running network.
contract AppsGasTest is AppsBase {
    function setUp() public override {
        super.setUp();
        uint256 pid = _submit(3);
        _runAll(pid, ANSWER);
    }

    /// @dev Callback gas with every contract the callback may touch cooled.
    function _coldCallback(AIKernelConsumer app, uint256 pid, bytes memory output)
        internal
        returns (uint256)
    {
        vm.cool(address(kernel));
        vm.cool(address(scheduler));
        vm.cool(address(models));
        vm.cool(address(gpu));
        return _callbackGas(app, pid, true, output);
    }

    function _report(string memory name, uint256 request, uint256 callback, uint256 limit) internal pure {
        console.log(name);
        console.log("  request tx gas", request);
        console.log("  callback gas (worst case)", callback);
        console.log("  callback gas limit", limit);
        assertLe(callback * 5 / 4, limit, "callback gas margin below 25%");
    }

    function test_gas_fantasySports() public {
        FantasySports app = new FantasySports(kernel, modelId, K);
        uint256 id = app.createMatchup(
            "Lions",
            "Tigers",
            "30 goals scored, 5 conceded, 9 wins in 10 games",
            "8 goals scored, 25 conceded, 1 win"
        );
        uint256 fee = app.requestFee();
        vm.prank(alice);
        uint256 pid = app.requestWinner{value: fee}(id);
        uint256 request = _lastGas();
        _report(
            "FantasySports.requestWinner",
            request,
            _coldCallback(app, pid, abi.encode(uint8(1))),
            app.CALLBACK_GAS()
        );
    }

    function test_gas_chatAgent() public {
        ChatAgent app = new ChatAgent(kernel, modelId, K, 0.001 ether);
        uint256 fee = app.messageFee();
        vm.prank(alice);
        uint256 pid = app.send{value: fee}("Hi, I am Alice. What can you do?");
        uint256 request = _lastGas();
        bytes memory reply = new bytes(256);
        for (uint256 i; i < 256; ++i) {
            reply[i] = "a";
        }
        _report(
            "ChatAgent.send", request, _coldCallback(app, pid, abi.encode(string(reply))), app.CALLBACK_GAS()
        );
    }

    function test_gas_aiWallet() public {
        AIWallet app = new AIWallet(kernel, modelId, K);
        vm.deal(address(app), 10 ether);
        uint256 fee = app.checkFee();
        (, uint256 pid) = app.transfer{value: fee}(makeAddr("fresh"), 1 ether, "coffee beans");
        uint256 request = _lastGas();
        _report("AIWallet.transfer", request, _coldCallback(app, pid, abi.encode(false)), app.CALLBACK_GAS());
    }

    function test_gas_aiOracle() public {
        AIOracle app = new AIOracle(kernel, modelId, K);
        app.setFeeder(address(this), true);
        app.submitPrice(97_250);
        uint256 submit = _lastGas();
        console.log("AIOracle.submitPrice tx gas", submit);
        uint256 fee = app.requestFee();
        vm.prank(alice);
        uint256 pid = app.requestPrice{value: fee}();
        uint256 request = _lastGas();
        _report(
            "AIOracle.requestPrice",
            request,
            _coldCallback(app, pid, abi.encode(uint256(97_250))),
            app.CALLBACK_GAS()
        );
    }

    function test_gas_aiDao() public {
        AIDAO app = new AIDAO(kernel, modelId, K);
        uint256 fee = app.proposalFee();
        vm.prank(alice);
        (, uint256 pid) = app.propose{value: fee}(
            "Fund a Solidity linter 1234567890 1234567890 1234567890 12345678",
            "Pay 2 ETH to maintain an open-source Solidity linter for a year."
        );
        uint256 request = _lastGas();
        _report("AIDAO.propose", request, _coldCallback(app, pid, abi.encode(uint8(0))), app.CALLBACK_GAS());
    }

    function test_gas_creditScore() public {
        CreditScore app = new CreditScore(kernel, modelId, K);
        uint256 fee = app.requestFee();
        vm.prank(bob); // only the scored account may supply its history
        uint256 pid = app.requestScore{value: fee}(bob, "Repaid 12 loans on time; wallet active for 4 years.");
        uint256 request = _lastGas();
        _report(
            "CreditScore.requestScore",
            request,
            _coldCallback(app, pid, abi.encode(uint256(780))),
            app.CALLBACK_GAS()
        );
    }

    function test_gas_nameGenerator() public {
        NameRegistry registry = new NameRegistry();
        registry.register("taken", bob);
        NameGenerator app = new NameGenerator(kernel, modelId, K, registry);
        uint256 budget = app.budgetFee();
        vm.prank(alice);
        (, uint256 pid) = app.generate{value: budget}(string(new bytes(256)));
        uint256 request = _lastGas();
        uint256 free = _coldCallback(app, pid, abi.encode(string("abcdefghijklmnopqrstuvwx")));
        console.log("  callback gas, name free (registers)", free);
        _report(
            "NameGenerator.generate",
            request,
            _coldCallback(app, pid, abi.encode(string("taken"))),
            app.CALLBACK_GAS()
        );
    }
}
