// Hardhat's network node (EDR): the second EVM implementation, besides anvil, that the node
// is tested against (crates/cli/tests/second_evm.rs). Only `hardhat node` is used: nothing is
// compiled here; the kernel is deployed with `aikernel deploy`.
//
//   node_modules/.bin/hardhat --config hardhat.config.js node --hostname 127.0.0.1 --port 8546
//
// Chosen to match `aikernel devnet`'s anvil where it matters: the same mnemonic (so the same
// ten accounts and keys, 10,000 ETH each), the hardfork the contracts are compiled for
// (prague: transient storage, EIP-7702 fields), one block a second (the kernel's deadlines
// are block timestamps and assume the chain clock follows wall time), and the 24,576-byte
// code size limit enforced.
//
// AIKERNEL_HARDHAT_MINING=auto also mines every transaction at once in a block of its own.
// Blocks mined within one second then share its timestamp: without that, each would be a
// second later than the last, and the chain clock ran 30 s ahead of wall time by the time the
// nodes had registered: commit windows closed before the nodes expected, prompts were
// refunded and nodes jailed.
const automine = process.env.AIKERNEL_HARDHAT_MINING === "auto";

module.exports = {
  networks: {
    hardhat: {
      chainId: 31337,
      hardfork: "prague",
      accounts: {
        mnemonic: "test test test test test test test test test test test junk",
        count: 10,
        accountsBalance: "10000000000000000000000",
      },
      mining: { auto: automine, interval: 1000 },
      allowBlocksWithSameTimestamp: automine,
      blockGasLimit: 30_000_000,
      allowUnlimitedContractSize: false,
    },
  },
};
