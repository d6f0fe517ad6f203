// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Script, console} from "forge-std/Script.sol";
import {EAI} from "../src/token/EAI.sol";
import {ModelFileSystem} from "../src/kernel/ModelFileSystem.sol";
import {PromptScheduler} from "../src/kernel/PromptScheduler.sol";
import {GPUManagement} from "../src/kernel/GPUManagement.sol";
import {ContextManager} from "../src/kernel/ContextManager.sol";
import {DecentralizedInference} from "../src/kernel/DecentralizedInference.sol";

/// @title Deploy
/// @notice Deploys the kernel one contract at a time and wires the roles, in exactly the order
///         documented in docs/contracts.md (the Rust deployer follows the same sequence).
/// @dev `forge script contracts/script/Deploy.s.sol --rpc-url $RPC --broadcast --private-key $KEY`
///      Optional environment: TREASURY (default: the deployer), EAI_CAP, EAI_GENESIS,
///      REWARD_BUDGET, REWARD_HALVING (seconds; defaults below).
contract Deploy is Script {
    /// @notice Defaults: 1e9 EAI cap, 1e8 genesis to the deployer, 5e8 block-reward budget emitted
    ///         by time, the rate halving every 365 days.
    uint256 public constant DEFAULT_CAP = 1_000_000_000 ether;
    uint256 public constant DEFAULT_GENESIS = 100_000_000 ether;
    uint256 public constant DEFAULT_REWARD_BUDGET = 500_000_000 ether;
    uint256 public constant DEFAULT_HALVING = 365 days;

    /// @notice The deployed addresses.
    struct Deployment {
        EAI eai;
        ModelFileSystem models;
        PromptScheduler scheduler;
        GPUManagement gpu;
        ContextManager context;
        DecentralizedInference kernel;
    }

    /// @notice Parameters of a deployment.
    struct Params {
        address admin;
        address treasury;
        uint256 cap;
        uint256 genesis;
        uint256 rewardBudget;
        uint64 halvingPeriod;
    }

    /// @notice Entry point for `forge script`.
    function run() external returns (Deployment memory d) {
        address deployer = msg.sender;
        Params memory p = Params({
            admin: deployer,
            treasury: vm.envOr("TREASURY", deployer),
            cap: vm.envOr("EAI_CAP", DEFAULT_CAP),
            genesis: vm.envOr("EAI_GENESIS", DEFAULT_GENESIS),
            rewardBudget: vm.envOr("REWARD_BUDGET", DEFAULT_REWARD_BUDGET),
            halvingPeriod: uint64(vm.envOr("REWARD_HALVING", DEFAULT_HALVING))
        });
        vm.startBroadcast();
        d = deploy(p);
        vm.stopBroadcast();
        console.log("EAI", address(d.eai));
        console.log("ModelFileSystem", address(d.models));
        console.log("PromptScheduler", address(d.scheduler));
        console.log("GPUManagement", address(d.gpu));
        console.log("ContextManager", address(d.context));
        console.log("DecentralizedInference", address(d.kernel));
    }

    /// @notice Deploys and wires everything; the caller (or broadcaster) must be `p.admin`.
    function deploy(Params memory p) public returns (Deployment memory d) {
        // 1-6: contracts, one transaction each.
        d.eai = new EAI(p.admin, p.cap, p.admin, p.genesis);
        d.models = new ModelFileSystem(p.admin);
        d.scheduler = new PromptScheduler(p.admin);
        d.gpu = new GPUManagement(p.admin, d.eai, d.models, d.scheduler, p.treasury);
        d.context = new ContextManager(p.admin);
        d.kernel = new DecentralizedInference(p.admin, d.models, d.scheduler, d.gpu, d.context, p.treasury);
        // 7-11: role grants (by the admin).
        d.scheduler.grantRole(d.scheduler.POOL_MANAGER_ROLE(), address(d.gpu));
        d.scheduler.grantRole(d.scheduler.ASSIGNER_ROLE(), address(d.kernel));
        d.gpu.grantRole(d.gpu.SLASHER_ROLE(), address(d.kernel));
        d.context.grantRole(d.context.KERNEL_ROLE(), address(d.kernel));
        d.eai.grantRole(d.eai.MINTER_ROLE(), address(d.gpu));
        // 12: the block-reward emission: the budget over two halving periods' worth of the first rate.
        d.gpu.startRewards(uint128(p.rewardBudget / (2 * uint256(p.halvingPeriod))), p.halvingPeriod);
    }
}
