//! One sentence per custom error of the kernel contracts (DecentralizedInference and its
//! KernelCore, ModelFileSystem, PromptScheduler, GPUManagement, ContextManager, EAI): what
//! went wrong in the user's terms, with the numbers, and where there is one, the way out.

use aikernel_protocol::NodeStatus;
use alloy::dyn_abi::DynSolValue;
use alloy::primitives::{B256, U256, keccak256};

/// The sentence for error `name` with decoded `args`; `None` for an error without one (or
/// arguments of unexpected types).
pub(super) fn sentence(name: &str, args: &[DynSolValue]) -> Option<String> {
    let a = Args(args);
    Some(match name {
        // DecentralizedInference (KernelCore, KernelExtension, RequestBlob)
        "AlreadyCommitted" => format!(
            "node {} already committed to prompt {}",
            a.addr(1)?,
            a.num(0)?
        ),
        "AlreadyDrawn" => format!(
            "the committee of prompt {} round {} is already drawn",
            a.num(0)?,
            a.num(1)?
        ),
        "AlreadyFinal" => format!("prompt {} is already settled or refunded", a.num(0)?),
        "AlreadyRevealed" => format!(
            "node {} already revealed its output for prompt {}",
            a.addr(1)?,
            a.num(0)?
        ),
        "BlobWriteFailed" => {
            "the kernel could not store the request (out of gas? send more gas)".to_owned()
        }
        "CallbackGasTooHigh" => format!(
            "a callback gas limit of {} is above the kernel's limit of {}",
            a.num(0)?,
            a.num(1)?
        ),
        "CallbackNotRequester" => format!(
            "the callback {} must be the requester {} itself (or zero for no callback)",
            a.addr(0)?,
            a.addr(1)?
        ),
        "CommitClosed" => format!("the commit window of prompt {} is closed", a.num(0)?),
        "ContextTooLong" => format!(
            "the conversation already has {} entries, the most the kernel keeps: start a new topic",
            a.num(0)?
        ),
        "FeeTooHigh" => format!(
            "a fee of {} wei is more than the kernel can record: ask for fewer tokens or a \
             smaller committee",
            a.num(0)?
        ),
        "FeeTooLow" => format!(
            "the fee sent is {} wei but this request costs {} wei (see the quote)",
            a.num(1)?,
            a.num(0)?
        ),
        "InsufficientGasForCallback" => format!(
            "{} gas is left for the callback but {} is needed: send the transaction with more gas",
            a.num(1)?,
            a.num(0)?
        ),
        "InvalidParameter" => "a parameter is zero or out of its allowed range".to_owned(),
        "InvalidReveal" => format!(
            "the reveal of node {} for prompt {} does not match its commitment",
            a.addr(1)?,
            a.num(0)?
        ),
        "NotAwaited" => format!("prompt {} is not waiting for its output bytes", a.num(0)?),
        "NotCommitted" => format!(
            "node {} did not commit to prompt {} in this round, so it cannot reveal",
            a.addr(1)?,
            a.num(0)?
        ),
        "NotInCommittee" => format!(
            "{} is not in the committee of prompt {}'s current round",
            a.addr(1)?,
            a.num(0)?
        ),
        "NotSettled" => format!("prompt {} has not settled", a.num(0)?),
        "NothingToWithdraw" => "this account has no earnings to withdraw".to_owned(),
        "OutputMismatch" => format!(
            "the output bytes do not hash to the output prompt {}'s committee decided",
            a.num(0)?
        ),
        "OutputTooLarge" => format!(
            "an output of {} bytes is above the kernel's limit of 8192 bytes",
            a.num(0)?
        ),
        "OwnableInvalidOwner" => format!("{} cannot be the owner", a.addr(0)?),
        "OwnableUnauthorizedAccount" => {
            format!("{} is not the owner of the contract", a.addr(0)?)
        }
        "ReentrancyGuardReentrantCall" => "a reentrant call was refused".to_owned(),
        "RequestReplaced" => format!(
            "the commitment was made for another request than prompt {}'s (a reorg gave the id \
             to a new request): compute the new request and commit again",
            a.num(0)?
        ),
        "RevealClosed" => format!("the reveal window of prompt {} is closed", a.num(0)?),
        "SeedNotReady" => format!(
            "prompt {}'s committee is drawn with the hash of block {}, which is not mined yet",
            a.num(0)?,
            a.num(1)?
        ),
        "SettlementNotDue" => format!(
            "prompt {}'s round is still open: it cannot be settled yet",
            a.num(0)?
        ),
        "TransferFailed" => "an ETH transfer failed (the receiver refused it)".to_owned(),
        "UnknownEntryPoint" => "the kernel has no such function".to_owned(),
        "UnknownPrompt" => format!("there is no prompt {}", a.num(0)?),
        "ZeroCommitment" => "a commitment cannot be zero".to_owned(),

        // ModelFileSystem
        "InputTooLarge" => format!(
            "a request field of {} bytes (input, extra context or schema) is above the limit \
             of {} bytes; a long input can stay off chain (inputHash)",
            a.num(0)?,
            a.num(1)?
        ),
        "InvalidCommitteeSize" => format!(
            "a committee of {} is not allowed: it must be odd, from 1 to 15",
            a.num(0)?
        ),
        "InvalidInput" => "a request needs either an inline input or an input hash, \
                           exactly one of the two"
            .to_owned(),
        "InvalidMaxTokens" => format!(
            "maxTokens {} is not allowed: it must be from 1 to {}",
            a.num(0)?,
            a.num(1)?
        ),
        "InvalidModelField" => format!("the model's {} is missing or invalid", a.text(0)?),
        "InvalidSchema" => "the output schema does not parse (docs/schema.md)".to_owned(),
        "ModelInactive" => format!("model {} is deactivated", a.num(0)?),
        "RequestTooSlow" => format!(
            "this request is {} seconds of work at the model's registered speed, above the \
             limit of {} seconds: ask for fewer tokens or send a shorter input",
            a.num(0)?,
            a.num(1)?
        ),
        "TooManyUris" => format!(
            "{} URIs given, at most {} are allowed",
            a.num(0)?,
            a.num(1)?
        ),
        "UnknownModel" => format!(
            "there is no model {} (`aikernel models list` shows the registered ones)",
            a.num(0)?
        ),

        // PromptScheduler
        "InvalidTiming" => {
            "the commit and reveal windows and the number of rounds must be positive".to_owned()
        }
        "NoPendingSnapshot" => format!("model {} has no pending pool snapshot", a.num(0)?),
        "NotEnoughNodes" => format!(
            "model {} has {} eligible nodes, committee of {} requested",
            a.num(0)?,
            a.num(1)?,
            a.num(2)?
        ),

        // GPUManagement
        "AlreadyRegistered" => format!("node {} is already registered", a.addr(0)?),
        "CannotUnjail" => format!("the node is jailed until {} (unix time)", a.num(0)?),
        "HardwareBelowMinimum" => format!(
            "the node's hardware is below the minimum of model {}",
            a.num(0)?
        ),
        "InvalidAmount" => format!("{} is not a valid amount here", a.eai(0)?),
        "InvalidHardware" => {
            "the hardware needs a device model, memory and at least one device".to_owned()
        }
        "InvalidModelList" => "the model list is empty, too long or names a model twice".to_owned(),
        "NotRegistered" => format!("{} is not a registered node", a.addr(0)?),
        "NothingToClaim" => "there are no block rewards to claim".to_owned(),
        "RewardsAlreadyStarted" => "block rewards have already started".to_owned(),
        "SafeERC20FailedOperation" => format!(
            "a transfer of token {} failed (balance or allowance too low?)",
            a.addr(0)?
        ),
        "StakeTooLow" => format!(
            "a stake of {} is below the minimum of {}",
            a.eai(0)?,
            a.eai(1)?
        ),
        "StillUnbonding" => format!(
            "the stake is unbonding until {} (unix time): withdraw after that",
            a.num(0)?
        ),
        "WrongStatus" => format!(
            "the node is {}, which does not allow this",
            node_status(a.uint(0)?)
        ),

        // ContextManager
        "InvalidFeed" => {
            "a feed entry needs data (at most the kernel's limit) or a data hash".to_owned()
        }
        "NotFeeder" => format!(
            "{} may not feed topic {} of {}",
            a.addr(2)?,
            a.word(1)?,
            a.addr(0)?
        ),

        // Access control (every contract with roles)
        "AccessControlBadConfirmation" => {
            "a role can only be renounced by the account that holds it".to_owned()
        }
        "AccessControlUnauthorizedAccount" => {
            format!("{} does not hold {}", a.addr(0)?, role_name(a.word(1)?))
        }

        // EAI
        "ERC20ExceededCap" => format!(
            "minting would bring the EAI supply to {}, above its cap of {}",
            a.eai(0)?,
            a.eai(1)?
        ),
        "ERC20InsufficientAllowance" => format!(
            "{} may spend {} of this account but {} is needed (approve it first)",
            a.addr(0)?,
            a.eai(1)?,
            a.eai(2)?
        ),
        "ERC20InsufficientBalance" => format!(
            "{} holds {} but {} is needed",
            a.addr(0)?,
            a.eai(1)?,
            a.eai(2)?
        ),
        "ERC20InvalidApprover" => format!("{} cannot approve", a.addr(0)?),
        "ERC20InvalidCap" => format!("{} is not a valid supply cap", a.eai(0)?),
        "ERC20InvalidReceiver" => format!("{} cannot receive EAI", a.addr(0)?),
        "ERC20InvalidSender" => format!("{} cannot send EAI", a.addr(0)?),
        "ERC20InvalidSpender" => format!("{} cannot be a spender", a.addr(0)?),
        "GenesisAboveCap" => format!(
            "a genesis supply of {} is above the cap of {}",
            a.eai(0)?,
            a.eai(1)?
        ),
        _ => return None,
    })
}

/// Typed access to decoded error arguments.
struct Args<'a>(&'a [DynSolValue]);

impl Args<'_> {
    fn uint(&self, i: usize) -> Option<U256> {
        match self.0.get(i)? {
            DynSolValue::Uint(u, _) => Some(*u),
            _ => None,
        }
    }

    fn num(&self, i: usize) -> Option<String> {
        self.uint(i).map(|u| u.to_string())
    }

    fn addr(&self, i: usize) -> Option<String> {
        match self.0.get(i)? {
            DynSolValue::Address(a) => Some(a.to_string()),
            _ => None,
        }
    }

    fn text(&self, i: usize) -> Option<String> {
        match self.0.get(i)? {
            DynSolValue::String(s) => Some(s.clone()),
            _ => None,
        }
    }

    fn word(&self, i: usize) -> Option<B256> {
        match self.0.get(i)? {
            DynSolValue::FixedBytes(w, 32) => Some(*w),
            _ => None,
        }
    }

    /// An amount of EAI base units as EAI: `1500000000000000000` -> `1.5 EAI`.
    fn eai(&self, i: usize) -> Option<String> {
        let v = self.uint(i)?;
        let unit = U256::from(10u64).pow(U256::from(18u8));
        let (whole, frac) = (v / unit, v % unit);
        if frac.is_zero() {
            return Some(format!("{whole} EAI"));
        }
        let frac = format!("{frac:0>18}");
        Some(format!("{whole}.{} EAI", frac.trim_end_matches('0')))
    }
}

/// `GPUManagement.NodeStatus` by value.
fn node_status(status: U256) -> &'static str {
    let status = u8::try_from(status)
        .ok()
        .and_then(|s| NodeStatus::try_from(s).ok());
    match status {
        Some(NodeStatus::None) => "not registered",
        Some(s) => s.name(),
        None => "in an unknown state",
    }
}

/// The name of a kernel role from its hash (`keccak256("MODEL_ADMIN_ROLE")`), or the hash.
fn role_name(role: B256) -> String {
    if role.is_zero() {
        return "DEFAULT_ADMIN_ROLE".to_owned();
    }
    [
        "MODEL_ADMIN_ROLE",
        "POOL_MANAGER_ROLE",
        "ASSIGNER_ROLE",
        "SLASHER_ROLE",
        "KERNEL_ROLE",
        "MINTER_ROLE",
    ]
    .into_iter()
    .find(|name| keccak256(name.as_bytes()) == role)
    .map_or_else(|| format!("role {role}"), str::to_owned)
}
