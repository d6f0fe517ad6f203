// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ERC20Capped} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Capped.sol";
import {EAI} from "../../src/token/EAI.sol";
import {ModelFileSystem} from "../../src/kernel/ModelFileSystem.sol";
import {ContextManager} from "../../src/kernel/ContextManager.sol";
import {KernelBase} from "./KernelBase.sol";

contract EAITest is Test {
    EAI internal token;
    address internal minter = makeAddr("minter");

    function setUp() public {
        token = new EAI(address(this), 1000 ether, address(this), 100 ether);
        token.grantRole(token.MINTER_ROLE(), minter);
    }

    function test_genesisAndCap() public view {
        assertEq(token.totalSupply(), 100 ether);
        assertEq(token.cap(), 1000 ether);
        assertEq(token.mintable(), 900 ether);
    }

    function test_constructor_revert_GenesisAboveCap() public {
        vm.expectRevert(abi.encodeWithSelector(EAI.GenesisAboveCap.selector, 2 ether, 1 ether));
        new EAI(address(this), 1 ether, address(this), 2 ether);
    }

    function testFuzz_mint_respectsCap(uint256 amount) public {
        amount = bound(amount, 0, 2000 ether);
        vm.prank(minter);
        if (amount > 900 ether) {
            vm.expectRevert(
                abi.encodeWithSelector(ERC20Capped.ERC20ExceededCap.selector, 100 ether + amount, 1000 ether)
            );
        }
        token.mint(address(1), amount);
    }

    function test_mint_revert_notMinter() public {
        bytes32 role = token.MINTER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, address(this), role
            )
        );
        token.mint(address(1), 1);
    }

    function testFuzz_burn_tracksTotalBurned(uint256 amount) public {
        amount = bound(amount, 0, 100 ether);
        token.burn(amount);
        assertEq(token.totalBurned(), amount);
        assertEq(token.totalSupply() + token.totalBurned(), 100 ether);
    }
}

contract ModelFileSystemTest is KernelBase {
    function test_register_storesEverything() public view {
        (ModelFileSystem.ModelSpec memory s, bool active) = models.getModel(modelId);
        assertTrue(active);
        assertEq(s.name, "SmolLM2-135M-Instruct");
        assertEq(s.uris.length, 1);
        assertEq(s.size, 98_362_432);
        assertEq(models.modelCount(), 1);
        assertTrue(models.exists(modelId));
        assertEq(models.activeFeePerToken(modelId), FEE_PER_TOKEN);
    }

    function test_register_revert_InvalidModelField() public {
        string[7] memory fields = ["name", "driver", "format", "contentRoot", "size", "chunkSize", "uris"];
        for (uint256 i; i < fields.length; ++i) {
            ModelFileSystem.ModelSpec memory s = _spec();
            if (i == 0) s.name = "";
            if (i == 1) s.driver = "";
            if (i == 2) s.format = "";
            if (i == 3) s.contentRoot = bytes32(0);
            if (i == 4) s.size = 0;
            if (i == 5) s.chunkSize = 0;
            if (i == 6) s.uris = new string[](0);
            vm.expectRevert(abi.encodeWithSelector(ModelFileSystem.InvalidModelField.selector, fields[i]));
            models.registerModel(s);
        }
        ModelFileSystem.ModelSpec memory t = _spec();
        t.minDeviceCount = 0;
        vm.expectRevert(abi.encodeWithSelector(ModelFileSystem.InvalidModelField.selector, "minDeviceCount"));
        models.registerModel(t);
        t = _spec();
        t.uris[0] = "";
        vm.expectRevert(abi.encodeWithSelector(ModelFileSystem.InvalidModelField.selector, "uris"));
        models.registerModel(t);
    }

    function test_register_revert_TooManyUris() public {
        ModelFileSystem.ModelSpec memory s = _spec();
        s.uris = new string[](9);
        vm.expectRevert(abi.encodeWithSelector(ModelFileSystem.TooManyUris.selector, 9, 8));
        models.registerModel(s);
    }

    function test_register_revert_unauthorized() public {
        ModelFileSystem.ModelSpec memory s = _spec();
        bytes32 role = models.MODEL_ADMIN_ROLE();
        vm.prank(user);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, user, role)
        );
        models.registerModel(s);
    }

    function test_setters() public {
        models.setFee(modelId, 7);
        assertEq(models.activeFeePerToken(modelId), 7);
        models.setActive(modelId, false);
        vm.expectRevert(abi.encodeWithSelector(ModelFileSystem.ModelInactive.selector, modelId));
        models.activeFeePerToken(modelId);
        string[] memory uris = new string[](2);
        uris[0] = "ar://x";
        uris[1] = "https://example.org/m.gguf";
        models.setUris(modelId, uris);
        (ModelFileSystem.ModelSpec memory s,) = models.getModel(modelId);
        assertEq(s.uris.length, 2);
        assertEq(s.uris[1], "https://example.org/m.gguf");
        vm.expectRevert(abi.encodeWithSelector(ModelFileSystem.InvalidModelField.selector, "uris"));
        models.setUris(modelId, new string[](0));
        vm.expectRevert(abi.encodeWithSelector(ModelFileSystem.TooManyUris.selector, 9, 8));
        models.setUris(modelId, new string[](9));
    }

    function test_unknownModel_everywhere() public {
        vm.expectRevert(abi.encodeWithSelector(ModelFileSystem.UnknownModel.selector, 9));
        models.setFee(9, 1);
        vm.expectRevert(abi.encodeWithSelector(ModelFileSystem.UnknownModel.selector, 9));
        models.setActive(9, true);
        vm.expectRevert(abi.encodeWithSelector(ModelFileSystem.UnknownModel.selector, 9));
        models.setUris(9, new string[](1));
        vm.expectRevert(abi.encodeWithSelector(ModelFileSystem.UnknownModel.selector, 9));
        models.getModel(9);
        vm.expectRevert(abi.encodeWithSelector(ModelFileSystem.UnknownModel.selector, 9));
        models.activeFeePerToken(9);
        vm.expectRevert(abi.encodeWithSelector(ModelFileSystem.UnknownModel.selector, 9));
        models.meetsMinimum(9, 1, 1);
    }

    function testFuzz_meetsMinimum(uint64 mem, uint32 count) public view {
        assertEq(models.meetsMinimum(modelId, mem, count), mem >= 512 && count >= 1);
    }
}

contract ContextManagerTest is KernelBase {
    bytes32 internal constant TOPIC = keccak256("prices");
    address internal feeder = makeAddr("feeder");

    function test_appendContext_byOwnerAndFeeder() public {
        vm.prank(user);
        context.appendContext(user, TOPIC, "ETH=3000", bytes32(0));
        vm.prank(feeder);
        vm.expectRevert(abi.encodeWithSelector(ContextManager.NotFeeder.selector, user, TOPIC, feeder));
        context.appendContext(user, TOPIC, "ETH=1", bytes32(0));
        vm.prank(user);
        context.setFeeder(TOPIC, feeder, true);
        assertTrue(context.isFeeder(user, TOPIC, feeder));
        vm.prank(feeder);
        uint64 idx = context.appendContext(user, TOPIC, "", keccak256("off-chain doc"));
        assertEq(idx, 1);
        vm.prank(user);
        context.setFeeder(TOPIC, feeder, false);
        vm.prank(feeder);
        vm.expectRevert(abi.encodeWithSelector(ContextManager.NotFeeder.selector, user, TOPIC, feeder));
        context.appendContext(user, TOPIC, "x", bytes32(0));
    }

    function test_appendContext_revert_InvalidFeed() public {
        vm.startPrank(user);
        vm.expectRevert(ContextManager.InvalidFeed.selector);
        context.appendContext(user, TOPIC, "", bytes32(0));
        vm.expectRevert(ContextManager.InvalidFeed.selector);
        context.appendContext(user, TOPIC, new bytes(8193), bytes32(0));
        vm.stopPrank();
    }

    function test_appendPrompt_onlyKernel() public {
        bytes32 role = context.KERNEL_ROLE();
        vm.prank(user);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, user, role)
        );
        context.appendPrompt(user, TOPIC, 1, "x", bytes32(0));
        vm.prank(user);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, user, role)
        );
        context.appendResult(user, TOPIC, 1, "x");
    }

    function testFuzz_rootFollowsProtocol(bytes calldata a, bytes calldata b, bytes32 h) public {
        vm.assume(a.length > 0 && a.length <= 8192 && b.length <= 8192);
        vm.startPrank(user);
        vm.expectEmit(true, true, true, true, address(context));
        bytes32 e0 = keccak256(abi.encode(uint8(2), uint256(0), keccak256(a), bytes32(0)));
        bytes32 r0 = keccak256(abi.encode(bytes32(0), e0));
        emit ContextManager.ContextAppended(user, TOPIC, 0, 2, 0, a, bytes32(0), r0);
        context.appendContext(user, TOPIC, a, bytes32(0));
        if (b.length == 0 && h == bytes32(0)) h = bytes32(uint256(1));
        context.appendContext(user, TOPIC, b, h);
        vm.stopPrank();
        bytes32 e1 = context.entryHash(2, 0, b, h);
        assertEq(e1, keccak256(abi.encode(uint8(2), uint256(0), keccak256(b), h)));
        (uint64 len, bytes32 root) = context.chainOf(user, TOPIC);
        assertEq(len, 2);
        assertEq(root, keccak256(abi.encode(r0, e1)));
    }
}
