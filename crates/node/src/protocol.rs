//! The byte rules a node follows when committing and revealing (`docs/protocol.md`).

use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolValue;

/// The node's salt secret: `keccak256("aikernel-salt" || private key)`. Derived, never
/// stored, so a restarted node can reveal what it committed before it died.
pub fn salt_secret(signer: &PrivateKeySigner) -> B256 {
    let mut preimage = b"aikernel-salt".to_vec();
    preimage.extend_from_slice(&signer.to_bytes()[..]);
    keccak256(&preimage)
}

/// The salt for one prompt: `keccak256(abi.encode(secret, promptId))`.
pub fn salt(secret: B256, prompt_id: U256) -> B256 {
    keccak256((secret, prompt_id).abi_encode())
}

/// The commitment: `keccak256(abi.encode(promptId, keccak256(output), salt, node))`.
pub fn commitment(prompt_id: U256, output: &[u8], salt: B256, node: Address) -> B256 {
    keccak256((prompt_id, keccak256(output), salt, node).abi_encode())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commitment_matches_the_solidity_encoding() {
        // abi.encode of four static words is their concatenation.
        let id = U256::from(7u64);
        let salt = B256::repeat_byte(0xab);
        let node = Address::repeat_byte(0x11);
        let output = U256::from(1u64).to_be_bytes::<32>();
        let mut packed = Vec::new();
        packed.extend_from_slice(&id.to_be_bytes::<32>());
        packed.extend_from_slice(keccak256(output).as_slice());
        packed.extend_from_slice(salt.as_slice());
        packed.extend_from_slice(&[0u8; 12]);
        packed.extend_from_slice(node.as_slice());
        assert_eq!(commitment(id, &output, salt, node), keccak256(&packed));
    }

    #[test]
    fn salt_depends_on_key_and_prompt() {
        let a = PrivateKeySigner::from_bytes(&B256::repeat_byte(1)).unwrap();
        let b = PrivateKeySigner::from_bytes(&B256::repeat_byte(2)).unwrap();
        let (sa, sb) = (salt_secret(&a), salt_secret(&b));
        assert_ne!(sa, sb);
        assert_eq!(sa, salt_secret(&a), "re-derivable after a restart");
        assert_ne!(salt(sa, U256::from(1u8)), salt(sa, U256::from(2u8)));
        let mut words = sa.to_vec();
        words.extend_from_slice(&U256::from(1u8).to_be_bytes::<32>());
        assert_eq!(salt(sa, U256::from(1u8)), keccak256(&words));
    }
}
