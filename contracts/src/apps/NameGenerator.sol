// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAIKernel} from "../interfaces/IAIKernel.sol";
import {Schema} from "../lib/Schema.sol";
import {AppBase} from "./AppBase.sol";
import {NameRegistry} from "./NameRegistry.sol";

/// @title NameGenerator
/// @notice An AI ENS-style name generator. A user describes a project and prepays up to MAX_ATTEMPTS
///         kernel fees. The kernel suggests a name (TEXT of at most 24 bytes); the callback normalises
///         it to a registry label (`normalize`) and registers it to the user if it is free. If it is
///         taken (or not a usable label) the callback appends `"taken: <label>"` to the request's topic
///         and asks again, from inside the callback, with every earlier suggestion and "taken" note as
///         context, until a free name is registered or MAX_ATTEMPTS is reached. The unspent budget is
///         credited to the user (`withdraw`).
/// @dev The follow-up `infer` runs inside the callback, so CALLBACK_GAS covers one `infer` plus a
///      registration. If the follow-up cannot be sent (e.g. the fee rose above the budget, or no
///      committee could be formed) the request is Stalled and its requester calls `retry`
///      (keeper-style), adding ETH if needed. Retries sample at temperature RETRY_TEMPERATURE with
///      seed = attempt number so they can differ from the first, greedy, attempt.
contract NameGenerator is AppBase {
    /*//////////////////////////////////////////////////////////////
                               CONSTANTS
    //////////////////////////////////////////////////////////////*/

    /// @notice Most kernel requests per name request.
    uint8 public constant MAX_ATTEMPTS = 4;
    /// @notice Longest suggestion, in bytes (the TEXT schema's maxBytes).
    uint16 public constant MAX_SUGGESTION_BYTES = 24;
    /// @notice Longest project description, in bytes.
    uint256 public constant MAX_DESCRIPTION_BYTES = 256;
    /// @notice maxTokens of every request.
    uint32 public constant MAX_TOKENS = 12;
    /// @notice Sampling temperature (thousandths) of attempts after the first.
    uint32 public constant RETRY_TEMPERATURE = 1300;
    /// @notice Gas kept back from a follow-up `infer` sent from the callback, to record a stall.
    uint256 public constant STALL_GAS = 60_000;
    /// @notice Gas the kernel forwards to `onAIResult` (a follow-up `infer` and a registration).
    uint32 public constant CALLBACK_GAS = 900_000;

    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    /// @notice Lifecycle of a name request: Pending (a prompt is open), Stalled (waiting for
    ///         `retry`), Registered (final), Exhausted (MAX_ATTEMPTS used, final).
    enum Status {
        None,
        Pending,
        Stalled,
        Registered,
        Exhausted
    }

    /// @notice A name request. `budget` is the prepaid wei not yet spent; `name` the registered label.
    struct NameRequest {
        address requester;
        Status status;
        uint8 attempts;
        uint256 budget;
        uint256 promptId;
        string description;
        string name;
    }

    /*//////////////////////////////////////////////////////////////
                                 STATE
    //////////////////////////////////////////////////////////////*/

    /// @notice The registry names are checked against and registered in.
    NameRegistry public immutable registry;
    /// @notice Number of name requests (ids are 1..requestCount).
    uint256 public requestCount;
    mapping(uint256 => NameRequest) internal _requests;
    /// @notice The name request a prompt belongs to.
    mapping(uint256 promptId => uint256 requestId) public requestOfPrompt;
    /// @notice Unspent budgets credited to requesters.
    mapping(address => uint256) public credits;

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice A user asked for a name and prepaid `budget`.
    event NameRequested(
        uint256 indexed requestId, address indexed requester, string description, uint256 budget
    );
    /// @notice Attempt `attempt` (from 1) was sent to the kernel.
    event SuggestionRequested(
        uint256 indexed requestId, uint256 indexed promptId, uint8 attempt, uint256 fee
    );
    /// @notice The kernel suggested `suggestion`, normalised to `label`, which was taken or invalid.
    event NameTaken(uint256 indexed requestId, uint256 indexed promptId, string suggestion, string label);
    /// @notice An attempt gave no suggestion (kernel error `code`, 0 for a malformed value or a refund).
    event SuggestionFailed(uint256 indexed requestId, uint256 indexed promptId, uint8 code);
    /// @notice `label` was registered to the requester.
    event NameChosen(
        uint256 indexed requestId, uint256 indexed promptId, string label, address indexed owner
    );
    /// @notice The follow-up could not be sent; the requester may `retry`.
    event RequestStalled(uint256 indexed requestId);
    /// @notice MAX_ATTEMPTS were used without a free name.
    event RequestExhausted(uint256 indexed requestId);
    /// @notice Unspent budget was credited to the requester.
    event BudgetCredited(uint256 indexed requestId, address indexed requester, uint256 amount);
    /// @notice A requester withdrew its credits.
    event Withdrawn(address indexed account, uint256 amount);

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice A description that is empty or longer than MAX_DESCRIPTION_BYTES.
    error DescriptionLength(uint256 length);
    /// @notice No name request with this id.
    error UnknownRequest(uint256 requestId);
    /// @notice Only a Stalled request can be retried.
    error NotStalled(uint256 requestId, Status status);
    /// @notice Only the requester can retry.
    error NotRequester(uint256 requestId, address caller);
    /// @notice Nothing to withdraw.
    error NothingToWithdraw();

    /// @param kernel_ The kernel (DecentralizedInference).
    /// @param modelId_ Model id.
    /// @param committeeSize_ Committee size (odd).
    /// @param registry_ The name registry.
    constructor(IAIKernel kernel_, uint256 modelId_, uint16 committeeSize_, NameRegistry registry_)
        AppBase(kernel_, modelId_, committeeSize_)
    {
        registry = registry_;
    }

    /*//////////////////////////////////////////////////////////////
                                 USERS
    //////////////////////////////////////////////////////////////*/

    /// @notice Asks for a name for a project. Send at least `budgetFee()` (MAX_ATTEMPTS kernel
    ///         fees); the excess is sent back at once, the unspent budget credited at the end.
    /// @param description The project (1..256 bytes).
    /// @return requestId The name request; watch `NameChosen` / `RequestExhausted`.
    /// @return promptId The first prompt.
    function generate(string calldata description)
        external
        payable
        nonReentrant
        returns (uint256 requestId, uint256 promptId)
    {
        uint256 len = bytes(description).length;
        if (len == 0 || len > MAX_DESCRIPTION_BYTES) revert DescriptionLength(len);
        uint256 budget = budgetFee();
        uint256 excess = _collect(budget);
        requestId = ++requestCount;
        NameRequest storage q = _requests[requestId];
        q.requester = msg.sender;
        q.budget = budget;
        q.description = description;
        emit NameRequested(requestId, msg.sender, description, budget);
        promptId = _attempt(requestId, q, false);
        _send(msg.sender, excess);
    }

    /// @notice Sends the next attempt of a Stalled request; `msg.value` is added to its budget.
    /// @param requestId The request.
    /// @return promptId The new prompt.
    function retry(uint256 requestId) external payable nonReentrant returns (uint256 promptId) {
        NameRequest storage q = _requests[requestId];
        if (q.status != Status.Stalled) {
            if (q.status == Status.None) revert UnknownRequest(requestId);
            revert NotStalled(requestId, q.status);
        }
        if (msg.sender != q.requester) revert NotRequester(requestId, msg.sender);
        q.budget += msg.value;
        uint256 fee = _kernelFee(MAX_TOKENS, CALLBACK_GAS);
        if (q.budget < fee) revert InsufficientFee(fee, q.budget);
        promptId = _attempt(requestId, q, false);
    }

    /// @notice Sends the caller its credited unspent budgets.
    function withdraw() external nonReentrant {
        uint256 amount = credits[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        credits[msg.sender] = 0;
        emit Withdrawn(msg.sender, amount);
        _send(msg.sender, amount);
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice Wei to send with `generate`: MAX_ATTEMPTS kernel fees.
    function budgetFee() public view returns (uint256) {
        return _kernelFee(MAX_TOKENS, CALLBACK_GAS) * MAX_ATTEMPTS;
    }

    /// @notice A name request.
    /// @param requestId The request.
    function requestOf(uint256 requestId) external view returns (NameRequest memory) {
        return _requests[requestId];
    }

    /// @notice The context topic of a name request: `bytes32(requestId)`.
    /// @param requestId The request.
    function topicOf(uint256 requestId) public pure returns (bytes32) {
        return bytes32(requestId);
    }

    /// @notice The exact prompt input of an attempt. First attempt:
    ///         `"Suggest a short name for this project: " + description + "\nReply with one lowercase word of 3 to 24 letters or digits."`;
    ///         later attempts start with `"The names marked taken above are registered already. Suggest a different short name for this project: "`
    ///         instead of `"Suggest a short name for this project: "`.
    /// @param description The project.
    /// @param first Whether it is the first attempt.
    function promptFor(string memory description, bool first) public pure returns (string memory) {
        return string.concat(
            first
                ? "Suggest a short name for this project: "
                : "The names marked taken above are registered already. Suggest a different short name for this project: ",
            description,
            "\nReply with one lowercase word of 3 to 24 letters or digits."
        );
    }

    /// @notice Turns a suggestion into a registry label: ASCII letters lowercased, digits kept, space
    ///         `-` `_` become one `-`, other bytes dropped; stops at `.` or a newline (so `name.eth`
    ///         gives `name`) or at 24 bytes; no leading or trailing `-`. May return an invalid label
    ///         (e.g. shorter than 3 bytes), which counts as taken.
    /// @param suggestion The model's text.
    function normalize(string memory suggestion) public pure returns (string memory) {
        bytes memory s = bytes(suggestion);
        bytes memory out = new bytes(MAX_SUGGESTION_BYTES);
        uint256 n;
        for (uint256 i; i < s.length && n < MAX_SUGGESTION_BYTES; ++i) {
            bytes1 c = s[i];
            if (c == "." || c == "\n") break;
            if (c >= "A" && c <= "Z") c = bytes1(uint8(c) + 32);
            if ((c >= "a" && c <= "z") || (c >= "0" && c <= "9")) {
                out[n++] = c;
            } else if ((c == " " || c == "-" || c == "_") && n != 0 && out[n - 1] != "-") {
                out[n++] = "-";
            }
        }
        if (n != 0 && out[n - 1] == "-") --n;
        assembly ("memory-safe") {
            mstore(out, n)
        }
        return string(out);
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @dev Sends the next attempt. From the callback (`inCallback`) a failing `infer` stalls the
    ///      request instead of reverting; elsewhere it reverts.
    function _attempt(uint256 requestId, NameRequest storage q, bool inCallback)
        private
        returns (uint256 promptId)
    {
        uint8 attempt = q.attempts + 1;
        uint256 fee;
        if (inCallback) {
            try kernel.quote(modelId, MAX_TOKENS, committeeSize, CALLBACK_GAS) returns (uint256 f) {
                fee = f;
            } catch {
                return _stall(requestId, q);
            }
            if (q.budget < fee) return _stall(requestId, q);
        } else {
            fee = _kernelFee(MAX_TOKENS, CALLBACK_GAS);
        }
        IAIKernel.Request memory r = _newRequest(
            topicOf(requestId),
            bytes(promptFor(q.description, attempt == 1)),
            "",
            Schema.text(MAX_SUGGESTION_BYTES),
            MAX_TOKENS,
            CALLBACK_GAS
        );
        if (attempt > 1) {
            r.temperature = RETRY_TEMPERATURE;
            r.seed = attempt;
        }
        if (!inCallback) {
            promptId = _infer(r, fee);
        } else {
            // Keep STALL_GAS back so a follow-up that runs out of gas still stalls the request.
            uint256 g = gasleft();
            if (g < 2 * STALL_GAS) return _stall(requestId, q);
            try kernel.infer{value: fee, gas: g - STALL_GAS}(r) returns (uint256 id) {
                promptId = id;
            } catch {
                return _stall(requestId, q);
            }
        }
        q.budget -= fee;
        q.attempts = attempt;
        q.status = Status.Pending;
        q.promptId = promptId;
        requestOfPrompt[promptId] = requestId;
        payments[promptId] = Payment(q.requester, uint96(fee));
        emit SuggestionRequested(requestId, promptId, attempt, fee);
    }

    function _stall(uint256 requestId, NameRequest storage q) private returns (uint256) {
        q.status = Status.Stalled;
        emit RequestStalled(requestId);
        return 0;
    }

    function _onAppResult(uint256 promptId, bool success, bytes calldata output) internal override {
        uint256 id = requestOfPrompt[promptId];
        NameRequest storage q = _requests[id];
        if (id == 0 || q.status != Status.Pending || q.promptId != promptId) return;
        (bool ok, string memory suggestion, uint8 code) = _text(success, output, MAX_SUGGESTION_BYTES);
        if (ok) {
            string memory label = normalize(suggestion);
            if (_tryRegister(label, q.requester)) {
                q.status = Status.Registered;
                q.name = label;
                emit NameChosen(id, promptId, label, q.requester);
                _finish(id, q);
                return;
            }
            _feed(topicOf(id), bytes(string.concat("taken: ", bytes(label).length == 0 ? suggestion : label)));
            emit NameTaken(id, promptId, suggestion, label);
        } else {
            emit SuggestionFailed(id, promptId, code);
        }
        _next(id, q);
    }

    /// @dev Registers `label` if it is valid and free; never reverts.
    function _tryRegister(string memory label, address owner) private returns (bool) {
        if (!registry.available(label)) return false;
        try registry.register(label, owner) {
            return true;
        } catch {
            return false;
        }
    }

    function _next(uint256 id, NameRequest storage q) private {
        if (q.attempts >= MAX_ATTEMPTS) {
            q.status = Status.Exhausted;
            emit RequestExhausted(id);
            _finish(id, q);
        } else {
            _attempt(id, q, true);
        }
    }

    /// @dev Credits the unspent budget to the requester.
    function _finish(uint256 id, NameRequest storage q) private {
        uint256 left = q.budget;
        if (left == 0) return;
        q.budget = 0;
        credits[q.requester] += left;
        emit BudgetCredited(id, q.requester, left);
    }

    /// @dev A refunded attempt does not count and stalls the request; `reclaimRefund` returns that
    ///      attempt's fee to the requester (not to the budget), so `retry` may need ETH.
    function _onRefund(uint256 promptId) internal override {
        uint256 id = requestOfPrompt[promptId];
        NameRequest storage q = _requests[id];
        if (q.status == Status.Pending && q.promptId == promptId) {
            --q.attempts;
            emit SuggestionFailed(id, promptId, 0);
            _stall(id, q);
        }
    }
}
