// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Schema
/// @notice Builders and validation for the compact output-schema encoding (docs/schema.md), and the
///         error-output check of docs/protocol.md. The rules are byte-for-byte those of the Rust crate
///         `aikernel-schema`; both are tested against contracts/test/fixtures/schema_vectors.json.
/// @dev Every loop is bounded: a schema is at most 1024 bytes, nesting at most 4, a choice at most 255
///      options (duplicates are found
///      with a hash set kept at most half full).
library Schema {
    /*//////////////////////////////////////////////////////////////
                                CONSTANTS
    //////////////////////////////////////////////////////////////*/

    /// @notice Node kinds.
    uint8 internal constant TEXT = 0x01;
    uint8 internal constant CHOICE = 0x02;
    uint8 internal constant INT = 0x03;
    uint8 internal constant BOOL = 0x04;
    uint8 internal constant ADDRESS = 0x05;
    uint8 internal constant TUPLE = 0x06;
    uint8 internal constant ARRAY = 0x07;

    /// @notice Largest encoded schema, in bytes.
    uint256 internal constant MAX_SCHEMA_BYTES = 1024;
    /// @notice Deepest nesting (a top-level leaf is depth 1).
    uint256 internal constant MAX_DEPTH = 4;
    /// @notice Largest TEXT maxBytes.
    uint256 internal constant MAX_TEXT_BYTES = 4096;
    /// @notice Longest CHOICE option, in bytes.
    uint256 internal constant MAX_OPTION_BYTES = 64;
    /// @notice Most TUPLE items.
    uint256 internal constant MAX_TUPLE_ITEMS = 16;
    /// @notice Largest ARRAY maxLen.
    uint256 internal constant MAX_ARRAY_LEN = 64;

    /// @notice `bytes4(keccak256("AIKernelError(uint8)"))`, the selector of a deterministic error output.
    bytes4 internal constant ERROR_SELECTOR = bytes4(keccak256("AIKernelError(uint8)"));

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice TEXT maxBytes outside 1..=4096.
    error SchemaTextMaxBytes(uint16 maxBytes);
    /// @notice CHOICE with fewer than 2 or more than 255 options.
    error SchemaChoiceCount(uint256 count);
    /// @notice CHOICE option `index` is empty or longer than 64 bytes.
    error SchemaOptionLength(uint256 index, uint256 length);
    /// @notice INT range with min > max.
    error SchemaIntRange(int64 min, int64 max);
    /// @notice TUPLE with 0 or more than 16 items.
    error SchemaTupleArity(uint256 count);
    /// @notice ARRAY maxLen outside 1..=64.
    error SchemaArrayMaxLen(uint8 maxLen);
    /// @notice The built schema breaks a rule checked by `isValid` (duplicate or non-UTF-8 option,
    ///         nesting deeper than 4, longer than 1024 bytes, or a malformed item).
    error SchemaInvalid(bytes schema);

    /*//////////////////////////////////////////////////////////////
                                BUILDERS
    //////////////////////////////////////////////////////////////*/

    /// @notice UTF-8 text of at most `maxBytes` bytes (1..=4096); ABI `string`.
    function text(uint16 maxBytes) internal pure returns (bytes memory) {
        if (maxBytes == 0 || maxBytes > MAX_TEXT_BYTES) revert SchemaTextMaxBytes(maxBytes);
        return abi.encodePacked(TEXT, maxBytes);
    }

    /// @notice One of `options` (2..=255 distinct UTF-8 strings of 1..=64 bytes); ABI `uint8` (the index).
    function choice(string[] memory options) internal pure returns (bytes memory out) {
        uint256 n = options.length;
        if (n < 2 || n > 255) revert SchemaChoiceCount(n);
        out = abi.encodePacked(CHOICE, uint8(n));
        for (uint256 i; i < n; ++i) {
            uint256 len = bytes(options[i]).length;
            if (len == 0 || len > MAX_OPTION_BYTES) revert SchemaOptionLength(i, len);
            out = bytes.concat(out, bytes1(uint8(len)), bytes(options[i]));
        }
        _requireValid(out);
    }

    /// @notice An integer in `min..=max`; ABI `int256` when `min < 0`, else `uint256`.
    function integer(int64 min, int64 max) internal pure returns (bytes memory) {
        if (min > max) revert SchemaIntRange(min, max);
        return abi.encodePacked(INT, min, max);
    }

    /// @notice `true` or `false`; ABI `bool`.
    function boolean() internal pure returns (bytes memory) {
        return abi.encodePacked(BOOL);
    }

    /// @notice A 20-byte address; ABI `address`.
    function addr() internal pure returns (bytes memory) {
        return abi.encodePacked(ADDRESS);
    }

    /// @notice A fixed sequence of 1..=16 values; decoded as `abi.decode(output, (T1, .., Tn))` at the top.
    function tuple(bytes[] memory items) internal pure returns (bytes memory out) {
        uint256 n = items.length;
        if (n == 0 || n > MAX_TUPLE_ITEMS) revert SchemaTupleArity(n);
        out = abi.encodePacked(TUPLE, uint8(n));
        for (uint256 i; i < n; ++i) {
            out = bytes.concat(out, items[i]);
        }
        _requireValid(out);
    }

    /// @notice Up to `maxLen` (1..=64) values of type `element`; ABI `T[]`.
    function array(bytes memory element, uint8 maxLen) internal pure returns (bytes memory out) {
        if (maxLen == 0 || maxLen > MAX_ARRAY_LEN) revert SchemaArrayMaxLen(maxLen);
        out = bytes.concat(abi.encodePacked(ARRAY, maxLen), element);
        _requireValid(out);
    }

    /*//////////////////////////////////////////////////////////////
                               VALIDATION
    //////////////////////////////////////////////////////////////*/

    /// @notice True when `schema` is a valid v1 encoding (empty = free text). Never reverts.
    function isValid(bytes memory schema) internal pure returns (bool) {
        uint256 n = schema.length;
        if (n == 0) return true;
        if (n > MAX_SCHEMA_BYTES) return false;
        (bool ok, uint256 end) = _node(schema, 0, 1);
        return ok && end == n;
    }

    /// @notice Tells an error output from a value: `isError` when `output` is
    ///         `abi.encodeWithSelector(ERROR_SELECTOR, code)` with `code` < 256.
    function errorCode(bytes memory output) internal pure returns (bool isError, uint8 code) {
        if (output.length != 36) return (false, 0);
        bytes32 head;
        uint256 word;
        assembly ("memory-safe") {
            head := mload(add(output, 32))
            word := mload(add(output, 36))
        }
        if (bytes4(head) != ERROR_SELECTOR || word > type(uint8).max) return (false, 0);
        return (true, uint8(word));
    }

    function _requireValid(bytes memory schema) private pure {
        if (!isValid(schema)) revert SchemaInvalid(schema);
    }

    /// @dev Validates the node at `i`; returns the offset after it.
    function _node(bytes memory s, uint256 i, uint256 depth) private pure returns (bool, uint256) {
        uint256 n = s.length;
        if (depth > MAX_DEPTH || i >= n) return (false, 0);
        uint8 kind = uint8(s[i++]);
        if (kind == TEXT) {
            if (i + 2 > n) return (false, 0);
            uint256 m = (uint256(uint8(s[i])) << 8) | uint8(s[i + 1]);
            return (m != 0 && m <= MAX_TEXT_BYTES, i + 2);
        }
        if (kind == CHOICE) return _choice(s, i);
        if (kind == INT) {
            if (i + 16 > n) return (false, 0);
            int64 lo = int64(uint64(_be64(s, i)));
            int64 hi = int64(uint64(_be64(s, i + 8)));
            return (lo <= hi, i + 16);
        }
        if (kind == BOOL || kind == ADDRESS) return (true, i);
        if (kind == TUPLE) {
            if (i >= n) return (false, 0);
            uint256 count = uint8(s[i++]);
            if (count == 0 || count > MAX_TUPLE_ITEMS) return (false, 0);
            for (uint256 k; k < count; ++k) {
                bool ok;
                (ok, i) = _node(s, i, depth + 1);
                if (!ok) return (false, 0);
            }
            return (true, i);
        }
        if (kind == ARRAY) {
            if (i >= n) return (false, 0);
            uint256 maxLen = uint8(s[i]);
            if (maxLen == 0 || maxLen > MAX_ARRAY_LEN) return (false, 0);
            return _node(s, i + 1, depth + 1);
        }
        return (false, 0);
    }

    function _choice(bytes memory s, uint256 i) private pure returns (bool, uint256) {
        uint256 n = s.length;
        if (i >= n) return (false, 0);
        uint256 count = uint8(s[i++]);
        if (count < 2) return (false, 0);
        // Open-addressing set of option hashes, at most half full: linear time.
        uint256 mask = 3;
        while (mask < 2 * count) {
            mask = (mask << 1) | 1;
        }
        bytes32[] memory seen = new bytes32[](mask + 1);
        for (uint256 k; k < count; ++k) {
            if (i >= n) return (false, 0);
            uint256 len = uint8(s[i++]);
            if (len == 0 || len > MAX_OPTION_BYTES || i + len > n) return (false, 0);
            if (!_utf8(s, i, i + len)) return (false, 0);
            bytes32 h;
            assembly ("memory-safe") {
                h := keccak256(add(add(s, 32), i), len)
            }
            uint256 slot = uint256(h) & mask;
            while (seen[slot] != bytes32(0)) {
                if (seen[slot] == h) return (false, 0);
                slot = (slot + 1) & mask;
            }
            seen[slot] = h;
            i += len;
        }
        return (true, i);
    }

    function _be64(bytes memory s, uint256 i) private pure returns (uint256 v) {
        for (uint256 k; k < 8; ++k) {
            v = (v << 8) | uint8(s[i + k]);
        }
    }

    /// @dev Well-formed UTF-8 (no overlong forms, surrogates or code points above U+10FFFF).
    function _utf8(bytes memory s, uint256 i, uint256 end) private pure returns (bool) {
        while (i < end) {
            uint256 b = uint8(s[i]);
            if (b < 0x80) {
                ++i;
                continue;
            }
            uint256 need;
            uint256 lo = 0x80;
            uint256 hi = 0xbf;
            if (b >= 0xc2 && b <= 0xdf) {
                need = 1;
            } else if (b == 0xe0) {
                (need, lo) = (2, 0xa0);
            } else if ((b >= 0xe1 && b <= 0xec) || b == 0xee || b == 0xef) {
                need = 2;
            } else if (b == 0xed) {
                (need, hi) = (2, 0x9f);
            } else if (b == 0xf0) {
                (need, lo) = (3, 0x90);
            } else if (b >= 0xf1 && b <= 0xf3) {
                need = 3;
            } else if (b == 0xf4) {
                (need, hi) = (3, 0x8f);
            } else {
                return false;
            }
            if (i + need >= end) return false;
            for (uint256 k = 1; k <= need; ++k) {
                uint256 c = uint8(s[i + k]);
                if (c < lo || c > hi) return false;
                (lo, hi) = (0x80, 0xbf);
            }
            i += need + 1;
        }
        return true;
    }
}
