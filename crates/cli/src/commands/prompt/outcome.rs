//! A settled output read with its request's schema: the typed value, or the error the
//! committee agreed on and what to do about it.

use serde_json::json;

use aikernel_schema::{Output, Schema, decode_output, format_value};

use crate::output::{hex0x, value_json};

/// The name of an `AIKernelError` code (crates/schema/src/error_code.rs, docs/protocol.md).
pub(super) fn error_name(code: u8) -> &'static str {
    match code {
        1 => "InvalidSchema",
        2 => "InputTooLong",
        3 => "Unsupported",
        4 => "InvalidInput",
        5 => "OutputIncomplete",
        6 => "InputUnavailable",
        _ => "unknown",
    }
}

/// What an error result means for the requester.
pub(super) fn error_advice(code: u8) -> &'static str {
    match code {
        1 => "the output schema does not parse",
        2 => {
            "the prompt and --max-tokens do not fit the model's context: shorten the input or \
              ask for fewer tokens"
        }
        3 => "the model's driver cannot serve this request",
        4 => "the input or the extra context is not UTF-8 text",
        5 => {
            "generation ended before the answer was a complete value of the schema: raise \
              --max-tokens or simplify the schema"
        }
        6 => {
            "the nodes could not find the off-chain input (its inputHash): publish it where \
              nodes fetch content, or send it inline"
        }
        _ => "the committee agreed the request cannot be served",
    }
}

/// The error code of an error result; `None` for a value (or undecodable bytes).
pub(super) fn error_code(schema: &Schema, output: &[u8]) -> Option<u8> {
    match decode_output(schema, output) {
        Ok(Output::Error(code)) => Some(code),
        _ => None,
    }
}

/// The result as JSON: `{success, value, display}` or `{success: false, errorCode, error}`.
pub(super) fn result_json(schema: &Schema, output: &[u8]) -> serde_json::Value {
    let root = schema.root();
    match decode_output(schema, output) {
        Ok(Output::Value(v)) => {
            json!({ "success": true, "value": value_json(root, &v), "display": format_value(root, &v) })
        }
        Ok(Output::Error(code)) => json!({
            "success": false,
            "errorCode": code,
            "error": error_name(code),
            "meaning": error_advice(code),
        }),
        Err(e) => json!({ "success": false, "undecodable": e.to_string() }),
    }
}

/// The result for people, one line.
pub(super) fn result_text(schema: &Schema, output: &[u8]) -> String {
    let root = schema.root();
    match decode_output(schema, output) {
        Ok(Output::Value(v)) => format_value(root, &v),
        Ok(Output::Error(code)) => {
            format!("error {code} {}: {}", error_name(code), error_advice(code))
        }
        Err(e) => format!("undecodable output ({e}): {}", hex0x(output)),
    }
}

/// The failure `prompt --wait` and `prompt wait` exit with after printing an error result.
pub(super) fn error_exit(id: impl std::fmt::Display, code: u8) -> anyhow::Error {
    anyhow::anyhow!(
        "prompt {id} settled with error {code} {}: {}",
        error_name(code),
        error_advice(code)
    )
}
