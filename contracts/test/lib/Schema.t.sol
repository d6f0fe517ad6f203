// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {Schema} from "../../src/lib/Schema.sol";

/// @notice Exposes the library so reverts happen one call deep (for expectRevert).
contract SchemaHarness {
    function text(uint16 m) external pure returns (bytes memory) {
        return Schema.text(m);
    }

    function choice(string[] memory o) external pure returns (bytes memory) {
        return Schema.choice(o);
    }

    function integer(int64 a, int64 b) external pure returns (bytes memory) {
        return Schema.integer(a, b);
    }

    function tuple(bytes[] memory items) external pure returns (bytes memory) {
        return Schema.tuple(items);
    }

    function array(bytes memory e, uint8 m) external pure returns (bytes memory) {
        return Schema.array(e, m);
    }

    function isValid(bytes calldata s) external pure returns (bool) {
        return Schema.isValid(s);
    }
}

/// @notice Schema.sol against the vectors written by crates/schema/tests/fixtures.rs.
contract SchemaTest is Test {
    string internal json;
    SchemaHarness internal h;

    function setUp() public {
        json = vm.readFile("contracts/test/fixtures/schema_vectors.json");
        h = new SchemaHarness();
    }

    function _out(string memory name, string memory field) internal view returns (bytes memory) {
        return vm.parseJsonBytes(json, string.concat(".outputs.", name, ".", field));
    }

    function _strings(string memory a, string memory b, string memory c)
        internal
        pure
        returns (string[] memory o)
    {
        o = new string[](bytes(c).length == 0 ? 2 : 3);
        o[0] = a;
        o[1] = b;
        if (o.length == 3) o[2] = c;
    }

    // ------------------------------------------------------------------
    // Builders
    // ------------------------------------------------------------------

    function test_buildersMatchRustEncoding() public view {
        assertEq(Schema.text(64), _out("text", "schema"));
        assertEq(Schema.choice(_strings("low", "medium", "high")), _out("choice", "schema"));
        assertEq(Schema.integer(-1000, 1000), _out("intSigned", "schema"));
        assertEq(Schema.integer(0, 1_000_000), _out("intUnsigned", "schema"));
        assertEq(Schema.integer(type(int64).min, type(int64).max), _out("intMin", "schema"));
        assertEq(Schema.boolean(), _out("bool", "schema"));
        assertEq(Schema.addr(), _out("address", "schema"));
        bytes[] memory items = new bytes[](3);
        items[0] = Schema.integer(0, 100);
        items[1] = Schema.text(32);
        items[2] = Schema.boolean();
        assertEq(Schema.tuple(items), _out("tuple", "schema"));
        assertEq(Schema.array(Schema.integer(-10, 10), 8), _out("array", "schema"));
        items[0] = Schema.array(Schema.text(16), 4);
        items[1] = Schema.choice(_strings("a", "b", ""));
        items[2] = Schema.addr();
        assertEq(Schema.tuple(items), _out("nested", "schema"));
        assertEq(_out("free", "schema").length, 0);
    }

    function test_documentedBytes() public pure {
        assertEq(Schema.text(300), hex"01012c");
        assertEq(Schema.integer(-1, 2), hex"03ffffffffffffffff0000000000000002");
        assertEq(Schema.array(Schema.boolean(), 5), hex"070504");
    }

    function test_builderRejections() public {
        vm.expectRevert(abi.encodeWithSelector(Schema.SchemaTextMaxBytes.selector, uint16(0)));
        h.text(0);
        vm.expectRevert(abi.encodeWithSelector(Schema.SchemaTextMaxBytes.selector, uint16(4097)));
        h.text(4097);
        vm.expectRevert(abi.encodeWithSelector(Schema.SchemaIntRange.selector, int64(2), int64(1)));
        h.integer(2, 1);
        vm.expectRevert(abi.encodeWithSelector(Schema.SchemaChoiceCount.selector, uint256(1)));
        h.choice(new string[](1));
        vm.expectRevert(abi.encodeWithSelector(Schema.SchemaOptionLength.selector, uint256(1), uint256(0)));
        h.choice(_strings("a", "", ""));
        vm.expectRevert(abi.encodeWithSelector(Schema.SchemaInvalid.selector, hex"0202016101" hex"61"));
        h.choice(_strings("a", "a", ""));
        vm.expectRevert(abi.encodeWithSelector(Schema.SchemaTupleArity.selector, uint256(0)));
        h.tuple(new bytes[](0));
        vm.expectRevert(abi.encodeWithSelector(Schema.SchemaArrayMaxLen.selector, uint8(65)));
        h.array(hex"04", 65);
        vm.expectRevert(abi.encodeWithSelector(Schema.SchemaInvalid.selector, hex"0701"));
        h.array("", 1);
        bytes memory deep = Schema.array(Schema.array(Schema.array(Schema.boolean(), 1), 1), 1);
        vm.expectRevert(abi.encodeWithSelector(Schema.SchemaInvalid.selector, bytes.concat(hex"0701", deep)));
        h.array(deep, 1);
    }

    // ------------------------------------------------------------------
    // Validation: same verdicts as Rust
    // ------------------------------------------------------------------

    function test_isValidMatchesRust() public view {
        uint256 n = vm.parseJsonUint(json, ".schemaCount");
        assertGt(n, 40);
        for (uint256 i; i < n; ++i) {
            string memory at = string.concat(".schemas[", vm.toString(i), "]");
            bytes memory s = vm.parseJsonBytes(json, string.concat(at, ".schema"));
            bool valid = vm.parseJsonBool(json, string.concat(at, ".valid"));
            assertEq(h.isValid(s), valid, vm.parseJsonString(json, string.concat(at, ".name")));
        }
    }

    /// @dev Gas of isValid on a typical schema and on the worst cases (255 options, 1024 bytes).
    function test_isValidGas() public {
        string[3] memory names = ["nested mix", "choice 255 options", "length 1024"];
        uint256[3] memory caps = [uint256(20_000), 600_000, 600_000];
        uint256 n = vm.parseJsonUint(json, ".schemaCount");
        for (uint256 k; k < 3; ++k) {
            for (uint256 i; i < n; ++i) {
                string memory at = string.concat(".schemas[", vm.toString(i), "]");
                if (
                    keccak256(bytes(vm.parseJsonString(json, string.concat(at, ".name"))))
                        != keccak256(bytes(names[k]))
                ) {
                    continue;
                }
                bytes memory s = vm.parseJsonBytes(json, string.concat(at, ".schema"));
                uint256 g = gasleft();
                bool ok = Schema.isValid(s);
                g -= gasleft();
                assertTrue(ok);
                emit log_named_uint(names[k], g);
                assertLt(g, caps[k]);
            }
        }
    }

    function testFuzz_isValidNeverReverts(bytes calldata s) public view {
        bool ok = h.isValid(s);
        if (ok) assertLe(s.length, Schema.MAX_SCHEMA_BYTES);
    }

    function testFuzz_isValidOnMutatedSchemas(uint256 at, bytes1 b, bool cut) public view {
        bytes memory s = _out("nested", "schema");
        if (cut) {
            // Every proper non-empty prefix ends inside a node.
            at = bound(at, 1, s.length - 1);
            assembly {
                mstore(s, at)
            }
            assertFalse(h.isValid(s));
        } else {
            at = bound(at, 0, s.length - 1);
            s[at] = b;
            h.isValid(s);
        }
    }

    function testFuzz_integerBuilderValid(int64 a, int64 b) public pure {
        (a, b) = a <= b ? (a, b) : (b, a);
        assertTrue(Schema.isValid(Schema.integer(a, b)));
    }

    // ------------------------------------------------------------------
    // Node-produced outputs decode to the expected values
    // ------------------------------------------------------------------

    function test_decodeLeafOutputs() public view {
        assertEq(abi.decode(_out("free", "output"), (string)), unicode"free text ✓");
        assertEq(abi.decode(_out("text", "output"), (string)), "hello, world");
        assertEq(abi.decode(_out("choice", "output"), (uint8)), 1);
        assertEq(abi.decode(_out("intSigned", "output"), (int256)), -42);
        assertEq(abi.decode(_out("intUnsigned", "output"), (uint256)), 65535);
        assertEq(abi.decode(_out("intMin", "output"), (int256)), type(int64).min);
        assertTrue(abi.decode(_out("bool", "output"), (bool)));
        assertEq(abi.decode(_out("address", "output"), (address)), address(0xdeadbeef));
    }

    function test_decodeCompositeOutputs() public view {
        (uint256 n, string memory s, bool b) = abi.decode(_out("tuple", "output"), (uint256, string, bool));
        assertEq(n, 42);
        assertEq(s, "ok \"fine\"");
        assertTrue(b);

        int256[] memory a = abi.decode(_out("array", "output"), (int256[]));
        assertEq(a.length, 3);
        assertEq(a[0], 1);
        assertEq(a[1], -2);
        assertEq(a[2], 3);

        (string[] memory words, uint8 pick, address who) =
            abi.decode(_out("nested", "output"), (string[], uint8, address));
        assertEq(words.length, 2);
        assertEq(words[0], "x");
        assertEq(words[1], "yz");
        assertEq(pick, 1);
        assertEq(who, address(0xbeef));
    }

    function test_outputsAreNotErrors() public view {
        string[11] memory names = [
            "free",
            "text",
            "choice",
            "intSigned",
            "intUnsigned",
            "intMin",
            "bool",
            "address",
            "tuple",
            "array",
            "nested"
        ];
        for (uint256 i; i < names.length; ++i) {
            bytes memory out = _out(names[i], "output");
            assertEq(out.length % 32, 0);
            (bool isError,) = Schema.errorCode(out);
            assertFalse(isError);
        }
    }

    // ------------------------------------------------------------------
    // Error outputs
    // ------------------------------------------------------------------

    function test_errorOutputs() public view {
        assertEq(Schema.ERROR_SELECTOR, bytes4(0x76152ceb));
        for (uint256 i; i < 5; ++i) {
            string memory at = string.concat(".errors[", vm.toString(i), "]");
            uint8 code = uint8(vm.parseJsonUint(json, string.concat(at, ".code")));
            bytes memory out = vm.parseJsonBytes(json, string.concat(at, ".output"));
            assertEq(out, abi.encodeWithSelector(bytes4(keccak256("AIKernelError(uint8)")), code));
            assertEq(out.length % 32, 4);
            (bool isError, uint8 got) = Schema.errorCode(out);
            assertTrue(isError);
            assertEq(got, code);
        }
        (bool e,) = Schema.errorCode(abi.encodeWithSelector(Schema.ERROR_SELECTOR, uint256(256)));
        assertFalse(e);
        (e,) = Schema.errorCode(abi.encodeWithSelector(bytes4(0x12345678), uint256(1)));
        assertFalse(e);
    }
}
