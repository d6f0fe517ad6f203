use alloy::dyn_abi::DynSolType;
use alloy::primitives::{U256, keccak256};
use alloy::sol_types::SolError;

use super::*;

const A: &str = "0x1111111111111111111111111111111111111111";
const B: &str = "0x2222222222222222222222222222222222222222";
const C: &str = "0x3333333333333333333333333333333333333333";
const EAI_1_5: &str = "1500000000000000000";

/// Every error signature of every kernel contract, once.
fn all_signatures() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = [
        DecentralizedInference::DecentralizedInferenceErrors::SELECTORS,
        ModelFileSystem::ModelFileSystemErrors::SELECTORS,
        PromptScheduler::PromptSchedulerErrors::SELECTORS,
        GPUManagement::GPUManagementErrors::SELECTORS,
        ContextManager::ContextManagerErrors::SELECTORS,
        EAI::EAIErrors::SELECTORS,
    ]
    .into_iter()
    .flatten()
    .filter_map(|s| signature(*s))
    .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The revert data of error `name` with `args` written as a tuple, e.g. `(1, 3, 5)`.
fn revert(name: &str, args: &str) -> Bytes {
    let signature = all_signatures()
        .into_iter()
        .find(|s| s.split_once('(').is_some_and(|(n, _)| n == name))
        .unwrap_or_else(|| panic!("no kernel error {name}"));
    let params = &signature[name.len()..];
    let value = DynSolType::parse(params)
        .and_then(|ty| ty.coerce_str(args))
        .unwrap_or_else(|e| panic!("{name}{args}: {e}"));
    let mut data = keccak256(signature.as_bytes())[..4].to_vec();
    data.extend(value.abi_encode_params());
    data.into()
}

/// (error, arguments, the sentence): one row per custom error of the kernel contracts.
fn rows() -> Vec<(&'static str, String, &'static str)> {
    let role = keccak256("MODEL_ADMIN_ROLE");
    let topic = format!("0x{}", "ab".repeat(32));
    vec![
        (
            "AlreadyCommitted",
            format!("(7, {A})"),
            "node 0x1111111111111111111111111111111111111111 already committed to prompt 7",
        ),
        (
            "AlreadyDrawn",
            "(7, 1)".into(),
            "the committee of prompt 7 round 1 is already drawn",
        ),
        (
            "AlreadyFinal",
            "(7)".into(),
            "prompt 7 is already settled or refunded",
        ),
        (
            "AlreadyRevealed",
            format!("(7, {A})"),
            "node 0x1111111111111111111111111111111111111111 already revealed its output for prompt 7",
        ),
        (
            "BlobWriteFailed",
            "()".into(),
            "the kernel could not store the request (out of gas? send more gas)",
        ),
        (
            "CallbackGasTooHigh",
            "(600000, 500000)".into(),
            "a callback gas limit of 600000 is above the kernel's limit of 500000",
        ),
        (
            "CallbackNotRequester",
            format!("({A}, {B})"),
            "the callback 0x1111111111111111111111111111111111111111 must be the requester 0x2222222222222222222222222222222222222222 itself (or zero for no callback)",
        ),
        (
            "CommitClosed",
            "(7)".into(),
            "the commit window of prompt 7 is closed",
        ),
        (
            "ContextTooLong",
            "(65535)".into(),
            "the conversation already has 65535 entries, the most the kernel keeps: start a new topic",
        ),
        (
            "FeeTooHigh",
            "(99)".into(),
            "a fee of 99 wei is more than the kernel can record: ask for fewer tokens or a smaller committee",
        ),
        (
            "FeeTooLow",
            "(403, 1)".into(),
            "the fee sent is 1 wei but this request costs 403 wei (see the quote)",
        ),
        (
            "InsufficientGasForCallback",
            "(50000, 1000)".into(),
            "1000 gas is left for the callback but 50000 is needed: send the transaction with more gas",
        ),
        (
            "InvalidParameter",
            "()".into(),
            "a parameter is zero or out of its allowed range",
        ),
        (
            "InvalidReveal",
            format!("(7, {A})"),
            "the reveal of node 0x1111111111111111111111111111111111111111 for prompt 7 does not match its commitment",
        ),
        (
            "NotAwaited",
            "(7)".into(),
            "prompt 7 is not waiting for its output bytes",
        ),
        (
            "NotCommitted",
            format!("(7, {A})"),
            "node 0x1111111111111111111111111111111111111111 did not commit to prompt 7 in this round, so it cannot reveal",
        ),
        (
            "NotInCommittee",
            format!("(7, {A})"),
            "0x1111111111111111111111111111111111111111 is not in the committee of prompt 7's current round",
        ),
        ("NotSettled", "(7)".into(), "prompt 7 has not settled"),
        (
            "NothingToWithdraw",
            "()".into(),
            "this account has no earnings to withdraw",
        ),
        (
            "OutputMismatch",
            "(7)".into(),
            "the output bytes do not hash to the output prompt 7's committee decided",
        ),
        (
            "OutputTooLarge",
            "(9000)".into(),
            "an output of 9000 bytes is above the kernel's limit of 8192 bytes",
        ),
        (
            "OwnableInvalidOwner",
            format!("({A})"),
            "0x1111111111111111111111111111111111111111 cannot be the owner",
        ),
        (
            "OwnableUnauthorizedAccount",
            format!("({A})"),
            "0x1111111111111111111111111111111111111111 is not the owner of the contract",
        ),
        (
            "ReentrancyGuardReentrantCall",
            "()".into(),
            "a reentrant call was refused",
        ),
        (
            "RevealClosed",
            "(7)".into(),
            "the reveal window of prompt 7 is closed",
        ),
        (
            "SeedNotReady",
            "(7, 120)".into(),
            "prompt 7's committee is drawn with the hash of block 120, which is not mined yet",
        ),
        (
            "SettlementNotDue",
            "(7)".into(),
            "prompt 7's round is still open: it cannot be settled yet",
        ),
        (
            "TransferFailed",
            "()".into(),
            "an ETH transfer failed (the receiver refused it)",
        ),
        (
            "UnknownEntryPoint",
            "()".into(),
            "the kernel has no such function",
        ),
        (
            "RequestReplaced",
            "(7)".into(),
            "the commitment was made for another request than prompt 7's (a reorg gave the id \
             to a new request): compute the new request and commit again",
        ),
        ("UnknownPrompt", "(7)".into(), "there is no prompt 7"),
        ("ZeroCommitment", "()".into(), "a commitment cannot be zero"),
        (
            "AccessControlBadConfirmation",
            "()".into(),
            "a role can only be renounced by the account that holds it",
        ),
        (
            "AccessControlUnauthorizedAccount",
            format!("({A}, {role})"),
            "0x1111111111111111111111111111111111111111 does not hold MODEL_ADMIN_ROLE",
        ),
        (
            "InputTooLarge",
            "(9000, 8192)".into(),
            "a request field of 9000 bytes (input, extra context or schema) is above the limit of 8192 bytes; a long input can stay off chain (inputHash)",
        ),
        (
            "InvalidCommitteeSize",
            "(4)".into(),
            "a committee of 4 is not allowed: it must be odd, from 1 to 15",
        ),
        (
            "InvalidInput",
            "()".into(),
            "a request needs either an inline input or an input hash, exactly one of the two",
        ),
        (
            "InvalidMaxTokens",
            "(0, 4096)".into(),
            "maxTokens 0 is not allowed: it must be from 1 to 4096",
        ),
        (
            "InvalidModelField",
            "(\"uris\")".into(),
            "the model's uris is missing or invalid",
        ),
        (
            "InvalidSchema",
            "()".into(),
            "the output schema does not parse (docs/schema.md)",
        ),
        ("ModelInactive", "(2)".into(), "model 2 is deactivated"),
        (
            "RequestTooSlow",
            "(4000, 3600)".into(),
            "this request is 4000 seconds of work at the model's registered speed, above the limit of 3600 seconds: ask for fewer tokens or send a shorter input",
        ),
        (
            "TooManyUris",
            "(9, 8)".into(),
            "9 URIs given, at most 8 are allowed",
        ),
        (
            "UnknownModel",
            "(9)".into(),
            "there is no model 9 (`aikernel models list` shows the registered ones)",
        ),
        (
            "InvalidTiming",
            "()".into(),
            "the commit and reveal windows and the number of rounds must be positive",
        ),
        (
            "NoPendingSnapshot",
            "(1)".into(),
            "model 1 has no pending pool snapshot",
        ),
        (
            "NotEnoughNodes",
            "(1, 3, 5)".into(),
            "model 1 has 3 eligible nodes, committee of 5 requested",
        ),
        (
            "AlreadyRegistered",
            format!("({A})"),
            "node 0x1111111111111111111111111111111111111111 is already registered",
        ),
        (
            "CannotUnjail",
            "(1700000000)".into(),
            "the node is jailed until 1700000000 (unix time)",
        ),
        (
            "HardwareBelowMinimum",
            "(1)".into(),
            "the node's hardware is below the minimum of model 1",
        ),
        (
            "InvalidAmount",
            format!("({EAI_1_5})"),
            "1.5 EAI is not a valid amount here",
        ),
        (
            "InvalidHardware",
            "()".into(),
            "the hardware needs a device model, memory and at least one device",
        ),
        (
            "InvalidModelList",
            "()".into(),
            "the model list is empty, too long or names a model twice",
        ),
        (
            "NotRegistered",
            format!("({A})"),
            "0x1111111111111111111111111111111111111111 is not a registered node",
        ),
        (
            "NothingToClaim",
            "()".into(),
            "there are no block rewards to claim",
        ),
        (
            "RewardsAlreadyStarted",
            "()".into(),
            "block rewards have already started",
        ),
        (
            "SafeERC20FailedOperation",
            format!("({A})"),
            "a transfer of token 0x1111111111111111111111111111111111111111 failed (balance or allowance too low?)",
        ),
        (
            "StakeTooLow",
            format!("({EAI_1_5}, 1000000000000000000000)"),
            "a stake of 1.5 EAI is below the minimum of 1000 EAI",
        ),
        (
            "StillUnbonding",
            "(1700000000)".into(),
            "the stake is unbonding until 1700000000 (unix time): withdraw after that",
        ),
        (
            "WrongStatus",
            "(2)".into(),
            "the node is paused, which does not allow this",
        ),
        (
            "InvalidFeed",
            "()".into(),
            "a feed entry needs data (at most the kernel's limit) or a data hash",
        ),
        (
            "NotFeeder",
            format!("({A}, {topic}, {C})"),
            "0x3333333333333333333333333333333333333333 may not feed topic 0xabababababababababababababababababababababababababababababababab of 0x1111111111111111111111111111111111111111",
        ),
        (
            "ERC20ExceededCap",
            "(2000000000000000000, 1000000000000000000)".into(),
            "minting would bring the EAI supply to 2 EAI, above its cap of 1 EAI",
        ),
        (
            "ERC20InsufficientAllowance",
            format!("({A}, 0, {EAI_1_5})"),
            "0x1111111111111111111111111111111111111111 may spend 0 EAI of this account but 1.5 EAI is needed (approve it first)",
        ),
        (
            "ERC20InsufficientBalance",
            format!("({A}, 0, {EAI_1_5})"),
            "0x1111111111111111111111111111111111111111 holds 0 EAI but 1.5 EAI is needed",
        ),
        (
            "ERC20InvalidApprover",
            format!("({A})"),
            "0x1111111111111111111111111111111111111111 cannot approve",
        ),
        (
            "ERC20InvalidCap",
            "(0)".into(),
            "0 EAI is not a valid supply cap",
        ),
        (
            "ERC20InvalidReceiver",
            format!("({A})"),
            "0x1111111111111111111111111111111111111111 cannot receive EAI",
        ),
        (
            "ERC20InvalidSender",
            format!("({A})"),
            "0x1111111111111111111111111111111111111111 cannot send EAI",
        ),
        (
            "ERC20InvalidSpender",
            format!("({A})"),
            "0x1111111111111111111111111111111111111111 cannot be a spender",
        ),
        (
            "GenesisAboveCap",
            "(2000000000000000000, 1000000000000000000)".into(),
            "a genesis supply of 2 EAI is above the cap of 1 EAI",
        ),
    ]
}

#[test]
fn decodes_kernel_errors_with_their_arguments() {
    let data: Bytes = DecentralizedInference::CommitClosed {
        promptId: U256::from(3u8),
    }
    .abi_encode()
    .into();
    assert_eq!(decode_revert(&data).as_deref(), Some("CommitClosed(3)"));
    assert_eq!(decode_revert(&Bytes::from_static(&[1, 2, 3, 4])), None);
    assert_eq!(decode_revert(&Bytes::new()), None);
    assert_eq!(explain_revert(&Bytes::from_static(&[1, 2, 3, 4])), None);
}

/// Each row is one error's test: the sentence, then the decoded call in parentheses.
#[test]
fn every_kernel_error_reads_as_a_sentence() {
    for (name, args, sentence) in rows() {
        let data = revert(name, &args);
        let raw = decode_revert(&data).unwrap_or_else(|| panic!("{name} does not decode"));
        assert!(raw.starts_with(name), "{raw}");
        assert_eq!(
            explain_revert(&data).as_deref(),
            Some(format!("{sentence} ({raw})").as_str()),
            "{name}{args}"
        );
    }
}

/// A new error in a contract fails here until it has a row above (and a sentence).
#[test]
fn no_kernel_error_lacks_a_sentence() {
    let covered: Vec<&str> = rows().iter().map(|(name, ..)| *name).collect();
    for signature in all_signatures() {
        let name = signature.split_once('(').map_or(signature, |(n, _)| n);
        assert!(
            covered.contains(&name),
            "{signature} has no sentence: add it to errors/sentences.rs and a row to rows()"
        );
    }
    assert_eq!(
        covered.len(),
        all_signatures().len(),
        "a row names no error"
    );
}

#[test]
fn the_issue_example_reads_as_written() {
    let data: Bytes = PromptScheduler::NotEnoughNodes {
        modelId: U256::from(1u8),
        available: U256::from(3u8),
        needed: U256::from(5u8),
    }
    .abi_encode()
    .into();
    assert_eq!(
        explain_revert(&data).as_deref(),
        Some("model 1 has 3 eligible nodes, committee of 5 requested (NotEnoughNodes(1, 3, 5))")
    );
    // Arguments that do not decode fall back to the signature, without a sentence.
    let short = Bytes::from(data[..8].to_vec());
    assert_eq!(
        explain_revert(&short).as_deref(),
        Some("NotEnoughNodes(uint256,uint256,uint256)")
    );
}
