// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {Deploy} from "../../script/Deploy.s.sol";

/// @notice The deployment script wires every role the kernel needs.
contract DeployTest is Test {
    function test_deployWiresRoles() public {
        Deploy script = new Deploy();
        // Under `forge script` the broadcaster is both admin and sender; here the script is.
        address admin = address(script);
        Deploy.Params memory p = Deploy.Params(admin, makeAddr("treasury"), 1e27, 1e26, 5e26, 365 days);
        Deploy.Deployment memory d = script.deploy(p);
        assertTrue(d.scheduler.hasRole(d.scheduler.POOL_MANAGER_ROLE(), address(d.gpu)));
        assertTrue(d.scheduler.hasRole(d.scheduler.ASSIGNER_ROLE(), address(d.kernel)));
        assertTrue(d.gpu.hasRole(d.gpu.SLASHER_ROLE(), address(d.kernel)));
        assertTrue(d.context.hasRole(d.context.KERNEL_ROLE(), address(d.kernel)));
        assertTrue(d.eai.hasRole(d.eai.MINTER_ROLE(), address(d.gpu)));
        assertFalse(d.eai.hasRole(d.eai.MINTER_ROLE(), address(d.kernel)));
        assertTrue(d.models.hasRole(d.models.MODEL_ADMIN_ROLE(), admin));
        assertEq(d.eai.balanceOf(admin), 1e26);
        assertEq(address(d.kernel.gpu()), address(d.gpu));
        assertEq(d.kernel.owner(), admin);
        // The block-reward emission: 5e26 over two halving periods' worth of the first rate.
        assertEq(d.gpu.initialRewardRate(), uint256(5e26) / (2 * 365 days));
        assertEq(d.gpu.halvingPeriod(), 365 days);
    }
}
