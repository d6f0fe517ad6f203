//! The `uint8` states the contracts report, as Rust enums with the contracts' values.

use std::fmt;

/// A `uint8` the contracts never report for this kind of state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{value} is not a valid {what} (the contracts define 0..={max})")]
pub struct UnknownValue {
    /// Which state the value was read as (`prompt status`, ...).
    pub what: &'static str,
    /// The value that matched no variant.
    pub value: u8,
    /// The largest value defined.
    pub max: u8,
}

/// Defines a `#[repr(u8)]` enum of contract states with `as_u8`, `name`, `Display` and
/// `TryFrom<u8>`; each variant lists its value and its lower-case name.
macro_rules! contract_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal, $text:literal; )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum $name {
            $( $(#[$vmeta])* $variant = $value, )+
        }

        impl $name {
            /// Every variant, in value order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value the contracts use.
            pub const fn as_u8(self) -> u8 {
                self as u8
            }

            /// The lower-case name (what `Display` prints).
            pub const fn name(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl TryFrom<u8> for $name {
            type Error = UnknownValue;

            fn try_from(value: u8) -> Result<Self, UnknownValue> {
                match value {
                    $( $value => Ok($name::$variant), )+
                    _ => Err(UnknownValue {
                        what: $what,
                        value,
                        max: $name::ALL[$name::ALL.len() - 1].as_u8(),
                    }),
                }
            }
        }

        impl From<$name> for u8 {
            fn from(value: $name) -> u8 {
                value.as_u8()
            }
        }
    };
}

contract_enum! {
    /// `IAIKernel.Status`: the lifecycle of a prompt (`statusOf`, `promptInfo().status`).
    PromptStatus, "prompt status" {
        /// No such prompt (never submitted, or reorged away).
        None = 0, "none";
        /// The committee is committing to its output hashes.
        Committing = 1, "committing";
        /// The committee is revealing.
        Revealing = 2, "revealing";
        /// Final: the output was delivered.
        Settled = 3, "settled";
        /// Final: no result, the fee went back to the requester.
        Refunded = 4, "refunded";
        /// A round decided on an output hash and waits for the output bytes.
        Publishing = 5, "publishing";
    }
}

impl PromptStatus {
    /// Settled or refunded: nothing will change any more.
    pub const fn is_final(self) -> bool {
        matches!(self, PromptStatus::Settled | PromptStatus::Refunded)
    }
}

contract_enum! {
    /// A committee member's state in one round (`memberState(promptId, round, node).state`;
    /// `COMMITTED`, `REVEALED`, `WITHHELD`, `DECLINED` in KernelCore.sol).
    MemberState, "member state" {
        /// Neither committed nor declined (yet).
        None = 0, "none";
        /// Committed to a round hash.
        Committed = 1, "committed";
        /// Revealed its round hash.
        Revealed = 2, "revealed";
        /// Revealed, but did not publish the decided output.
        Withheld = 3, "withheld";
        /// Declined the round (it cannot compute the prompt in time).
        Declined = 4, "declined";
    }
}

contract_enum! {
    /// `GPUManagement.NodeStatus`: the lifecycle of a node (`nodeInfo().status`).
    NodeStatus, "node status" {
        /// Never registered, or exited and withdrew everything.
        None = 0, "none";
        /// Registered and taking prompts (unless jailed or under-staked).
        Active = 1, "active";
        /// Registered, taking no new prompts until `resume`.
        Paused = 2, "paused";
        /// Unregistered: all stake unbonding.
        Exiting = 3, "exiting";
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A contract source of the checkout.
    fn solidity(path: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../contracts/src")
            .join(path);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The variants of `enum <name> { ... }` in `source`, in order.
    fn solidity_enum(source: &str, name: &str) -> Vec<String> {
        let start = source
            .find(&format!("enum {name} {{"))
            .unwrap_or_else(|| panic!("enum {name} not found"));
        let body = &source[start..];
        let body = &body[body.find('{').unwrap() + 1..body.find('}').unwrap()];
        body.split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The value of `uint256 internal constant <name> = <value>;` in `source`.
    fn solidity_constant(source: &str, name: &str) -> u8 {
        let needle = format!("constant {name} = ");
        let start = source
            .find(&needle)
            .unwrap_or_else(|| panic!("constant {name} not found"))
            + needle.len();
        let rest = &source[start..];
        rest[..rest.find(';').unwrap()].trim().parse().unwrap()
    }

    fn capitalised(name: &str) -> String {
        let mut c = name.chars();
        c.next()
            .map(|first| first.to_uppercase().chain(c).collect())
            .unwrap_or_default()
    }

    #[test]
    fn prompt_status_is_the_solidity_enum() {
        let variants = solidity_enum(&solidity("interfaces/IAIKernel.sol"), "Status");
        let rust: Vec<String> = PromptStatus::ALL
            .iter()
            .map(|s| capitalised(s.name()))
            .collect();
        assert_eq!(rust, variants);
        for (i, s) in PromptStatus::ALL.iter().enumerate() {
            assert_eq!(usize::from(s.as_u8()), i);
        }
    }

    #[test]
    fn node_status_is_the_solidity_enum() {
        let variants = solidity_enum(&solidity("kernel/GPUManagement.sol"), "NodeStatus");
        let rust: Vec<String> = NodeStatus::ALL
            .iter()
            .map(|s| capitalised(s.name()))
            .collect();
        assert_eq!(rust, variants);
        for (i, s) in NodeStatus::ALL.iter().enumerate() {
            assert_eq!(usize::from(s.as_u8()), i);
        }
    }

    #[test]
    fn member_states_are_the_kernel_constants() {
        let source = solidity("kernel/KernelCore.sol");
        for s in &MemberState::ALL[1..] {
            let constant = s.name().to_uppercase();
            assert_eq!(
                solidity_constant(&source, &constant),
                s.as_u8(),
                "{constant}"
            );
        }
        assert_eq!(MemberState::None.as_u8(), 0);
    }

    #[test]
    fn values_round_trip_and_unknown_ones_are_named() {
        for s in PromptStatus::ALL {
            assert_eq!(PromptStatus::try_from(s.as_u8()), Ok(*s));
        }
        for s in MemberState::ALL {
            assert_eq!(MemberState::try_from(u8::from(*s)), Ok(*s));
        }
        let err = PromptStatus::try_from(6).unwrap_err();
        assert_eq!(
            err.to_string(),
            "6 is not a valid prompt status (the contracts define 0..=5)"
        );
        assert!(
            NodeStatus::try_from(4)
                .unwrap_err()
                .to_string()
                .contains("node status")
        );
        assert_eq!(PromptStatus::Publishing.to_string(), "publishing");
        assert!(PromptStatus::Refunded.is_final() && !PromptStatus::Publishing.is_final());
    }
}
