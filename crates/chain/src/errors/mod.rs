//! Revert data decoded to the kernel contracts' custom errors: readable as a call,
//! `UnknownModel(9)` ([`decode_revert`]), and as a sentence a user can act on, "there is no
//! model 9 ..." ([`explain_revert`]).

mod sentences;

use alloy::dyn_abi::{DynSolType, DynSolValue};
use alloy::primitives::Bytes;

use crate::bindings::{
    ContextManager, DecentralizedInference, EAI, GPUManagement, ModelFileSystem, PromptScheduler,
};

/// The signature of the kernel error with this selector, searched in every kernel contract (a
/// revert in a called contract bubbles up unchanged).
fn signature(selector: [u8; 4]) -> Option<&'static str> {
    DecentralizedInference::DecentralizedInferenceErrors::signature_by_selector(selector)
        .or_else(|| ModelFileSystem::ModelFileSystemErrors::signature_by_selector(selector))
        .or_else(|| PromptScheduler::PromptSchedulerErrors::signature_by_selector(selector))
        .or_else(|| GPUManagement::GPUManagementErrors::signature_by_selector(selector))
        .or_else(|| ContextManager::ContextManagerErrors::signature_by_selector(selector))
        .or_else(|| EAI::EAIErrors::signature_by_selector(selector))
}

/// A kernel error: its name and, when they decode, its arguments.
struct Decoded {
    signature: &'static str,
    name: &'static str,
    args: Option<Vec<DynSolValue>>,
}

fn decode(data: &Bytes) -> Option<Decoded> {
    let selector = <[u8; 4]>::try_from(data.get(..4)?).ok()?;
    let signature = signature(selector)?;
    let (name, params) = signature.split_once('(')?;
    let args = DynSolType::parse(&format!("({params}"))
        .ok()
        .and_then(|ty| ty.abi_decode_params(&data[4..]).ok())
        .and_then(|v| match v {
            DynSolValue::Tuple(values) => Some(values),
            _ => None,
        });
    Some(Decoded {
        signature,
        name,
        args,
    })
}

/// The custom error inside a revert, decoded against every kernel contract: `CommitClosed(3)`,
/// or the bare signature when the arguments do not decode. `None` when the selector is not one
/// of the kernel's errors.
pub fn decode_revert(data: &Bytes) -> Option<String> {
    let d = decode(data)?;
    match d.args {
        Some(args) => Some(format!(
            "{}({})",
            d.name,
            args.iter().map(show).collect::<Vec<_>>().join(", ")
        )),
        None => Some(d.signature.to_owned()),
    }
}

/// The custom error inside a revert as a sentence followed by its decoded form:
/// `model 1 has 3 eligible nodes, committee of 5 requested (NotEnoughNodes(1, 3, 5))`.
/// Just the decoded form for an error with no sentence (or whose arguments do not decode);
/// `None` when the selector is not one of the kernel's errors.
pub fn explain_revert(data: &Bytes) -> Option<String> {
    let raw = decode_revert(data)?;
    let d = decode(data)?;
    let sentence = d
        .args
        .as_deref()
        .and_then(|args| sentences::sentence(d.name, args));
    Some(match sentence {
        Some(s) => format!("{s} ({raw})"),
        None => raw,
    })
}

/// One decoded error argument, readable.
fn show(value: &DynSolValue) -> String {
    match value {
        DynSolValue::Bool(b) => b.to_string(),
        DynSolValue::Int(i, _) => i.to_string(),
        DynSolValue::Uint(u, _) => u.to_string(),
        DynSolValue::Address(a) => a.to_string(),
        DynSolValue::String(s) => format!("{s:?}"),
        DynSolValue::FixedBytes(w, size) => format!("0x{}", alloy::hex::encode(&w[..*size])),
        DynSolValue::Bytes(b) => format!("0x{}", alloy::hex::encode(b)),
        DynSolValue::Array(items) | DynSolValue::FixedArray(items) | DynSolValue::Tuple(items) => {
            format!(
                "[{}]",
                items.iter().map(show).collect::<Vec<_>>().join(", ")
            )
        }
        DynSolValue::Function(_) => format!("{value:?}"),
    }
}

#[cfg(test)]
mod tests;
