// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {IAIKernel} from "../interfaces/IAIKernel.sol";
import {Schema} from "../lib/Schema.sol";
import {AppBase} from "./AppBase.sol";

/// @title CreditScore
/// @notice Wallet credit scores from the aikernel: an INTEGER in 300..850 for an address, from its
///         history. The history is supplied by the caller with the request, and/or recorded earlier
///         by reporters the owner allows (each record is a Feed entry on the address's topic,
///         `topicOf(account)`, so every later request for that address sees it).
/// @dev One request per address at a time. A score is stored per address with its prompt id.
contract CreditScore is AppBase, Ownable {
    using Strings for address;

    /*//////////////////////////////////////////////////////////////
                               CONSTANTS
    //////////////////////////////////////////////////////////////*/

    /// @notice Lowest score.
    uint64 public constant MIN_SCORE = 300;
    /// @notice Highest score.
    uint64 public constant MAX_SCORE = 850;
    /// @notice Longest history text (supplied or recorded), in bytes.
    uint256 public constant MAX_HISTORY_BYTES = 2048;
    /// @notice maxTokens of every request (three digits).
    uint32 public constant MAX_TOKENS = 8;
    /// @notice Gas the kernel forwards to `onAIResult`.
    uint32 public constant CALLBACK_GAS = 150_000;

    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    /// @notice An address's score (0 before the first), the prompt that gave it and when, and the
    ///         open prompt (0 when none).
    struct Score {
        uint256 score;
        uint256 promptId;
        uint256 updatedAt;
        uint256 pendingPromptId;
    }

    /*//////////////////////////////////////////////////////////////
                                 STATE
    //////////////////////////////////////////////////////////////*/

    /// @notice Whether an account may record history.
    mapping(address => bool) public isReporter;
    mapping(address => Score) internal _scores;
    /// @notice The address a prompt scores.
    mapping(uint256 promptId => address account) public accountOfPrompt;

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice The owner allowed or disallowed a reporter.
    event ReporterSet(address indexed reporter, bool allowed);
    /// @notice A reporter recorded a history entry for `account`.
    event HistoryRecorded(address indexed account, address indexed reporter, string entry);
    /// @notice A score was requested.
    event ScoreRequested(
        address indexed account, uint256 indexed promptId, address indexed requester, uint256 fee
    );
    /// @notice The kernel scored `account`.
    event ScoreUpdated(address indexed account, uint256 indexed promptId, uint256 score);
    /// @notice A request got no score (kernel error `code`, 0 for a malformed value or a refund).
    event ScoreFailed(address indexed account, uint256 indexed promptId, uint8 code);

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice The zero address.
    error ZeroAddress();
    /// @notice The caller is not an allowed reporter.
    error NotReporter(address caller);
    /// @notice A history text longer than MAX_HISTORY_BYTES (or an empty recorded entry).
    error HistoryLength(uint256 length);
    /// @notice A request for the address is already open.
    error ScorePending(address account, uint256 promptId);

    /// @param kernel_ The kernel (DecentralizedInference).
    /// @param modelId_ Model id.
    /// @param committeeSize_ Committee size (odd). The deployer is the owner.
    constructor(IAIKernel kernel_, uint256 modelId_, uint16 committeeSize_)
        AppBase(kernel_, modelId_, committeeSize_)
        Ownable(msg.sender)
    {}

    /*//////////////////////////////////////////////////////////////
                                 OWNER
    //////////////////////////////////////////////////////////////*/

    /// @notice Allows or disallows a reporter.
    /// @param reporter The reporter.
    /// @param allowed Whether it may record history.
    function setReporter(address reporter, bool allowed) external onlyOwner {
        if (reporter == address(0)) revert ZeroAddress();
        isReporter[reporter] = allowed;
        emit ReporterSet(reporter, allowed);
    }

    /*//////////////////////////////////////////////////////////////
                               REPORTERS
    //////////////////////////////////////////////////////////////*/

    /// @notice Records a history entry for `account` (a Feed entry on `topicOf(account)`).
    /// @param account The address the entry is about.
    /// @param entry The entry (1..2048 bytes), e.g. "Repaid a 2 ETH loan on time".
    function recordHistory(address account, string calldata entry) external {
        if (!isReporter[msg.sender]) revert NotReporter(msg.sender);
        if (account == address(0)) revert ZeroAddress();
        uint256 len = bytes(entry).length;
        if (len == 0 || len > MAX_HISTORY_BYTES) revert HistoryLength(len);
        _feed(topicOf(account), bytes(entry));
        emit HistoryRecorded(account, msg.sender, entry);
    }

    /*//////////////////////////////////////////////////////////////
                                 USERS
    //////////////////////////////////////////////////////////////*/

    /// @notice Asks the kernel to score `account`. Send at least `requestFee()`; the excess is sent back.
    /// @param account The address to score.
    /// @param history History supplied with the request (<= 2048 bytes; may be empty when recorded
    ///        history exists).
    /// @return promptId The kernel prompt; watch `ScoreUpdated`.
    function requestScore(address account, string calldata history)
        external
        payable
        nonReentrant
        returns (uint256 promptId)
    {
        if (account == address(0)) revert ZeroAddress();
        if (bytes(history).length > MAX_HISTORY_BYTES) revert HistoryLength(bytes(history).length);
        Score storage s = _scores[account];
        if (s.pendingPromptId != 0) revert ScorePending(account, s.pendingPromptId);
        uint256 fee = requestFee();
        uint256 excess = _collect(fee);
        IAIKernel.Request memory r = _newRequest(
            topicOf(account),
            bytes(promptFor(account, history)),
            "",
            Schema.integer(int64(MIN_SCORE), int64(MAX_SCORE)),
            MAX_TOKENS,
            CALLBACK_GAS
        );
        promptId = _submit(r, fee, msg.sender, fee);
        s.pendingPromptId = promptId;
        accountOfPrompt[promptId] = account;
        emit ScoreRequested(account, promptId, msg.sender, fee);
        _send(msg.sender, excess);
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice Wei to send with `requestScore` (the kernel fee).
    function requestFee() public view returns (uint256) {
        return _kernelFee(MAX_TOKENS, CALLBACK_GAS);
    }

    /// @notice An address's score record.
    /// @param account The address.
    function scoreOf(address account) external view returns (Score memory) {
        return _scores[account];
    }

    /// @notice The context topic of `account`: `bytes32(uint256(uint160(account)))`.
    /// @param account The address.
    function topicOf(address account) public pure returns (bytes32) {
        return bytes32(uint256(uint160(account)));
    }

    /// @notice The exact prompt input for `account`:
    ///         `"Credit history of wallet " + account + ":\n" + history + "\nRate this wallet's creditworthiness from 300 (worst) to 850 (best)."`
    ///         (`account` as 0x + 40 lowercase hex digits; with empty `history` the line reads
    ///         "(see the recorded history above)").
    /// @param account The address.
    /// @param history The supplied history.
    function promptFor(address account, string memory history) public pure returns (string memory) {
        if (bytes(history).length == 0) history = "(see the recorded history above)";
        return string.concat(
            "Credit history of wallet ",
            account.toHexString(),
            ":\n",
            history,
            "\nRate this wallet's creditworthiness from 300 (worst) to 850 (best)."
        );
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    function _onAppResult(uint256 promptId, bool success, bytes calldata output) internal override {
        address account = accountOfPrompt[promptId];
        Score storage s = _scores[account];
        if (account == address(0) || s.pendingPromptId != promptId) return;
        s.pendingPromptId = 0;
        (bool ok, uint256 value, uint8 code) = _word(success, output);
        if (ok && value >= MIN_SCORE && value <= MAX_SCORE) {
            s.score = value;
            s.promptId = promptId;
            s.updatedAt = block.timestamp;
            emit ScoreUpdated(account, promptId, value);
        } else {
            emit ScoreFailed(account, promptId, code);
        }
    }

    function _onRefund(uint256 promptId) internal override {
        address account = accountOfPrompt[promptId];
        Score storage s = _scores[account];
        if (s.pendingPromptId == promptId) {
            s.pendingPromptId = 0;
            emit ScoreFailed(account, promptId, 0);
        }
    }
}
