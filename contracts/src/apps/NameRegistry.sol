// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title NameRegistry
/// @notice A minimal first-come-first-served name registry (the ENS-like registry of the
///         NameGenerator example). A label is 3..24 bytes of `a-z`, `0-9` and `-`, neither starting
///         nor ending with `-`; it is shown as `label.eth`. Names never expire or move.
contract NameRegistry {
    /// @notice Shortest label, in bytes.
    uint256 public constant MIN_LABEL_BYTES = 3;
    /// @notice Longest label, in bytes.
    uint256 public constant MAX_LABEL_BYTES = 24;

    mapping(bytes32 labelHash => address owner) internal _owners;
    /// @notice Number of registered names.
    uint256 public count;

    /// @notice `label` was registered to `owner`.
    event NameRegistered(
        bytes32 indexed labelHash, string label, address indexed owner, address indexed registrar
    );

    /// @notice The label breaks the label rules.
    error InvalidLabel(string label);
    /// @notice The label is registered already.
    error NameTaken(string label, address owner);
    /// @notice The zero address as owner.
    error ZeroAddress();

    /// @notice Registers `label` to `owner`.
    /// @param label The label (see the contract notice).
    /// @param owner The new owner (non-zero).
    function register(string calldata label, address owner) external {
        if (owner == address(0)) revert ZeroAddress();
        if (!isValidLabel(label)) revert InvalidLabel(label);
        bytes32 h = keccak256(bytes(label));
        address current = _owners[h];
        if (current != address(0)) revert NameTaken(label, current);
        _owners[h] = owner;
        ++count;
        emit NameRegistered(h, label, owner, msg.sender);
    }

    /// @notice The owner of `label` (zero when free).
    /// @param label The label.
    function ownerOf(string calldata label) external view returns (address) {
        return _owners[keccak256(bytes(label))];
    }

    /// @notice True when `label` is valid and not registered.
    /// @param label The label.
    function available(string memory label) external view returns (bool) {
        return isValidLabel(label) && _owners[keccak256(bytes(label))] == address(0);
    }

    /// @notice True when `label` follows the label rules.
    /// @param label The label.
    function isValidLabel(string memory label) public pure returns (bool) {
        bytes memory b = bytes(label);
        uint256 n = b.length;
        if (n < MIN_LABEL_BYTES || n > MAX_LABEL_BYTES) return false;
        if (b[0] == "-" || b[n - 1] == "-") return false;
        for (uint256 i; i < n; ++i) {
            bytes1 c = b[i];
            if (!((c >= "a" && c <= "z") || (c >= "0" && c <= "9") || c == "-")) return false;
        }
        return true;
    }
}
