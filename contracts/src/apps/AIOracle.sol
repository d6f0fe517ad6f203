// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IAIKernel} from "../interfaces/IAIKernel.sol";
import {Schema} from "../lib/Schema.sol";
import {AppBase} from "./AppBase.sol";

/// @title AIOracle
/// @notice A BTC/USD price oracle answered by the aikernel. Feeders the owner allows submit price
///         observations; the oracle appends each one to its context topic (TOPIC). Anyone then asks
///         for the current price: the kernel reads the observations and answers an INTEGER in
///         0..MAX_PRICE, which the callback stores with its prompt id.
/// @dev Observations are Feed entries of the oracle's own chain, so feeders never talk to the
///      ContextManager: the oracle appends for them. Several requests may be open and they settle in
///      any order, so each request records how many observations it was asked against (its prompt
///      sees exactly those) and the stored price only moves forward: an answer replaces `price` only
///      when its prompt saw more observations than the one that gave `price`, or as many and has a
///      later prompt id. Any other answer is stale (`PriceAnswerStale`) and not stored, so an older
///      prompt that settles late never overwrites a newer price.
contract AIOracle is AppBase, Ownable {
    using Strings for uint256;

    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    /// @notice An open request: who asked and how many observations its prompt sees (one slot).
    struct OpenRequest {
        address requester;
        uint96 observedCount;
    }

    /// @notice The stored answer's price, when it was stored and how many observations its prompt
    ///         saw (one slot, written at once with `pricePromptId`).
    struct Answer {
        uint64 price;
        uint64 updatedAt;
        uint128 observedCount;
    }

    /*//////////////////////////////////////////////////////////////
                               CONSTANTS
    //////////////////////////////////////////////////////////////*/

    /// @notice The oracle's context topic.
    bytes32 public constant TOPIC = keccak256("aikernel.apps.AIOracle.BTC/USD");
    /// @notice Highest price an observation or an answer may have, in whole US dollars.
    uint64 public constant MAX_PRICE = 10_000_000;
    /// @notice maxTokens of every request (up to 8 digits).
    uint32 public constant MAX_TOKENS = 12;
    /// @notice Gas the kernel forwards to `onAIResult`.
    uint32 public constant CALLBACK_GAS = 150_000;
    /// @notice The exact prompt input of every request.
    string public constant PROMPT =
        "What is the current BTC price in US dollars, according to the latest observation above? Answer with a whole number.";

    /*//////////////////////////////////////////////////////////////
                                 STATE
    //////////////////////////////////////////////////////////////*/

    /// @notice Whether an account may submit observations.
    mapping(address => bool) public isFeeder;
    /// @notice Number of observations submitted.
    uint256 public observationCount;
    /// @notice The last observation submitted, in US dollars.
    uint256 public lastObservation;
    /// @notice The prompt that answered `price` (0 before the first answer).
    uint256 public pricePromptId;
    Answer internal _answer;
    mapping(uint256 promptId => OpenRequest) internal _open;

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice The owner allowed or disallowed a feeder.
    event FeederSet(address indexed feeder, bool allowed);
    /// @notice A feeder submitted an observation (`index` counts from 1).
    event PriceObserved(address indexed feeder, uint256 index, uint256 price);
    /// @notice Someone asked for the current price.
    event PriceRequested(uint256 indexed promptId, address indexed requester, uint256 fee);
    /// @notice The kernel answered the price and it was stored.
    event PriceAnswered(uint256 indexed promptId, uint256 price);
    /// @notice The kernel answered `price` for a prompt that saw `observedCount` observations, but the
    ///         stored price comes from a prompt that saw more (or as many, with a later prompt id), so
    ///         the answer was not stored.
    event PriceAnswerStale(uint256 indexed promptId, uint256 price, uint256 observedCount);
    /// @notice A request got no price (kernel error `code`, 0 for a malformed value or a refund).
    event PriceRequestFailed(uint256 indexed promptId, uint8 code);

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice The caller is not an allowed feeder.
    error NotFeeder(address caller);
    /// @notice An observation of 0 or above MAX_PRICE.
    error PriceOutOfRange(uint256 price);
    /// @notice No observation has been submitted yet.
    error NoObservations();
    /// @notice The zero address as feeder.
    error ZeroAddress();

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

    /// @notice Allows or disallows a feeder.
    /// @param feeder The feeder.
    /// @param allowed Whether it may submit observations.
    function setFeeder(address feeder, bool allowed) external onlyOwner {
        if (feeder == address(0)) revert ZeroAddress();
        isFeeder[feeder] = allowed;
        emit FeederSet(feeder, allowed);
    }

    /*//////////////////////////////////////////////////////////////
                                FEEDERS
    //////////////////////////////////////////////////////////////*/

    /// @notice Submits a BTC/USD observation; the oracle appends
    ///         `"BTC/USD observation #" + index + ": " + price + " US dollars"` to its topic.
    /// @param observed Price in whole US dollars (1..MAX_PRICE).
    function submitPrice(uint256 observed) external {
        if (!isFeeder[msg.sender]) revert NotFeeder(msg.sender);
        if (observed == 0 || observed > MAX_PRICE) revert PriceOutOfRange(observed);
        uint256 index = ++observationCount;
        lastObservation = observed;
        _feed(TOPIC, bytes(observationText(index, observed)));
        emit PriceObserved(msg.sender, index, observed);
    }

    /*//////////////////////////////////////////////////////////////
                                 USERS
    //////////////////////////////////////////////////////////////*/

    /// @notice Asks the kernel for the current price. Send at least `requestFee()`; the excess is
    ///         sent back.
    /// @return promptId The kernel prompt; watch `PriceAnswered`.
    function requestPrice() external payable nonReentrant returns (uint256 promptId) {
        if (observationCount == 0) revert NoObservations();
        uint256 fee = requestFee();
        uint256 excess = _collect(fee);
        IAIKernel.Request memory r = _newRequest(
            TOPIC, bytes(PROMPT), "", Schema.integer(0, int64(MAX_PRICE)), MAX_TOKENS, CALLBACK_GAS
        );
        promptId = _submit(r, fee, msg.sender, fee);
        _open[promptId] = OpenRequest(msg.sender, SafeCast.toUint96(observationCount));
        emit PriceRequested(promptId, msg.sender, fee);
        _send(msg.sender, excess);
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice Wei to send with `requestPrice` (the kernel fee).
    function requestFee() public view returns (uint256) {
        return _kernelFee(MAX_TOKENS, CALLBACK_GAS);
    }

    /// @notice The latest answer: price, the prompt that gave it, and when.
    function latestPrice() external view returns (uint256 value, uint256 promptId, uint256 updatedAt) {
        Answer memory a = _answer;
        return (a.price, pricePromptId, a.updatedAt);
    }

    /// @notice The stored price, in US dollars (0 before the first answer).
    function price() external view returns (uint256) {
        return _answer.price;
    }

    /// @notice When `price` was stored (0 before the first answer).
    function priceUpdatedAt() external view returns (uint256) {
        return _answer.updatedAt;
    }

    /// @notice How many observations the prompt that gave `price` saw (0 before the first answer).
    function priceObservedCount() external view returns (uint256) {
        return _answer.observedCount;
    }

    /// @notice Who asked for an open prompt (zero once it settled or was refunded, or if unknown).
    /// @param promptId The prompt.
    function requesterOf(uint256 promptId) external view returns (address) {
        return _open[promptId].requester;
    }

    /// @notice How many observations an open prompt was asked against (0 once closed or if unknown).
    /// @param promptId The prompt.
    function observedCountOf(uint256 promptId) external view returns (uint256) {
        return _open[promptId].observedCount;
    }

    /// @notice The Feed entry text of observation `index`.
    /// @param index Observation number (from 1).
    /// @param observed Price in US dollars.
    function observationText(uint256 index, uint256 observed) public pure returns (string memory) {
        return
            string.concat("BTC/USD observation #", index.toString(), ": ", observed.toString(), " US dollars");
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    function _onAppResult(uint256 promptId, bool success, bytes calldata output) internal override {
        OpenRequest memory req = _open[promptId];
        if (req.requester == address(0)) return;
        delete _open[promptId];
        (bool ok, uint256 value, uint8 code) = _word(success, output);
        if (!ok || value > MAX_PRICE) {
            emit PriceRequestFailed(promptId, code);
            return;
        }
        uint256 current = _answer.observedCount;
        if (req.observedCount < current || (req.observedCount == current && promptId < pricePromptId)) {
            emit PriceAnswerStale(promptId, value, req.observedCount);
            return;
        }
        // value <= MAX_PRICE < 2^64; block timestamps fit 64 bits.
        _answer = Answer(uint64(value), uint64(block.timestamp), req.observedCount);
        pricePromptId = promptId;
        emit PriceAnswered(promptId, value);
    }

    function _onRefund(uint256 promptId) internal override {
        delete _open[promptId];
        emit PriceRequestFailed(promptId, 0);
    }
}
