// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Schema} from "../lib/Schema.sol";

/// @title ModelFileSystem
/// @notice Registry of the models the network serves: name, driver, file format, content root
///         (Merkle root over fixed-size chunks), size, storage URIs, minimum hardware and fee.
///         Only nodes whose hardware meets a model's minimum may serve it (checked by GPUManagement).
contract ModelFileSystem is AccessControl {
    // ------------------------------------------------------------------
    // Types
    // ------------------------------------------------------------------

    /// @notice A model as submitted by an admin.
    /// @param name Human-readable name, e.g. "SmolLM2-135M-Instruct".
    /// @param driver Model driver id the node uses, e.g. "llama".
    /// @param format File format, e.g. "gguf-q4_1".
    /// @param contentRoot Merkle root over the file's fixed-size chunks.
    /// @param size File size in bytes.
    /// @param chunkSize Chunk size in bytes used for `contentRoot`.
    /// @param uris Where to fetch the file (ipfs://, ar://, https://, file://).
    /// @param minMemoryMiB Minimum device memory a node needs, in MiB.
    /// @param minDeviceCount Minimum number of devices a node needs.
    /// @param feePerToken Fee per generated token per committee member, in wei.
    /// @param tokensPerSecond Tokens per second that a node with the minimum hardware generates
    ///        while busy: it sets each request's commit window (`checkRequest`).
    struct ModelSpec {
        string name;
        string driver;
        string format;
        bytes32 contentRoot;
        uint64 size;
        uint32 chunkSize;
        string[] uris;
        uint64 minMemoryMiB;
        uint32 minDeviceCount;
        uint128 feePerToken;
        uint32 tokensPerSecond;
    }

    /// @dev Fields read on the hot path packed in one slot.
    struct Hot {
        uint128 feePerToken;
        uint32 minMemoryMiB;
        uint32 minDeviceCount;
        uint32 tokensPerSecond;
        bool active;
        bool exists;
    }

    // ------------------------------------------------------------------
    // Storage
    // ------------------------------------------------------------------

    /// @notice Role allowed to register and update models.
    bytes32 public constant MODEL_ADMIN_ROLE = keccak256("MODEL_ADMIN_ROLE");
    /// @notice Maximum number of storage URIs per model.
    uint256 public constant MAX_URIS = 8;
    /// @notice Largest inline input or extra context of a request, in bytes.
    uint256 public constant MAX_INPUT_BYTES = 8192;
    /// @notice Largest output schema of a request, in bytes.
    uint256 public constant MAX_SCHEMA_BYTES = 1024;
    /// @notice Largest committee a request may ask for.
    uint256 public constant MAX_COMMITTEE = 15;
    /// @notice Longest compute time a request may ask for, in seconds at the model's speed.
    uint256 public constant MAX_WORK_SECONDS = 1 hours;
    /// @notice Prompt bytes that cost at most one generated token's time to prefill (prefill
    ///         runs batched, many times faster per token than generation).
    uint256 public constant PREFILL_BYTES_PER_TOKEN = 32;

    /// @notice The shape of a request, as checked by `checkRequest`.
    struct Shape {
        uint256 committeeSize;
        uint256 maxTokens;
        uint256 maxTokensLimit;
        uint256 inputLength;
        bool inputHashSet;
        uint256 extraContextLength;
    }

    /// @notice Number of models registered; ids run from 1 to `modelCount`.
    uint256 public modelCount;
    mapping(uint256 => Hot) internal _hot;
    mapping(uint256 => ModelSpec) internal _spec;

    // ------------------------------------------------------------------
    // Events and errors
    // ------------------------------------------------------------------

    /// @notice A model was registered.
    event ModelRegistered(
        uint256 indexed modelId, string name, string driver, string format, bytes32 contentRoot, uint64 size
    );
    /// @notice A model's fee per token changed.
    event ModelFeeUpdated(uint256 indexed modelId, uint128 feePerToken);
    /// @notice A model was enabled or disabled for new requests.
    event ModelActiveSet(uint256 indexed modelId, bool active);
    /// @notice A model's registered speed changed.
    event ModelSpeedSet(uint256 indexed modelId, uint32 tokensPerSecond);
    /// @notice A model's storage URIs were replaced.
    event ModelUrisUpdated(uint256 indexed modelId, string[] uris);

    /// @notice No model with this id.
    error UnknownModel(uint256 modelId);
    /// @notice The model exists but is disabled.
    error ModelInactive(uint256 modelId);
    /// @notice A required field is empty or zero (`field` names it).
    error InvalidModelField(string field);
    /// @notice Too many storage URIs.
    error TooManyUris(uint256 count, uint256 max);
    /// @notice An output schema that does not parse (docs/schema.md).
    error InvalidSchema();
    /// @notice committeeSize is even, zero or above MAX_COMMITTEE.
    error InvalidCommitteeSize(uint256 size);
    /// @notice maxTokens is zero or above the limit.
    error InvalidMaxTokens(uint256 maxTokens, uint256 limit);
    /// @notice Neither inline input nor an input hash, or both.
    error InvalidInput();
    /// @notice Input, extra context or schema longer than allowed.
    error InputTooLarge(uint256 length, uint256 limit);
    /// @notice The request needs more compute time than MAX_WORK_SECONDS at the model's speed.
    error RequestTooSlow(uint256 seconds_, uint256 limit);

    /// @param admin Receives DEFAULT_ADMIN_ROLE and MODEL_ADMIN_ROLE.
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MODEL_ADMIN_ROLE, admin);
    }

    // ------------------------------------------------------------------
    // Admin
    // ------------------------------------------------------------------

    /// @notice Registers a model; it is active at once.
    /// @param spec The model description.
    /// @return modelId The new model's id (1-based).
    function registerModel(ModelSpec calldata spec)
        external
        onlyRole(MODEL_ADMIN_ROLE)
        returns (uint256 modelId)
    {
        if (bytes(spec.name).length == 0) revert InvalidModelField("name");
        if (bytes(spec.driver).length == 0) revert InvalidModelField("driver");
        if (bytes(spec.format).length == 0) revert InvalidModelField("format");
        if (spec.contentRoot == bytes32(0)) revert InvalidModelField("contentRoot");
        if (spec.size == 0) revert InvalidModelField("size");
        if (spec.chunkSize == 0) revert InvalidModelField("chunkSize");
        if (spec.uris.length == 0) revert InvalidModelField("uris");
        if (spec.uris.length > MAX_URIS) revert TooManyUris(spec.uris.length, MAX_URIS);
        if (spec.minDeviceCount == 0) revert InvalidModelField("minDeviceCount");
        if (spec.minMemoryMiB > type(uint32).max) revert InvalidModelField("minMemoryMiB");
        if (spec.tokensPerSecond == 0) revert InvalidModelField("tokensPerSecond");
        modelId = ++modelCount;
        ModelSpec storage st = _spec[modelId];
        st.name = spec.name;
        st.driver = spec.driver;
        st.format = spec.format;
        st.contentRoot = spec.contentRoot;
        st.size = spec.size;
        st.chunkSize = spec.chunkSize;
        st.minMemoryMiB = spec.minMemoryMiB;
        st.minDeviceCount = spec.minDeviceCount;
        st.feePerToken = spec.feePerToken;
        st.tokensPerSecond = spec.tokensPerSecond;
        _copyUris(st, spec.uris);
        _hot[modelId] = Hot({
            feePerToken: spec.feePerToken,
            minMemoryMiB: uint32(spec.minMemoryMiB),
            minDeviceCount: spec.minDeviceCount,
            tokensPerSecond: spec.tokensPerSecond,
            active: true,
            exists: true
        });
        emit ModelRegistered(modelId, spec.name, spec.driver, spec.format, spec.contentRoot, spec.size);
        emit ModelActiveSet(modelId, true);
        emit ModelFeeUpdated(modelId, spec.feePerToken);
    }

    /// @notice Sets the fee per token of a model.
    /// @param modelId The model.
    /// @param feePerToken New fee per generated token per committee member, in wei.
    function setFee(uint256 modelId, uint128 feePerToken) external onlyRole(MODEL_ADMIN_ROLE) {
        _existing(modelId).feePerToken = feePerToken;
        _spec[modelId].feePerToken = feePerToken;
        emit ModelFeeUpdated(modelId, feePerToken);
    }

    /// @notice Sets the speed of a model on its minimum hardware (new requests' commit windows).
    /// @param modelId The model.
    /// @param tokensPerSecond Tokens per second a busy node with the minimum hardware generates.
    function setSpeed(uint256 modelId, uint32 tokensPerSecond) external onlyRole(MODEL_ADMIN_ROLE) {
        if (tokensPerSecond == 0) revert InvalidModelField("tokensPerSecond");
        _existing(modelId).tokensPerSecond = tokensPerSecond;
        _spec[modelId].tokensPerSecond = tokensPerSecond;
        emit ModelSpeedSet(modelId, tokensPerSecond);
    }

    /// @notice Enables or disables a model for new requests (running prompts are unaffected).
    /// @param modelId The model.
    /// @param active Whether new requests may use it.
    function setActive(uint256 modelId, bool active) external onlyRole(MODEL_ADMIN_ROLE) {
        _existing(modelId).active = active;
        emit ModelActiveSet(modelId, active);
    }

    /// @notice Replaces a model's storage URIs.
    /// @param modelId The model.
    /// @param uris The new URIs (1 to MAX_URIS).
    function setUris(uint256 modelId, string[] calldata uris) external onlyRole(MODEL_ADMIN_ROLE) {
        _existing(modelId);
        if (uris.length == 0) revert InvalidModelField("uris");
        if (uris.length > MAX_URIS) revert TooManyUris(uris.length, MAX_URIS);
        ModelSpec storage st = _spec[modelId];
        delete st.uris;
        _copyUris(st, uris);
        emit ModelUrisUpdated(modelId, uris);
    }

    // ------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------

    /// @notice The full description of a model.
    /// @param modelId The model.
    function getModel(uint256 modelId) external view returns (ModelSpec memory spec, bool active) {
        Hot memory h = _hot[modelId];
        if (!h.exists) revert UnknownModel(modelId);
        return (_spec[modelId], h.active);
    }

    /// @notice Fee per token of an active model; reverts for unknown or disabled models.
    /// @param modelId The model.
    function activeFeePerToken(uint256 modelId) external view returns (uint128) {
        Hot memory h = _hot[modelId];
        if (!h.exists) revert UnknownModel(modelId);
        if (!h.active) revert ModelInactive(modelId);
        return h.feePerToken;
    }

    /// @notice Checks a request against an active model: committee size odd and 1..MAX_COMMITTEE,
    ///         1 <= maxTokens <= the kernel's limit, exactly one of inline input and input hash,
    ///         input and extra context <= MAX_INPUT_BYTES, a schema of <= MAX_SCHEMA_BYTES that
    ///         parses (empty = free text), and a compute time of at most MAX_WORK_SECONDS.
    /// @param modelId The model; reverts for unknown or disabled models.
    /// @param schema The request's output schema.
    /// @param r The request's shape.
    /// @return feePerToken The model's fee per token.
    /// @return workSeconds The time a node with the model's minimum hardware needs for the
    ///         request: `(maxTokens + ceil(promptBytes / PREFILL_BYTES_PER_TOKEN)) / tokensPerSecond`
    ///         (rounded down: the scheduler's commit window covers latency), where promptBytes is the input (MAX_INPUT_BYTES when only its hash
    ///         is on-chain) plus the extra context. The kernel adds it to the commit window.
    function checkRequest(uint256 modelId, bytes calldata schema, Shape calldata r)
        external
        view
        returns (uint128 feePerToken, uint32 workSeconds)
    {
        uint256 k = r.committeeSize;
        if (k == 0 || k > MAX_COMMITTEE || k % 2 == 0) revert InvalidCommitteeSize(k);
        if (r.maxTokens == 0 || r.maxTokens > r.maxTokensLimit) {
            revert InvalidMaxTokens(r.maxTokens, r.maxTokensLimit);
        }
        if ((r.inputLength == 0) != r.inputHashSet) revert InvalidInput();
        if (r.inputLength > MAX_INPUT_BYTES) revert InputTooLarge(r.inputLength, MAX_INPUT_BYTES);
        if (r.extraContextLength > MAX_INPUT_BYTES) {
            revert InputTooLarge(r.extraContextLength, MAX_INPUT_BYTES);
        }
        if (schema.length > MAX_SCHEMA_BYTES) revert InputTooLarge(schema.length, MAX_SCHEMA_BYTES);
        Hot memory h = _hot[modelId];
        if (!h.exists) revert UnknownModel(modelId);
        if (!h.active) revert ModelInactive(modelId);
        if (schema.length != 0 && !Schema.isValid(schema)) revert InvalidSchema();
        uint256 work;
        unchecked {
            // Every term is bounded above (maxTokens by the kernel's uint32 limit, the lengths by
            // MAX_INPUT_BYTES), and tokensPerSecond is never zero.
            uint256 promptBytes = (r.inputHashSet ? MAX_INPUT_BYTES : r.inputLength) + r.extraContextLength;
            work = (r.maxTokens + (promptBytes + PREFILL_BYTES_PER_TOKEN - 1) / PREFILL_BYTES_PER_TOKEN)
                / h.tokensPerSecond;
        }
        if (work > MAX_WORK_SECONDS) revert RequestTooSlow(work, MAX_WORK_SECONDS);
        return (h.feePerToken, uint32(work));
    }

    /// @notice Whether a model exists.
    /// @param modelId The model.
    function exists(uint256 modelId) external view returns (bool) {
        return _hot[modelId].exists;
    }

    /// @notice Whether hardware with this memory and device count may serve the model.
    /// @param modelId The model; reverts if unknown.
    /// @param memoryMiB Device memory in MiB.
    /// @param deviceCount Number of devices.
    function meetsMinimum(uint256 modelId, uint64 memoryMiB, uint32 deviceCount)
        external
        view
        returns (bool)
    {
        Hot memory h = _hot[modelId];
        if (!h.exists) revert UnknownModel(modelId);
        return memoryMiB >= h.minMemoryMiB && deviceCount >= h.minDeviceCount;
    }

    function _copyUris(ModelSpec storage st, string[] calldata uris) internal {
        for (uint256 i; i < uris.length; ++i) {
            if (bytes(uris[i]).length == 0) revert InvalidModelField("uris");
            st.uris.push(uris[i]);
        }
    }

    function _existing(uint256 modelId) internal view returns (Hot storage h) {
        h = _hot[modelId];
        if (!h.exists) revert UnknownModel(modelId);
    }
}
