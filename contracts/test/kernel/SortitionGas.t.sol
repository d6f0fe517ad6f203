// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {console} from "forge-std/console.sol";
import {PromptScheduler} from "../../src/kernel/PromptScheduler.sol";
import {GPUManagement} from "../../src/kernel/GPUManagement.sol";
import {KernelBase} from "./KernelBase.sol";

/// @notice Committee selection gas with 10, 1,000 and 10,000 registered nodes (real registrations
///         through GPUManagement). Selection reads O(k) pool slots, so the cost must stay flat.
/// @dev With `--isolate` each measured call is its own transaction (21,000 base included).
abstract contract SortitionGasBase is KernelBase {
    function _poolSize() internal pure virtual returns (uint256);

    function setUp() public override {
        super.setUp();
        // One top-level call, so that `--isolate` runs the registrations as a single transaction.
        this.registerMany(_poolSize());
        scheduler.grantRole(scheduler.ASSIGNER_ROLE(), address(this));
        assertEq(scheduler.poolSize(modelId), _poolSize());
    }

    /// @notice Registers `n` staked nodes serving the model (test helper).
    function registerMany(uint256 n) external {
        vm.pauseGasMetering();
        uint256[] memory ids = _models();
        GPUManagement.Hardware memory hw = _hardware();
        for (uint256 i; i < n; ++i) {
            address node = address(uint160(0x10000 + i));
            eai.transfer(node, 1000 ether);
            vm.startPrank(node);
            eai.approve(address(gpu), 1000 ether);
            gpu.register(hw, ids, 1000 ether);
            vm.stopPrank();
        }
        vm.resumeGasMetering();
    }

    function _measure(uint256 k, uint256 seed) internal returns (uint256 gasUsed) {
        (address[] memory c,,) = scheduler.assign(modelId, k, seed, new address[](0));
        gasUsed = vm.lastCallGas().gasTotalUsed;
        assertEq(c.length, k);
    }

    function test_gas_selectCommittee3() public {
        uint256 g = _measure(3, uint256(keccak256("seed")));
        console.log("pool", _poolSize(), "sortition k=3 gas", g);
    }

    function test_gas_selectCommitteeLarge() public {
        uint256 k = _poolSize() < 15 ? 9 : 15;
        uint256 g = _measure(k, uint256(keccak256("seed")));
        console.log("pool", _poolSize(), "sortition large k", k);
        console.log("gas", g);
    }

    function test_gas_roundRobinCommittee3() public {
        scheduler.setPolicy(modelId, PromptScheduler.Policy.RoundRobin);
        uint256 g = _measure(3, 0);
        console.log("pool", _poolSize(), "round-robin k=3 gas", g);
    }
}

contract SortitionGas10Test is SortitionGasBase {
    function _poolSize() internal pure override returns (uint256) {
        return 10;
    }
}

contract SortitionGas1000Test is SortitionGasBase {
    function _poolSize() internal pure override returns (uint256) {
        return 1000;
    }
}

contract SortitionGas10000Test is SortitionGasBase {
    function _poolSize() internal pure override returns (uint256) {
        return 10_000;
    }
}
