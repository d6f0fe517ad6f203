//! Revert data decoded to the kernel contracts' custom errors, readable: `UnknownModel(9)`.

use alloy::dyn_abi::{DynSolType, DynSolValue};
use alloy::primitives::Bytes;

use crate::bindings::{
    ContextManager, DecentralizedInference, EAI, GPUManagement, ModelFileSystem, PromptScheduler,
};

/// The custom error inside a revert, decoded against every kernel contract (a revert in a
/// called contract bubbles up unchanged): `CommitClosed(3)`, or the bare signature when the
/// arguments do not decode. `None` when the selector is not one of the kernel's errors.
pub fn decode_revert(data: &Bytes) -> Option<String> {
    let selector = <[u8; 4]>::try_from(data.get(..4)?).ok()?;
    let signature =
        DecentralizedInference::DecentralizedInferenceErrors::signature_by_selector(selector)
            .or_else(|| ModelFileSystem::ModelFileSystemErrors::signature_by_selector(selector))
            .or_else(|| PromptScheduler::PromptSchedulerErrors::signature_by_selector(selector))
            .or_else(|| GPUManagement::GPUManagementErrors::signature_by_selector(selector))
            .or_else(|| ContextManager::ContextManagerErrors::signature_by_selector(selector))
            .or_else(|| EAI::EAIErrors::signature_by_selector(selector))?;
    let (name, params) = signature.split_once('(')?;
    let args = DynSolType::parse(&format!("({params}"))
        .ok()
        .and_then(|ty| ty.abi_decode_params(&data[4..]).ok());
    let args = match args {
        Some(DynSolValue::Tuple(values)) => values.iter().map(show).collect::<Vec<_>>().join(", "),
        _ => return Some(signature.to_owned()),
    };
    Some(format!("{name}({args})"))
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
mod tests {
    use alloy::primitives::U256;
    use alloy::sol_types::SolError;

    use super::*;

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
    }
}
