//! The deterministic error output of `docs/protocol.md`.

/// `bytes4(keccak256("AIKernelError(uint8)"))`; the forge fixture test checks it.
pub const ERROR_SELECTOR: [u8; 4] = [0x76, 0x15, 0x2c, 0xeb];

/// Deterministic failures every honest node reaches identically (`docs/protocol.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ErrorCode {
    /// The request's schema does not parse.
    InvalidSchema = 1,
    /// Prompt plus `maxTokens` exceed the context window.
    InputTooLong = 2,
    /// The driver cannot serve this request.
    Unsupported = 3,
    /// The input is not UTF-8.
    InvalidInput = 4,
    /// Generation ended (`maxTokens` ran out, or no token could continue the value) before
    /// the output was a complete value of the schema.
    OutputIncomplete = 5,
    /// The request's off-chain input (`inputHash`), or the data of a Feed entry in its context
    /// chain (`dataHash`), cannot be found: a node that cannot resolve it answers with this
    /// instead of staying silent, and the requester pays for the unavailable data.
    InputUnavailable = 6,
}

impl ErrorCode {
    /// The output bytes for this error (see [`error_output`]).
    pub fn output(self) -> Vec<u8> {
        error_output(self as u8)
    }
}

/// `abi.encodeWithSelector(AIKernelError.selector, code)`: 36 bytes, so
/// `output.len() % 32 == 4` tells an error from a value.
pub fn error_output(code: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(36);
    out.extend_from_slice(&ERROR_SELECTOR);
    out.extend_from_slice(&[0u8; 31]);
    out.push(code);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_output_layout() {
        let out = ErrorCode::InputTooLong.output();
        assert_eq!(out.len(), 36);
        assert_eq!(out.len() % 32, 4);
        assert_eq!(&out[..4], &[0x76, 0x15, 0x2c, 0xeb]);
        assert!(out[4..35].iter().all(|&b| b == 0));
        assert_eq!(out[35], 2);
        assert_eq!(ErrorCode::InputUnavailable.output(), error_output(6));
    }
}
