// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {console} from "forge-std/console.sol";
import {PromptScheduler} from "../../src/kernel/PromptScheduler.sol";
import {GPUManagement} from "../../src/kernel/GPUManagement.sol";
import {KernelBase} from "./KernelBase.sol";

/// @notice Committee selection gas with 10, 1,000 and 10,000 registered nodes (real registrations
///         through GPUManagement). Selection reads O(k) pool entries, so its cost must not grow
///         with the pool: `SortitionFlatnessTest` asserts it, the per-size tests feed `.gas-snapshot`.
/// @dev With `--isolate` each measured call is its own transaction (21,000 base included).
abstract contract SortitionGasBase is KernelBase {
    function setUp() public virtual override {
        super.setUp();
        scheduler.grantRole(scheduler.ASSIGNER_ROLE(), address(this));
    }

    /// @notice Registers nodes until `n` serve the model (test helper).
    function registerUpTo(uint256 n) public {
        vm.pauseGasMetering();
        uint256[] memory ids = _models();
        GPUManagement.Hardware memory hw = _hardware();
        for (uint256 i = scheduler.poolSize(modelId); i < n; ++i) {
            address node = address(uint160(0x10000 + i));
            eai.transfer(node, 1000 ether);
            vm.startPrank(node);
            eai.approve(address(gpu), 1000 ether);
            gpu.register(hw, ids, 1000 ether);
            vm.stopPrank();
        }
        vm.resumeGasMetering();
    }

    /// @dev Gas of one snapshot and one draw on cold storage, as separate transactions would see it.
    function _measure(uint256 k, uint256 seed) internal returns (uint256 snapGas, uint256 drawGas) {
        vm.cool(address(scheduler));
        uint256 g = gasleft();
        PromptScheduler.Snapshot memory s = scheduler.snapshot(modelId, k);
        snapGas = g - gasleft();
        vm.cool(address(scheduler));
        g = gasleft();
        address[] memory c = scheduler.draw(modelId, k, seed, s, new address[](0));
        drawGas = g - gasleft();
        assertEq(c.length, k);
    }

    /// @dev Mean draw gas over `n` seeds (probing after a collision varies with the seed).
    function _meanDraw(uint256 k, uint256 n) internal returns (uint256 mean) {
        for (uint256 i; i < n; ++i) {
            (, uint256 d) = _measure(k, uint256(keccak256(abi.encode("seed", i))));
            mean += d;
        }
        mean /= n;
    }
}

abstract contract SortitionGasAt is SortitionGasBase {
    function _poolSize() internal pure virtual returns (uint256);

    function setUp() public override {
        super.setUp();
        // One top-level call, so that `--isolate` runs the registrations as a single transaction.
        this.registerUpTo(_poolSize());
        assertEq(scheduler.poolSize(modelId), _poolSize());
    }

    function test_gas_selectCommittee3() public {
        (uint256 s, uint256 d) = _measure(3, uint256(keccak256("seed")));
        console.log("pool", _poolSize(), "sortition k=3: snapshot", s);
        console.log("draw", d);
    }

    function test_gas_selectCommitteeLarge() public {
        uint256 k = _poolSize() < 15 ? 9 : 15;
        (uint256 s, uint256 d) = _measure(k, uint256(keccak256("seed")));
        console.log("pool", _poolSize(), "sortition large k", k);
        console.log("snapshot", s, "draw", d);
    }

    function test_gas_roundRobinCommittee3() public {
        scheduler.setPolicy(modelId, PromptScheduler.Policy.RoundRobin);
        (uint256 s, uint256 d) = _measure(3, 0);
        console.log("pool", _poolSize(), "round-robin k=3: snapshot", s);
        console.log("draw", d);
    }
}

contract SortitionGas10Test is SortitionGasAt {
    function _poolSize() internal pure override returns (uint256) {
        return 10;
    }
}

contract SortitionGas1000Test is SortitionGasAt {
    function _poolSize() internal pure override returns (uint256) {
        return 1000;
    }
}

contract SortitionGas10000Test is SortitionGasAt {
    function _poolSize() internal pure override returns (uint256) {
        return 10_000;
    }
}

/// @notice The flatness goal itself: the mean draw gas for k = 3 and k = 7 with 10,000 nodes stays
///         within 5% of the same with 100 nodes (fewer nodes mean more collisions, so small pools
///         are if anything dearer), and a snapshot costs the same at every size.
contract SortitionFlatnessTest is SortitionGasBase {
    function test_selectionGasIsFlatFrom100To10000Nodes() public {
        this.registerUpTo(100);
        uint256 small3 = _meanDraw(3, 16);
        uint256 small7 = _meanDraw(7, 16);
        (uint256 smallSnap,) = _measure(3, 1);
        this.registerUpTo(10_000);
        uint256 large3 = _meanDraw(3, 16);
        uint256 large7 = _meanDraw(7, 16);
        (uint256 largeSnap,) = _measure(3, 1);
        console.log("k=3 mean draw gas, 100 vs 10,000 nodes", small3, large3);
        console.log("k=7 mean draw gas, 100 vs 10,000 nodes", small7, large7);
        console.log("snapshot gas, 100 vs 10,000 nodes", smallSnap, largeSnap);
        assertLe(large3, small3 * 105 / 100, "k=3 draw grows with the pool");
        assertLe(large7, small7 * 105 / 100, "k=7 draw grows with the pool");
        assertLe(largeSnap, smallSnap * 101 / 100, "snapshot grows with the pool");
    }
}
