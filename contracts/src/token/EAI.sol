// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {ERC20Capped} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Capped.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title EAI
/// @notice The aikernel staking and reward token. Nodes stake EAI in GPUManagement; block rewards
///         are minted by the kernel (MINTER_ROLE) on a decaying per-prompt schedule that can never
///         exceed the hard cap. Slashed stake is partly burned, so supply only shrinks outside emission.
/// @dev The emission schedule lives in DecentralizedInference (it credits rewards at settlement and
///      mints them when a node withdraws); this contract enforces the cap and tracks burns.
contract EAI is ERC20Capped, ERC20Burnable, AccessControl {
    /// @notice Role allowed to mint (the DecentralizedInference kernel).
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @notice Total EAI ever burned (slashing burns and voluntary burns).
    uint256 public totalBurned;

    /// @notice Emitted when tokens are minted by a minter.
    event Minted(address indexed minter, address indexed to, uint256 amount);

    /// @notice Thrown when the genesis supply exceeds the cap.
    error GenesisAboveCap(uint256 genesis, uint256 cap);

    /// @param admin Receives DEFAULT_ADMIN_ROLE (grants MINTER_ROLE to the kernel).
    /// @param cap_ Hard cap on the total supply (18 decimals).
    /// @param genesisHolder Receives the genesis supply (distribution to node operators).
    /// @param genesisSupply Tokens minted at deployment.
    constructor(address admin, uint256 cap_, address genesisHolder, uint256 genesisSupply)
        ERC20("aikernel EAI", "EAI")
        ERC20Capped(cap_)
    {
        if (genesisSupply > cap_) revert GenesisAboveCap(genesisSupply, cap_);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        if (genesisSupply > 0) _mint(genesisHolder, genesisSupply);
    }

    /// @notice Mints `amount` to `to`; only MINTER_ROLE; reverts above the cap.
    /// @param to Recipient.
    /// @param amount Amount in wei of EAI.
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
        emit Minted(msg.sender, to, amount);
    }

    /// @notice Room left under the hard cap.
    function mintable() external view returns (uint256) {
        return cap() - totalSupply();
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Capped) {
        super._update(from, to, value);
        if (to == address(0)) totalBurned += value;
    }
}
