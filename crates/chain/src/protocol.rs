//! The byte rules of `docs/protocol.md` ("Commit and reveal") that nodes, verifiers and tests
//! share with the kernel: round-bound output hashes, commitments, and the identity of a
//! request (which keys a node's stored outputs, so a reorg that gives a prompt id to another
//! request never reuses the old output).

use alloy::primitives::{Address, B256, FixedBytes, U256, keccak256};
use alloy::sol_types::SolValue;

use crate::bindings::IAIKernel;

/// An answer: `keccak256(abi.encode(keccak256(output), trace))`, where `trace` is the
/// engine's hash of every logit it computed for the output (`logits_sha256`). Only a node
/// that ran the model knows the trace, so an answer can be neither guessed nor copied.
pub fn answer(output: &[u8], trace: B256) -> B256 {
    keccak256((keccak256(output), trace).abi_encode())
}

/// `roundHash = keccak256(abi.encode(uint256 promptId, uint8 round, answer(output, trace)))`:
/// what a node commits to and reveals in round `round`. Binding the round means nothing
/// revealed in one round can be replayed in another.
pub fn round_hash(prompt_id: U256, round: u8, output: &[u8], trace: B256) -> B256 {
    keccak256((prompt_id, U256::from(round), answer(output, trace)).abi_encode())
}

/// The upper 224 bits of `keccak256(abi.encode(uint256 promptId, uint8 round, bytes32
/// roundHash, bytes32 salt, address node))`, and in the low 32 bits the request tag: the low
/// 32 bits of the prompt's request blob (`promptInfo(promptId).blob`). Binding the node's
/// address stops a node from replaying another node's commitment (it could not open it); the
/// tag makes a commit transaction that a reorg orphaned, and that is mined again after another
/// request took the prompt id, revert (`RequestReplaced`) instead of binding the node to an
/// answer for a request it never computed.
pub fn commitment(
    prompt_id: U256,
    round: u8,
    round_hash: B256,
    salt: B256,
    node: Address,
    request_blob: Address,
) -> B256 {
    let mut c = keccak256((prompt_id, U256::from(round), round_hash, salt, node).abi_encode());
    c[28..].copy_from_slice(&request_blob[16..]);
    c
}

/// The upper 224 bits of a hash, as the kernel keeps them per committee member
/// (`memberState`'s `hashPrefix`).
pub fn prefix(hash: B256) -> FixedBytes<28> {
    FixedBytes::<28>::from_slice(&hash[..28])
}

/// `keccak256(abi.encode(uint256 promptId, keccak256(abi.encode(request)), bytes32
/// contextRoot))`: which request a prompt id stands for. A reorg can give the id to another
/// request; its identity then differs, so nothing computed for the old one is reused.
pub fn request_identity(prompt_id: U256, request: &IAIKernel::Request, context_root: B256) -> B256 {
    let request_hash = keccak256(request.abi_encode());
    keccak256((prompt_id, request_hash, context_root).abi_encode())
}

#[cfg(test)]
mod tests {
    use alloy::primitives::Bytes;

    use super::*;

    fn words(parts: &[&[u8]]) -> Vec<u8> {
        parts.iter().flat_map(|p| p.iter().copied()).collect()
    }

    fn word(n: u64) -> [u8; 32] {
        U256::from(n).to_be_bytes::<32>()
    }

    #[test]
    fn round_hash_and_commitment_match_the_solidity_encoding() {
        // abi.encode of static words is their concatenation; uint8 pads to 32 bytes.
        let id = U256::from(7u64);
        let output = word(1);
        let trace = B256::repeat_byte(0x5a);
        let answer = keccak256(words(&[keccak256(output).as_slice(), trace.as_slice()]));
        let rh = round_hash(id, 1, &output, trace);
        assert_eq!(
            rh,
            keccak256(words(&[&word(7), &word(1), answer.as_slice()]))
        );
        assert_ne!(rh, round_hash(id, 0, &output, trace), "bound to the round");
        assert_ne!(
            rh,
            round_hash(id, 1, &output, B256::ZERO),
            "bound to the trace"
        );
        let salt = B256::repeat_byte(0xab);
        let node = Address::repeat_byte(0x11);
        let mut padded = [0u8; 32];
        padded[12..].copy_from_slice(node.as_slice());
        let blob: Address = "0x00000000000000000000000000000000a1b2c3d4"
            .parse()
            .unwrap();
        let hashed = keccak256(words(&[
            &word(7),
            &word(1),
            rh.as_slice(),
            salt.as_slice(),
            &padded,
        ]));
        let c = commitment(id, 1, rh, salt, node, blob);
        assert_eq!(c[..28], hashed[..28], "the hash in the upper 224 bits");
        assert_eq!(
            c[28..],
            [0xa1, 0xb2, 0xc3, 0xd4],
            "the blob's low 32 bits as the tag"
        );
        assert_eq!(prefix(rh).as_slice(), &rh[..28]);
    }

    #[test]
    fn identity_hashes_the_abi_encoded_request() {
        let request = IAIKernel::Request {
            modelId: U256::from(1u8),
            topic: B256::ZERO,
            input: Bytes::from_static(b"hi"),
            inputHash: B256::ZERO,
            extraContext: Bytes::new(),
            schema: Bytes::new(),
            maxTokens: 8,
            temperature: 0,
            seed: 0,
            callback: Address::ZERO,
            callbackGasLimit: 0,
            committeeSize: 3,
        };
        let encoded = request.abi_encode();
        // abi.encode of one dynamic struct starts with the offset of its tuple.
        assert_eq!(encoded[..32], word(32));
        let root = B256::repeat_byte(3);
        let id = U256::from(5u8);
        let identity = request_identity(id, &request, root);
        assert_eq!(
            identity,
            keccak256(words(&[
                &word(5),
                keccak256(&encoded).as_slice(),
                root.as_slice()
            ]))
        );
        let mut other = request.clone();
        other.input = Bytes::from_static(b"ho");
        assert_ne!(identity, request_identity(id, &other, root));
        assert_ne!(identity, request_identity(id, &request, B256::ZERO));
        assert_ne!(identity, request_identity(U256::from(6u8), &request, root));
    }
}
