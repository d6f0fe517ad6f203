// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {IAIKernel} from "../interfaces/IAIKernel.sol";
import {Schema} from "../lib/Schema.sol";
import {AppBase} from "./AppBase.sol";

/// @title AIWallet
/// @notice A wallet that holds ETH for its owner and asks the aikernel whether each outgoing transfer
///         is suspicious before the funds leave. The question carries the wallet's transaction history
///         as context: every executed, approved or cancelled transfer is appended to the wallet's
///         topic (TOPIC), next to the earlier questions and answers the kernel records there.
///         Not flagged: the transfer executes in the callback. Flagged, or no usable answer: it is
///         held until the owner approves or cancels it. While a transfer is pending or held its
///         amount is locked.
/// @dev The callback never reverts and never gives control away with much gas: the payment is pushed
///      with SEND_GAS gas and, if that fails, credited to the recipient (`claim`).
contract AIWallet is AppBase, Ownable {
    using Strings for uint256;
    using Strings for address;

    /*//////////////////////////////////////////////////////////////
                               CONSTANTS
    //////////////////////////////////////////////////////////////*/

    /// @notice The wallet's context topic (its transaction history).
    bytes32 public constant TOPIC = keccak256("aikernel.apps.AIWallet.history");
    /// @notice maxTokens of every request: `false` spelled one byte per token still fits.
    uint32 public constant MAX_TOKENS = 8;
    /// @notice Gas the kernel forwards to `onAIResult`.
    uint32 public constant CALLBACK_GAS = 250_000;
    /// @notice Gas forwarded with a payment pushed from the callback.
    uint256 public constant SEND_GAS = 30_000;
    /// @notice Longest transfer memo, in bytes.
    uint256 public constant MAX_MEMO_BYTES = 256;

    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    /// @notice Lifecycle of a transfer.
    enum Status {
        None,
        Pending,
        Held,
        Executed,
        Cancelled
    }

    /// @notice A transfer. `flagged` is the kernel's answer (false when it gave none).
    struct Transfer {
        address to;
        uint96 amount;
        Status status;
        bool flagged;
        uint256 promptId;
        string memo;
    }

    /*//////////////////////////////////////////////////////////////
                                 STATE
    //////////////////////////////////////////////////////////////*/

    /// @notice Number of transfers (ids are 1..transferCount).
    uint256 public transferCount;
    /// @notice Wei locked by Pending and Held transfers.
    uint256 public locked;
    /// @notice Wei credited to recipients whose pushed payment failed (`claim`).
    mapping(address => uint256) public credits;
    /// @notice Sum of `credits`.
    uint256 public totalCredits;
    mapping(uint256 => Transfer) internal _transfers;
    /// @notice The transfer a prompt checks.
    mapping(uint256 promptId => uint256 transferId) public transferOfPrompt;

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice ETH arrived from someone other than the kernel.
    event Deposited(address indexed from, uint256 amount);
    /// @notice The owner asked for a transfer; its amount is locked until the check ends.
    event TransferRequested(
        uint256 indexed transferId, uint256 indexed promptId, address indexed to, uint256 amount, string memo
    );
    /// @notice The transfer was flagged (or got no usable answer, `code` says why) and is held.
    event TransferHeld(uint256 indexed transferId, uint256 indexed promptId, bool flagged, uint8 code);
    /// @notice The transfer left the wallet (`approved`: by the owner after a hold).
    event TransferExecuted(uint256 indexed transferId, address indexed to, uint256 amount, bool approved);
    /// @notice A pushed payment failed; the recipient can `claim` it.
    event PaymentCredited(uint256 indexed transferId, address indexed to, uint256 amount);
    /// @notice The owner cancelled a held transfer; its amount is unlocked.
    event TransferCancelled(uint256 indexed transferId);
    /// @notice A recipient claimed its credit.
    event Claimed(address indexed to, uint256 amount);

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice The zero address as recipient.
    error ZeroAddress();
    /// @notice A zero amount, or one above 2^96 - 1 wei.
    error InvalidAmount(uint256 amount);
    /// @notice The amount exceeds the unlocked balance.
    error InsufficientBalance(uint256 available, uint256 amount);
    /// @notice A memo longer than MAX_MEMO_BYTES.
    error MemoTooLong(uint256 length);
    /// @notice The transfer is not Held.
    error NotHeld(uint256 transferId, Status status);
    /// @notice Nothing to claim.
    error NothingToClaim();

    /// @param kernel_ The kernel (DecentralizedInference).
    /// @param modelId_ Model id.
    /// @param committeeSize_ Committee size (odd). The deployer owns the wallet.
    constructor(IAIKernel kernel_, uint256 modelId_, uint16 committeeSize_)
        AppBase(kernel_, modelId_, committeeSize_)
        Ownable(msg.sender)
    {}

    /// @notice Deposits ETH (anyone); kernel refunds are accepted silently.
    receive() external payable override {
        if (msg.sender != address(kernel)) emit Deposited(msg.sender, msg.value);
    }

    /*//////////////////////////////////////////////////////////////
                                 OWNER
    //////////////////////////////////////////////////////////////*/

    /// @notice Asks to send `amount` wei to `to`; the kernel checks it first. `msg.value` pays the
    ///         check (at least `checkFee()`; the excess is sent back) and is not part of the balance.
    /// @param to Recipient.
    /// @param amount Wei, at most `available()`.
    /// @param memo Free text shown to the model (<= 256 bytes; may be empty).
    /// @return transferId The transfer.
    /// @return promptId The kernel prompt; watch `TransferExecuted` / `TransferHeld`.
    function transfer(address to, uint256 amount, string calldata memo)
        external
        payable
        onlyOwner
        nonReentrant
        returns (uint256 transferId, uint256 promptId)
    {
        if (to == address(0)) revert ZeroAddress();
        if (amount == 0 || amount > type(uint96).max) revert InvalidAmount(amount);
        if (bytes(memo).length > MAX_MEMO_BYTES) revert MemoTooLong(bytes(memo).length);
        uint256 avail = address(this).balance - msg.value - locked - totalCredits;
        if (amount > avail) revert InsufficientBalance(avail, amount);
        uint256 fee = checkFee();
        uint256 excess = _collect(fee);
        transferId = ++transferCount;
        locked += amount;
        IAIKernel.Request memory r = _newRequest(
            TOPIC, bytes(promptFor(to, amount, memo)), "", Schema.boolean(), MAX_TOKENS, CALLBACK_GAS
        );
        promptId = _submit(r, fee, msg.sender, fee);
        _transfers[transferId] = Transfer({
            to: to,
            amount: uint96(amount),
            status: Status.Pending,
            flagged: false,
            promptId: promptId,
            memo: memo
        });
        transferOfPrompt[promptId] = transferId;
        emit TransferRequested(transferId, promptId, to, amount, memo);
        _send(msg.sender, excess);
    }

    /// @notice Sends a held transfer anyway.
    /// @param transferId A Held transfer.
    function approve(uint256 transferId) external onlyOwner nonReentrant {
        Transfer storage t = _held(transferId);
        t.status = Status.Executed;
        locked -= t.amount;
        _feed(TOPIC, bytes(_historyEntry("approved by the owner", t.to, t.amount)));
        emit TransferExecuted(transferId, t.to, t.amount, true);
        _send(t.to, t.amount);
    }

    /// @notice Cancels a held transfer; its amount is unlocked.
    /// @param transferId A Held transfer.
    function cancel(uint256 transferId) external onlyOwner {
        Transfer storage t = _held(transferId);
        t.status = Status.Cancelled;
        locked -= t.amount;
        _feed(TOPIC, bytes(_historyEntry("cancelled by the owner", t.to, t.amount)));
        emit TransferCancelled(transferId);
    }

    /*//////////////////////////////////////////////////////////////
                               RECIPIENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice Sends the caller the payments that could not be pushed to it.
    function claim() external nonReentrant {
        uint256 amount = credits[msg.sender];
        if (amount == 0) revert NothingToClaim();
        credits[msg.sender] = 0;
        totalCredits -= amount;
        emit Claimed(msg.sender, amount);
        _send(msg.sender, amount);
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice Wei to send with `transfer` (the kernel fee of the check).
    function checkFee() public view returns (uint256) {
        return _kernelFee(MAX_TOKENS, CALLBACK_GAS);
    }

    /// @notice Wei the owner can still transfer (balance minus locked amounts and credits).
    function available() external view returns (uint256) {
        return address(this).balance - locked - totalCredits;
    }

    /// @notice A transfer.
    /// @param transferId The transfer.
    function transferOf(uint256 transferId) external view returns (Transfer memory) {
        return _transfers[transferId];
    }

    /// @notice The exact prompt input of a transfer check:
    ///         `"suspiciousTransaction: the wallet owner wants to send " + amount + " wei to " + to +
    ///         " (memo: " + memo + "). Given the wallet's transaction history above, is this transaction
    ///         suspicious?"` (amount in decimal, `to` as 0x + 40 lowercase hex digits).
    /// @param to Recipient.
    /// @param amount Wei.
    /// @param memo Memo.
    function promptFor(address to, uint256 amount, string memory memo) public pure returns (string memory) {
        return string.concat(
            "suspiciousTransaction: the wallet owner wants to send ",
            amount.toString(),
            " wei to ",
            to.toHexString(),
            " (memo: ",
            memo,
            "). Given the wallet's transaction history above, is this transaction suspicious?"
        );
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    function _held(uint256 transferId) private view returns (Transfer storage t) {
        t = _transfers[transferId];
        if (t.status != Status.Held) revert NotHeld(transferId, t.status);
    }

    /// @dev `"Transfer of " + amount + " wei to " + to + ": " + what`.
    function _historyEntry(string memory what, address to, uint256 amount)
        private
        pure
        returns (string memory)
    {
        return string.concat("Transfer of ", amount.toString(), " wei to ", to.toHexString(), ": ", what);
    }

    function _onAppResult(uint256 promptId, bool success, bytes calldata output) internal override {
        uint256 id = transferOfPrompt[promptId];
        Transfer storage t = _transfers[id];
        if (id == 0 || t.status != Status.Pending) return;
        (bool ok, uint256 value, uint8 code) = _word(success, output);
        if (ok && value == 0) {
            _execute(id, t);
        } else {
            t.status = Status.Held;
            t.flagged = ok && value == 1;
            emit TransferHeld(id, promptId, t.flagged, code);
        }
    }

    /// @dev Executes from the callback: state first, then a bounded push, then a credit if it failed.
    function _execute(uint256 id, Transfer storage t) private {
        address to = t.to;
        uint256 amount = t.amount;
        t.status = Status.Executed;
        locked -= amount;
        _feed(TOPIC, bytes(_historyEntry("executed", to, amount)));
        emit TransferExecuted(id, to, amount, false);
        (bool sent,) = to.call{value: amount, gas: SEND_GAS}("");
        if (!sent) {
            credits[to] += amount;
            totalCredits += amount;
            emit PaymentCredited(id, to, amount);
        }
    }

    /// @dev A refunded check holds the transfer for the owner.
    function _onRefund(uint256 promptId) internal override {
        uint256 id = transferOfPrompt[promptId];
        Transfer storage t = _transfers[id];
        if (t.status == Status.Pending) {
            t.status = Status.Held;
            emit TransferHeld(id, promptId, false, 0);
        }
    }
}
