// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {IAIKernel} from "../interfaces/IAIKernel.sol";
import {Schema} from "../lib/Schema.sol";
import {AppBase} from "./AppBase.sol";

/// @title CreditScore
/// @notice Wallet credit scores from the aikernel: an INTEGER in 300..850 for an address, from its
///         history. A score of `account` is only ever based on data `account` itself supplied or
///         that a reporter the owner allows recorded:
///         - history supplied with a request is accepted only from `account` itself
///           (`HistoryNotFromAccount` otherwise);
///         - `recordHistory` entries come only from allowed reporters or from `account` itself
///           (`NotReporter` otherwise); each is a Feed entry on the address's topic,
///           `topicOf(account)`, so every later request for that address sees it;
///         - anyone else may request a score of `account` from its recorded history only: with an
///           empty `history`, once at least one entry was recorded (`NoRecordedHistory` otherwise).
///         Without these rules anyone could pay for a request that scores someone else from a
///         history they made up, and the stored score would read as that address's score.
/// @dev One request per address at a time. A score is stored per address with its prompt id. A
///      history the account supplies with its own request also stays on its topic (the kernel's
///      Prompt entry) and later requests see it; only `recordHistory` entries count for
///      `historyCount`. Self-supplied and self-recorded data is self-reported: `HistoryRecorded`
///      names who recorded each entry.
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

    /// @notice Whether an account may record history about any account (every account may record
    ///         about itself).
    mapping(address => bool) public isReporter;
    mapping(address => Score) internal _scores;
    /// @notice Number of `recordHistory` entries about an account.
    mapping(address account => uint256 count) public historyCount;
    /// @notice The address a prompt scores.
    mapping(uint256 promptId => address account) public accountOfPrompt;

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice The owner allowed or disallowed a reporter.
    event ReporterSet(address indexed reporter, bool allowed);
    /// @notice `reporter` (an allowed reporter, or `account` itself) recorded a history entry for
    ///         `account`.
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
    /// @notice The caller is neither an allowed reporter nor the account the entry is about.
    error NotReporter(address caller);
    /// @notice `caller` supplied history for `account`: only `account` itself may supply history
    ///         with a request; others request with an empty history (recorded history only).
    error HistoryNotFromAccount(address account, address caller);
    /// @notice A request by someone other than `account` with no history recorded for `account`.
    error NoRecordedHistory(address account);
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

    /// @notice Records a history entry for `account` (a Feed entry on `topicOf(account)`, seen by
    ///         every later request for `account`). Only allowed reporters and `account` itself may
    ///         record; entries stay on the topic even if the reporter is disallowed later.
    /// @param account The address the entry is about.
    /// @param entry The entry (1..2048 bytes), e.g. "Repaid a 2 ETH loan on time".
    function recordHistory(address account, string calldata entry) external {
        if (msg.sender != account && !isReporter[msg.sender]) revert NotReporter(msg.sender);
        if (account == address(0)) revert ZeroAddress();
        uint256 len = bytes(entry).length;
        if (len == 0 || len > MAX_HISTORY_BYTES) revert HistoryLength(len);
        ++historyCount[account];
        _feed(topicOf(account), bytes(entry));
        emit HistoryRecorded(account, msg.sender, entry);
    }

    /*//////////////////////////////////////////////////////////////
                                 USERS
    //////////////////////////////////////////////////////////////*/

    /// @notice Asks the kernel to score `account`. Send at least `requestFee()`; the excess is sent back.
    ///         `account` itself may supply `history`; anyone else must send an empty `history` and
    ///         is scored from the recorded history (`historyCount(account) > 0`).
    /// @param account The address to score.
    /// @param history History supplied with the request (<= 2048 bytes; only from `account` itself,
    ///        empty to use the recorded history).
    /// @return promptId The kernel prompt; watch `ScoreUpdated`.
    function requestScore(address account, string calldata history)
        external
        payable
        nonReentrant
        returns (uint256 promptId)
    {
        if (account == address(0)) revert ZeroAddress();
        uint256 len = bytes(history).length;
        if (len > MAX_HISTORY_BYTES) revert HistoryLength(len);
        if (msg.sender != account) {
            if (len != 0) revert HistoryNotFromAccount(account, msg.sender);
            if (historyCount[account] == 0) revert NoRecordedHistory(account);
        }
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
