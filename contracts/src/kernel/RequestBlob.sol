// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAIKernel} from "../interfaces/IAIKernel.sol";

/// @title RequestBlob
/// @notice Stores a prompt's immutable record as the code of a tiny contract (write once, read
///         with EXTCODECOPY) and parses it back. Code costs 200 gas a byte against 20,000 gas a
///         32-byte storage slot, which makes a request about 2.5x cheaper to keep on-chain.
/// @dev Layout (packed, big-endian), after a leading STOP byte that makes the contract uncallable:
///      0 requester(20) 20 callback(20) 40 callbackGasLimit(4) 44 committeeSize(2) 46 maxTokens(4)
///      50 temperature(4) 54 seed(8) 62 contextIndex(4) 66 workSeconds(4) 70 nodeFee(12)
///      82 protocolFee(12)
///      94 callbackFee(12) 106 modelId(4) 110 seedBlock(8) 118 snapshot length(4)
///      122 snapshot live(4) 126 snapshot version(6) 132 topic(32) 164 contextRoot(32)
///      then u16 length + input (or u16 0xffff + the 32-byte inputHash when the input is kept
///      off-chain), u16 length + extraContext, u16 length + schema.
///      Model ids are registry counters and fit 32 bits (an id beyond is unknown, so never stored);
///      a context index beyond 32 bits (2^32 transactions on one chain) is refused.
library RequestBlob {
    /// @notice Size of the fixed header.
    uint256 internal constant HEADER = 196;
    /// @notice The input length marking an off-chain input (its hash follows).
    uint256 internal constant HASHED_INPUT = 0xffff;

    /// @notice The fields the kernel reads after submission (one EXTCODECOPY of the header).
    struct Hot {
        address requester;
        address callback;
        uint32 callbackGasLimit;
        uint16 committeeSize;
        uint96 nodeFee;
        uint96 protocolFee;
        uint96 callbackFee;
        uint256 modelId;
        bytes32 topic;
        uint64 contextIndex;
        bytes32 contextRoot;
        Draw draw;
        uint32 workSeconds;
    }

    /// @notice How round 0's committee is drawn: from the pool snapshot taken at submission, with
    ///         the hash of block `seedBlock` (a block after the submission's).
    struct Draw {
        uint64 seedBlock;
        uint32 length;
        uint32 live;
        uint48 version;
    }

    /// @notice The blob could not be deployed.
    error BlobWriteFailed();
    /// @notice The context chain is longer than the blob can record.
    error ContextTooLong(uint64 index);

    /// @notice What the kernel adds to a request when it accepts it.
    struct Meta {
        address requester;
        uint64 contextIndex;
        bytes32 contextRoot;
        uint96 nodeFee;
        uint96 protocolFee;
        uint96 callbackFee;
        Draw draw;
        uint32 workSeconds;
    }

    /// @notice Encodes and stores a request with its context position, fees and round-0 draw.
    /// @dev CREATE2 salted with the prompt id: the address follows the content, so a request that a
    ///      reorg puts under an existing id gets another address (commitments are tagged with it).
    function write(IAIKernel.Request calldata r, Meta memory meta, uint256 promptId)
        internal
        returns (address blob)
    {
        if (meta.contextIndex > type(uint32).max) revert ContextTooLong(meta.contextIndex);
        bytes memory data = bytes.concat(_head(r, meta), _tail(r));
        assembly ("memory-safe") {
            let n := mload(data)
            // PUSH2 n+1, DUP1, PUSH1 0x0a, RETURNDATASIZE, CODECOPY, RETURNDATASIZE, RETURN, STOP
            mstore(data, add(0x61000180600a3d393df300, shl(0x40, n)))
            blob := create2(0, add(data, 0x15), add(n, 0x0b), promptId)
            mstore(data, n)
        }
        if (blob == address(0)) revert BlobWriteFailed();
    }

    /// @notice Reads the fields settlement needs (one EXTCODECOPY).
    function hot(address blob) internal view returns (Hot memory h) {
        bytes memory b = _read(blob, 0, HEADER);
        uint256 w0 = _word(b, 0);
        uint256 w20 = _word(b, 20);
        uint256 w40 = _word(b, 40);
        h.requester = address(uint160(w0 >> 96));
        h.callback = address(uint160(w20 >> 96));
        h.callbackGasLimit = uint32(w40 >> 224);
        h.committeeSize = uint16(w40 >> 208);
        h.nodeFee = uint96(_word(b, 70) >> 160);
        h.protocolFee = uint96(_word(b, 82) >> 160);
        h.callbackFee = uint96(_word(b, 94) >> 160);
        uint256 w = _word(b, 106);
        h.modelId = w >> 224;
        h.draw = Draw(uint64(w >> 160), uint32(w >> 128), uint32(w >> 96), uint48(w >> 48));
        uint256 w62 = _word(b, 62);
        h.contextIndex = uint64(w62 >> 224);
        h.workSeconds = uint32(w62 >> 192);
        h.topic = bytes32(_word(b, 132));
        h.contextRoot = bytes32(_word(b, 164));
    }

    /// @notice Decodes the full request.
    function request(address blob) internal view returns (IAIKernel.Request memory r) {
        uint256 size;
        assembly {
            size := extcodesize(blob)
        }
        bytes memory b = _read(blob, 0, size - 1);
        uint256 w40 = _word(b, 40);
        r.callback = address(uint160(_word(b, 20) >> 96));
        r.callbackGasLimit = uint32(w40 >> 224);
        r.committeeSize = uint16(w40 >> 208);
        r.maxTokens = uint32(w40 >> 176);
        r.temperature = uint32(w40 >> 144);
        r.seed = uint64(w40 >> 80);
        r.modelId = _word(b, 106) >> 224;
        r.topic = bytes32(_word(b, 132));
        uint256 off = HEADER;
        if (_word(b, off) >> 240 == HASHED_INPUT) {
            r.inputHash = bytes32(_word(b, off + 2));
            off += 34;
        } else {
            (r.input, off) = _slice(b, off);
        }
        (r.extraContext, off) = _slice(b, off);
        (r.schema,) = _slice(b, off);
    }

    function _head(IAIKernel.Request calldata r, Meta memory meta) private pure returns (bytes memory) {
        return bytes.concat(
            abi.encodePacked(
                meta.requester,
                r.callback,
                r.callbackGasLimit,
                r.committeeSize,
                r.maxTokens,
                r.temperature,
                r.seed,
                uint32(meta.contextIndex),
                meta.workSeconds,
                meta.nodeFee,
                meta.protocolFee
            ),
            abi.encodePacked(
                meta.callbackFee,
                uint32(r.modelId),
                meta.draw.seedBlock,
                meta.draw.length,
                meta.draw.live,
                meta.draw.version,
                r.topic,
                meta.contextRoot
            )
        );
    }

    function _tail(IAIKernel.Request calldata r) private pure returns (bytes memory) {
        return bytes.concat(
            r.inputHash != 0
                ? abi.encodePacked(uint16(HASHED_INPUT), r.inputHash)
                : abi.encodePacked(uint16(r.input.length), r.input),
            abi.encodePacked(uint16(r.extraContext.length), r.extraContext),
            abi.encodePacked(uint16(r.schema.length), r.schema)
        );
    }

    function _slice(bytes memory b, uint256 off) private pure returns (bytes memory out, uint256 next) {
        uint256 len = _word(b, off) >> 240;
        out = new bytes(len);
        for (uint256 i; i < len; i += 32) {
            uint256 w = _word(b, off + 2 + i);
            assembly ("memory-safe") {
                mstore(add(add(out, 32), i), w)
            }
        }
        // Clear anything copied past the end of `out` by the last full-word store.
        assembly ("memory-safe") {
            mstore(add(add(out, 32), len), 0)
        }
        next = off + 2 + len;
    }

    function _read(address blob, uint256 offset, uint256 len) private view returns (bytes memory b) {
        b = new bytes(len + 32);
        assembly ("memory-safe") {
            extcodecopy(blob, add(b, 32), add(offset, 1), len)
        }
    }

    function _word(bytes memory b, uint256 off) private pure returns (uint256 w) {
        assembly ("memory-safe") {
            w := mload(add(add(b, 32), off))
        }
    }
}
