// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {GPUManagement} from "../../src/kernel/GPUManagement.sol";
import {ModelFileSystem} from "../../src/kernel/ModelFileSystem.sol";
import {KernelBase} from "./KernelBase.sol";

contract GPUManagementTest is KernelBase {
    address internal op = makeAddr("operator");

    function setUp() public override {
        super.setUp();
        eai.transfer(op, 100_000 ether);
        vm.prank(op);
        eai.approve(address(gpu), type(uint256).max);
    }

    function _register(uint256 stake) internal {
        vm.prank(op);
        gpu.register(_hardware(), _models(), stake);
    }

    function test_register_stakesAndJoinsPool() public {
        vm.expectEmit(true, true, true, true, address(gpu));
        emit GPUManagement.NodeRegistered(op, "cpu-avx2", 24_576, 1, _models(), STAKE);
        _register(STAKE);
        assertTrue(gpu.isRegistered(op));
        assertTrue(gpu.isEligible(op));
        assertTrue(scheduler.inPool(modelId, op));
        GPUManagement.Node memory n = gpu.nodeInfo(op);
        assertEq(n.stake, STAKE);
        assertEq(n.hardware.memoryMiB, 24_576);
        assertEq(n.models.length, 1);
        assertEq(eai.balanceOf(address(gpu)), STAKE);
    }

    function test_register_revert_AlreadyRegistered() public {
        _register(STAKE);
        vm.prank(op);
        vm.expectRevert(abi.encodeWithSelector(GPUManagement.AlreadyRegistered.selector, op));
        gpu.register(_hardware(), _models(), STAKE);
    }

    function test_register_revert_StakeTooLow() public {
        vm.prank(op);
        vm.expectRevert(abi.encodeWithSelector(GPUManagement.StakeTooLow.selector, 999 ether, 1000 ether));
        gpu.register(_hardware(), _models(), 999 ether);
    }

    function test_register_revert_InvalidAmount() public {
        vm.prank(op);
        vm.expectRevert(
            abi.encodeWithSelector(GPUManagement.InvalidAmount.selector, uint256(type(uint128).max) + 1)
        );
        gpu.register(_hardware(), _models(), uint256(type(uint128).max) + 1);
    }

    function test_register_revert_InvalidHardware() public {
        GPUManagement.Hardware memory hw = _hardware();
        hw.memoryMiB = 0;
        vm.prank(op);
        vm.expectRevert(GPUManagement.InvalidHardware.selector);
        gpu.register(hw, _models(), STAKE);
        hw = _hardware();
        hw.deviceCount = 0;
        vm.prank(op);
        vm.expectRevert(GPUManagement.InvalidHardware.selector);
        gpu.register(hw, _models(), STAKE);
        hw = _hardware();
        hw.deviceModel = "";
        vm.prank(op);
        vm.expectRevert(GPUManagement.InvalidHardware.selector);
        gpu.register(hw, _models(), STAKE);
    }

    function test_register_revert_InvalidModelList() public {
        vm.prank(op);
        vm.expectRevert(GPUManagement.InvalidModelList.selector);
        gpu.register(_hardware(), new uint256[](0), STAKE);
        uint256[] memory dup = new uint256[](2);
        dup[0] = modelId;
        dup[1] = modelId;
        vm.prank(op);
        vm.expectRevert(GPUManagement.InvalidModelList.selector);
        gpu.register(_hardware(), dup, STAKE);
        uint256[] memory many = new uint256[](17);
        vm.prank(op);
        vm.expectRevert(GPUManagement.InvalidModelList.selector);
        gpu.register(_hardware(), many, STAKE);
    }

    function test_register_revert_HardwareBelowMinimum() public {
        GPUManagement.Hardware memory hw = _hardware();
        hw.memoryMiB = 256;
        vm.prank(op);
        vm.expectRevert(abi.encodeWithSelector(GPUManagement.HardwareBelowMinimum.selector, modelId));
        gpu.register(hw, _models(), STAKE);
    }

    function test_register_revert_UnknownModel() public {
        uint256[] memory ids = new uint256[](1);
        ids[0] = 42;
        vm.prank(op);
        vm.expectRevert(abi.encodeWithSelector(ModelFileSystem.UnknownModel.selector, 42));
        gpu.register(_hardware(), ids, STAKE);
    }

    function testFuzz_register_hardwareGate(uint64 mem, uint32 devices, uint256 stake) public {
        stake = bound(stake, 1000 ether, 100_000 ether);
        mem = uint64(bound(mem, 1, type(uint64).max));
        devices = uint32(bound(devices, 1, type(uint32).max));
        GPUManagement.Hardware memory hw = GPUManagement.Hardware("gpu", mem, devices);
        vm.prank(op);
        if (mem < 512) {
            vm.expectRevert(abi.encodeWithSelector(GPUManagement.HardwareBelowMinimum.selector, modelId));
        }
        gpu.register(hw, _models(), stake);
        assertEq(gpu.isEligible(op), mem >= 512);
    }

    function test_addStake() public {
        vm.prank(op);
        vm.expectRevert(abi.encodeWithSelector(GPUManagement.NotRegistered.selector, op));
        gpu.addStake(1 ether);
        _register(STAKE);
        vm.prank(op);
        vm.expectRevert(abi.encodeWithSelector(GPUManagement.InvalidAmount.selector, 0));
        gpu.addStake(0);
        vm.prank(op);
        gpu.addStake(5 ether);
        assertEq(gpu.nodeInfo(op).stake, STAKE + 5 ether);
    }

    function test_pauseResume() public {
        _register(STAKE);
        vm.prank(op);
        gpu.pause();
        assertFalse(scheduler.inPool(modelId, op));
        vm.prank(op);
        vm.expectRevert(
            abi.encodeWithSelector(GPUManagement.WrongStatus.selector, GPUManagement.NodeStatus.Paused)
        );
        gpu.pause();
        vm.prank(op);
        gpu.resume();
        assertTrue(scheduler.inPool(modelId, op));
        vm.prank(op);
        vm.expectRevert(
            abi.encodeWithSelector(GPUManagement.WrongStatus.selector, GPUManagement.NodeStatus.Active)
        );
        gpu.resume();
    }

    function test_unbond_partialDropsBelowMinimumLeavesPool() public {
        _register(1500 ether);
        vm.prank(op);
        gpu.unbond(100 ether);
        assertTrue(gpu.isEligible(op));
        vm.prank(op);
        gpu.unbond(500 ether);
        assertFalse(gpu.isEligible(op));
        GPUManagement.Node memory n = gpu.nodeInfo(op);
        assertEq(n.unbonding, 600 ether);
        assertEq(n.unbondingEnd, block.timestamp + 7 days);
        vm.prank(op);
        vm.expectRevert(abi.encodeWithSelector(GPUManagement.InvalidAmount.selector, 901 ether));
        gpu.unbond(901 ether);
        vm.prank(op);
        gpu.addStake(100 ether);
        assertTrue(gpu.isEligible(op));
    }

    function test_unregisterAndWithdraw() public {
        _register(STAKE);
        vm.prank(op);
        gpu.unregister();
        assertFalse(scheduler.inPool(modelId, op));
        vm.prank(op);
        vm.expectRevert(abi.encodeWithSelector(GPUManagement.NotRegistered.selector, op));
        gpu.unregister();
        vm.prank(op);
        vm.expectRevert(abi.encodeWithSelector(GPUManagement.NotRegistered.selector, op));
        gpu.unbond(1);
        uint64 end = gpu.nodeInfo(op).unbondingEnd;
        vm.prank(op);
        vm.expectRevert(abi.encodeWithSelector(GPUManagement.StillUnbonding.selector, end));
        gpu.withdrawUnbonded();
        vm.warp(end);
        uint256 before = eai.balanceOf(op);
        vm.prank(op);
        gpu.withdrawUnbonded();
        assertEq(eai.balanceOf(op), before + STAKE);
        assertFalse(gpu.isRegistered(op));
        vm.prank(op);
        vm.expectRevert(abi.encodeWithSelector(GPUManagement.InvalidAmount.selector, 0));
        gpu.withdrawUnbonded();
        _register(STAKE); // may come back
        assertTrue(gpu.isEligible(op));
    }

    function test_slash_onlySlasherAndNeverReverts() public {
        bytes32 role = gpu.SLASHER_ROLE();
        vm.prank(op);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, op, role)
        );
        gpu.slash(op, 100, new address[](0), 1);
        gpu.grantRole(gpu.SLASHER_ROLE(), address(this));
        assertEq(gpu.slash(makeAddr("nobody"), 10_000, new address[](0), 2), 0);
        gpu.jail(makeAddr("nobody"), 100); // no-op for unknown nodes
    }

    function test_slash_takesFromUnbondingToo() public {
        _register(2000 ether);
        vm.prank(op);
        gpu.unbond(1000 ether);
        gpu.grantRole(gpu.SLASHER_ROLE(), address(this));
        uint256 burnedBefore = eai.totalBurned();
        uint256 amount = gpu.slash(op, 5000, new address[](0), 1);
        assertEq(amount, 1000 ether);
        GPUManagement.Node memory n = gpu.nodeInfo(op);
        assertEq(n.stake, 500 ether);
        assertEq(n.unbonding, 500 ether);
        assertEq(eai.totalBurned() - burnedBefore, 500 ether);
        assertEq(eai.balanceOf(treasury), 500 ether);
        assertFalse(gpu.isEligible(op)); // below minimum
    }

    function test_slash_creditsBeneficiaries() public {
        _register(STAKE);
        address honest = _addNode("honest");
        address exiting = _addNode("exiting");
        vm.prank(exiting);
        gpu.unregister();
        gpu.grantRole(gpu.SLASHER_ROLE(), address(this));
        address[] memory b = new address[](2);
        b[0] = honest;
        b[1] = exiting;
        gpu.slash(op, 1000, b, 1);
        assertEq(gpu.nodeInfo(honest).stake, STAKE + 250 ether);
        assertEq(gpu.nodeInfo(exiting).unbonding, STAKE + 250 ether);
    }

    function testFuzz_slash_neverExceedsBalance(uint256 stake, uint256 unbondAmt, uint256 bps) public {
        stake = bound(stake, 1000 ether, 100_000 ether);
        unbondAmt = bound(unbondAmt, 0, stake);
        _register(stake);
        if (unbondAmt > 0) {
            vm.prank(op);
            gpu.unbond(unbondAmt);
        }
        gpu.grantRole(gpu.SLASHER_ROLE(), address(this));
        uint256 before = gpu.slashableOf(op);
        uint256 amount = gpu.slash(op, bps, new address[](0), 1);
        assertLe(amount, before);
        assertEq(gpu.slashableOf(op), before - amount);
        assertEq(eai.balanceOf(address(gpu)), gpu.slashableOf(op));
    }

    function test_jailAndUnjail() public {
        _register(STAKE);
        gpu.grantRole(gpu.SLASHER_ROLE(), address(this));
        vm.prank(op);
        vm.expectRevert(abi.encodeWithSelector(GPUManagement.CannotUnjail.selector, 0));
        gpu.unjail();
        gpu.jail(op, 100);
        assertFalse(gpu.isEligible(op));
        vm.warp(block.timestamp + 100);
        vm.prank(op);
        gpu.unjail();
        assertTrue(gpu.isEligible(op));
    }

    function test_sync_afterMinStakeRaised() public {
        _register(STAKE);
        gpu.setParameters(STAKE + 1, 7 days, 5000, treasury);
        assertTrue(gpu.isEligible(op));
        gpu.sync(op);
        assertFalse(gpu.isEligible(op));
    }

    function test_setParameters_bounds() public {
        vm.expectRevert(GPUManagement.InvalidParameter.selector);
        gpu.setParameters(0, 1, 1, treasury);
        vm.expectRevert(GPUManagement.InvalidParameter.selector);
        gpu.setParameters(1, 366 days, 1, treasury);
        vm.expectRevert(GPUManagement.InvalidParameter.selector);
        gpu.setParameters(1, 1, 10_001, treasury);
        vm.expectRevert(GPUManagement.InvalidParameter.selector);
        gpu.setParameters(1, 1, 1, address(0));
        vm.prank(op);
        vm.expectRevert();
        gpu.setParameters(1, 1, 1, treasury);
        vm.expectRevert(GPUManagement.InvalidParameter.selector);
        new GPUManagement(address(this), eai, models, scheduler, address(0));
    }
}

contract ServedModelsTest is KernelBase {
    function test_setServedModels_movesPools() public {
        address n = _addNode("n");
        ModelFileSystem.ModelSpec memory s = _spec();
        s.name = "other";
        uint256 other = models.registerModel(s);
        uint256[] memory ids = new uint256[](2);
        ids[0] = other;
        ids[1] = modelId;
        vm.expectEmit(true, true, true, true, address(gpu));
        emit GPUManagement.ServedModelsSet(n, ids);
        vm.prank(n);
        gpu.setServedModels(ids);
        assertTrue(scheduler.inPool(other, n));
        assertTrue(scheduler.inPool(modelId, n));
        uint256[] memory only = new uint256[](1);
        only[0] = other;
        vm.prank(n);
        gpu.setServedModels(only);
        assertFalse(scheduler.inPool(modelId, n));
        assertEq(gpu.nodeInfo(n).models.length, 1);
        s.name = "big";
        s.minMemoryMiB = 1 << 20;
        uint256 big = models.registerModel(s);
        only[0] = big;
        vm.prank(n);
        vm.expectRevert(abi.encodeWithSelector(GPUManagement.HardwareBelowMinimum.selector, big));
        gpu.setServedModels(only);
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(GPUManagement.NotRegistered.selector, user));
        gpu.setServedModels(only);
        vm.prank(n);
        vm.expectRevert(GPUManagement.InvalidModelList.selector);
        gpu.setServedModels(new uint256[](0));
    }
}
