// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAIKernel} from "../interfaces/IAIKernel.sol";
import {ModelFileSystem} from "./ModelFileSystem.sol";
import {PromptScheduler} from "./PromptScheduler.sol";
import {GPUManagement} from "./GPUManagement.sol";
import {ContextManager} from "./ContextManager.sol";
import {RequestBlob} from "./RequestBlob.sol";
import {KernelCore} from "./KernelCore.sol";

/// @title KernelExtension
/// @notice Entry points of DecentralizedInference that do not fit in its code. The kernel deploys
///         this contract in its constructor and runs these functions with DELEGATECALL, on its own
///         storage and with its own `msg.sender`; called directly, they see an empty kernel.
contract KernelExtension is KernelCore {
    constructor(
        address admin,
        ModelFileSystem models_,
        PromptScheduler scheduler_,
        GPUManagement gpu_,
        ContextManager context_
    ) KernelCore(admin, models_, scheduler_, gpu_, context_) {}

    /// @notice Declines the current round before committing: the honest way out for a member that
    ///         cannot compute the prompt before the commit deadline. It costs no stake, unlike
    ///         silence, but the node earns nothing from the prompt, forfeits its unclaimed block
    ///         rewards and is jailed with no jail time: out of the pools, so it is not drawn again
    ///         while busy, until it calls `unjail`. Once every member has committed or declined, the round moves
    ///         on at once: to reveals when a majority committed, else to the next committee.
    /// @param promptId The prompt.
    function decline(uint256 promptId) external nonReentrant {
        (Prompt storage p, Prompt memory pm, uint256 k, mapping(address => uint256) storage members) =
            _enter(promptId);
        if (k == 0) return;
        members[msg.sender] = DECLINED;
        emit Declined(promptId, pm.round, msg.sender);
        // Out of the pools until it calls `unjail` (at once, when it has room again); its
        // unclaimed block rewards are forfeited, so declining is no way to earn without working.
        try gpu.punish(msg.sender, 0, new address[](0), 3, 0) {} catch {}
        uint256 declined;
        address[] memory committee = _loadCommittee(promptId, pm.round);
        for (uint256 i; i < k; ++i) {
            uint256 s = members[committee[i]];
            if (s == 0) return;
            if (s == DECLINED) ++declined;
        }
        if (k - declined > k / 2) p.status = IAIKernel.Status.Revealing;
        else _failRound(promptId, p, pm.round, false);
    }

    /// @notice The request of a prompt, decoded from its blob.
    /// @param promptId The prompt.
    function requestOf(uint256 promptId) external view returns (IAIKernel.Request memory) {
        return RequestBlob.request(_blob(promptId));
    }

    /// @notice The committee of the prompt's current round: the stored one once drawn, the one the
    ///         draw will pick once the seed block is past, or empty before that.
    /// @param promptId The prompt.
    function committeeOf(uint256 promptId) external view returns (address[] memory) {
        Prompt memory pm = _prompts[promptId];
        if (pm.status == IAIKernel.Status.None) revert UnknownPrompt(promptId);
        address[] memory stored = _loadCommittee(promptId, pm.round);
        if (stored.length != 0 || pm.status != IAIKernel.Status.Committing) return stored;
        RequestBlob.Hot memory h = RequestBlob.hot(pm.blob);
        Draw memory d = _currentDraw(promptId, pm, h);
        bytes32 bh = blockhash(d.seedBlock);
        if (bh == bytes32(0)) return new address[](0);
        return scheduler.preview(
            h.modelId, _roundSize(pm, h), _seed(bh, promptId, pm), _snapshot(d), _excluded(promptId, pm.round)
        );
    }
}
