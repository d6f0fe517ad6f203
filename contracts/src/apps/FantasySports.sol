// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAIKernel} from "../interfaces/IAIKernel.sol";
import {Schema} from "../lib/Schema.sol";
import {AppBase} from "./AppBase.sol";

/// @title FantasySports
/// @notice Fantasy sports matchups judged by the aikernel: anyone creates a matchup of two teams with
///         their stats, then anyone pays for the kernel to pick the winner. The answer is a CHOICE
///         between the two team names, so it is always one of them.
/// @dev Each matchup has its own context topic (`bytes32(matchupId)`), so a matchup's prompt sees no
///      other matchup. Prompt text: `promptOf(matchupId)` (docs/apps.md).
contract FantasySports is AppBase {
    /*//////////////////////////////////////////////////////////////
                               CONSTANTS
    //////////////////////////////////////////////////////////////*/

    /// @notice Longest team name, in bytes (a CHOICE option; also bounds the tokens needed).
    uint256 public constant MAX_TEAM_BYTES = 32;
    /// @notice Longest stats text per team, in bytes.
    uint256 public constant MAX_STATS_BYTES = 1024;
    /// @notice maxTokens of every request: enough to spell the longest team name token by token.
    uint32 public constant MAX_TOKENS = 32;
    /// @notice Gas the kernel forwards to `onAIResult`.
    uint32 public constant CALLBACK_GAS = 100_000;

    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    /// @notice Lifecycle of a matchup: Open (created, or last request failed), Pending (a prompt is
    ///         open), Decided (final).
    enum Status {
        None,
        Open,
        Pending,
        Decided
    }

    /// @notice A matchup. `winner` is 0 (teamA) or 1 (teamB) once Decided; `promptId` is the latest prompt.
    struct Matchup {
        string teamA;
        string teamB;
        string statsA;
        string statsB;
        Status status;
        uint8 winner;
        uint256 promptId;
    }

    /*//////////////////////////////////////////////////////////////
                                 STATE
    //////////////////////////////////////////////////////////////*/

    /// @notice Number of matchups created (ids are 1..matchupCount).
    uint256 public matchupCount;
    mapping(uint256 => Matchup) internal _matchups;
    /// @notice The matchup a prompt decides.
    mapping(uint256 promptId => uint256 matchupId) public matchupOfPrompt;

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice A matchup was created.
    event MatchupCreated(uint256 indexed matchupId, address indexed creator, string teamA, string teamB);
    /// @notice The winner of a matchup was asked for.
    event WinnerRequested(
        uint256 indexed matchupId, uint256 indexed promptId, address indexed requester, uint256 fee
    );
    /// @notice The kernel picked the winner: `winnerIndex` 0 is teamA, 1 is teamB.
    event WinnerDecided(
        uint256 indexed matchupId, uint256 indexed promptId, uint8 winnerIndex, string winner
    );
    /// @notice A request ended without a winner (kernel error `code`, 0 for a malformed value, or a
    ///         refund); the matchup is Open again.
    event WinnerRequestFailed(uint256 indexed matchupId, uint256 indexed promptId, uint8 code);

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice A team name is empty or longer than MAX_TEAM_BYTES.
    error TeamNameLength(uint256 length);
    /// @notice Both teams have the same name.
    error SameTeams();
    /// @notice A stats text is longer than MAX_STATS_BYTES.
    error StatsTooLong(uint256 length);
    /// @notice No matchup with this id.
    error UnknownMatchup(uint256 matchupId);
    /// @notice The matchup is not Open (a request is pending or the winner is decided).
    error MatchupNotOpen(uint256 matchupId, Status status);

    /// @param kernel_ The kernel (DecentralizedInference).
    /// @param modelId_ Model id.
    /// @param committeeSize_ Committee size (odd).
    constructor(IAIKernel kernel_, uint256 modelId_, uint16 committeeSize_)
        AppBase(kernel_, modelId_, committeeSize_)
    {}

    /*//////////////////////////////////////////////////////////////
                                 USERS
    //////////////////////////////////////////////////////////////*/

    /// @notice Creates a matchup.
    /// @param teamA First team's name (1..32 bytes of UTF-8).
    /// @param teamB Second team's name (1..32 bytes, different from teamA).
    /// @param statsA First team's stats (<= 1024 bytes).
    /// @param statsB Second team's stats (<= 1024 bytes).
    /// @return matchupId The new matchup's id.
    function createMatchup(
        string calldata teamA,
        string calldata teamB,
        string calldata statsA,
        string calldata statsB
    ) external returns (uint256 matchupId) {
        _checkName(teamA);
        _checkName(teamB);
        if (keccak256(bytes(teamA)) == keccak256(bytes(teamB))) revert SameTeams();
        if (bytes(statsA).length > MAX_STATS_BYTES) revert StatsTooLong(bytes(statsA).length);
        if (bytes(statsB).length > MAX_STATS_BYTES) revert StatsTooLong(bytes(statsB).length);
        Schema.choice(_options(teamA, teamB)); // reverts SchemaInvalid on malformed UTF-8
        matchupId = ++matchupCount;
        Matchup storage m = _matchups[matchupId];
        m.teamA = teamA;
        m.teamB = teamB;
        m.statsA = statsA;
        m.statsB = statsB;
        m.status = Status.Open;
        emit MatchupCreated(matchupId, msg.sender, teamA, teamB);
    }

    /// @notice Asks the kernel for the winner of an Open matchup. Send at least `requestFee()`;
    ///         the excess is sent back.
    /// @param matchupId The matchup.
    /// @return promptId The kernel prompt; watch `WinnerDecided`.
    function requestWinner(uint256 matchupId) external payable nonReentrant returns (uint256 promptId) {
        Matchup storage m = _matchups[matchupId];
        if (m.status != Status.Open) {
            if (m.status == Status.None) revert UnknownMatchup(matchupId);
            revert MatchupNotOpen(matchupId, m.status);
        }
        uint256 fee = requestFee();
        uint256 excess = _collect(fee);
        IAIKernel.Request memory r = _newRequest(
            bytes32(matchupId),
            bytes(promptOf(matchupId)),
            "",
            Schema.choice(_options(m.teamA, m.teamB)),
            MAX_TOKENS,
            CALLBACK_GAS
        );
        promptId = _submit(r, fee, msg.sender, fee);
        m.status = Status.Pending;
        m.promptId = promptId;
        matchupOfPrompt[promptId] = matchupId;
        emit WinnerRequested(matchupId, promptId, msg.sender, fee);
        _send(msg.sender, excess);
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice Wei to send with `requestWinner` (the kernel fee).
    function requestFee() public view returns (uint256) {
        return _kernelFee(MAX_TOKENS, CALLBACK_GAS);
    }

    /// @notice A matchup.
    /// @param matchupId The matchup.
    function matchupOf(uint256 matchupId) external view returns (Matchup memory) {
        return _matchups[matchupId];
    }

    /// @notice The decided winner: `decided` is false until the kernel answered.
    /// @param matchupId The matchup.
    function winnerOf(uint256 matchupId)
        external
        view
        returns (bool decided, uint8 index, string memory name)
    {
        Matchup storage m = _matchups[matchupId];
        if (m.status != Status.Decided) return (false, 0, "");
        return (true, m.winner, m.winner == 0 ? m.teamA : m.teamB);
    }

    /// @notice The exact prompt input of a matchup:
    ///         `"Fantasy sports matchup.\n" + teamA + ": " + statsA + "\n" + teamB + ": " + statsB + "\nWhich team wins?"`.
    /// @param matchupId The matchup.
    function promptOf(uint256 matchupId) public view returns (string memory) {
        Matchup storage m = _matchups[matchupId];
        return string.concat(
            "Fantasy sports matchup.\n",
            m.teamA,
            ": ",
            m.statsA,
            "\n",
            m.teamB,
            ": ",
            m.statsB,
            "\nWhich team wins?"
        );
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    function _onAppResult(uint256 promptId, bool success, bytes calldata output) internal override {
        uint256 id = matchupOfPrompt[promptId];
        Matchup storage m = _matchups[id];
        if (id == 0 || m.status != Status.Pending || m.promptId != promptId) return;
        (bool ok, uint256 index, uint8 code) = _word(success, output);
        if (ok && index < 2) {
            m.status = Status.Decided;
            m.winner = uint8(index);
            emit WinnerDecided(id, promptId, uint8(index), index == 0 ? m.teamA : m.teamB);
        } else {
            m.status = Status.Open;
            emit WinnerRequestFailed(id, promptId, code);
        }
    }

    function _onRefund(uint256 promptId) internal override {
        uint256 id = matchupOfPrompt[promptId];
        Matchup storage m = _matchups[id];
        if (m.status == Status.Pending && m.promptId == promptId) {
            m.status = Status.Open;
            emit WinnerRequestFailed(id, promptId, 0);
        }
    }

    function _checkName(string calldata name) private pure {
        uint256 len = bytes(name).length;
        if (len == 0 || len > MAX_TEAM_BYTES) revert TeamNameLength(len);
    }

    function _options(string memory a, string memory b) private pure returns (string[] memory opts) {
        opts = new string[](2);
        opts[0] = a;
        opts[1] = b;
    }
}
