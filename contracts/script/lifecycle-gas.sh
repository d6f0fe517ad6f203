#!/usr/bin/env bash
# Runs one prompt's full lifecycle (committee of 3) on a fresh local anvil, through real
# transactions, and prints each receipt's gasUsed and the total; fails when the steady-state
# total reaches the goal. It also exercises Deploy.s.sol end to end.
# Usage (from the repository root): contracts/script/lifecycle-gas.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=.tools/bin
PORT=${PORT:-8599}
RPC=http://127.0.0.1:$PORT
# A zero base fee keeps the callback's gas price at the kernel's floor, so the quote read before
# the submission is exactly the fee paid (a dapp quotes inside its own transaction).
$BIN/anvil --port "$PORT" --silent --block-base-fee-per-gas 0 &
ANVIL=$!
trap 'kill $ANVIL' EXIT
# Wait until anvil answers (a fixed second was not always enough on a loaded machine), at most
# 30 s; a dead anvil fails here, naming the port.
for _ in $(seq 300); do
  $BIN/cast block-number --rpc-url "$RPC" >/dev/null 2>&1 && break
  kill -0 $ANVIL 2>/dev/null || { echo "anvil on port $PORT exited" >&2; exit 1; }
  sleep 0.1
done
$BIN/cast block-number --rpc-url "$RPC" >/dev/null || { echo "anvil on port $PORT does not answer" >&2; exit 1; }

# anvil's well-known dev keys: 0 deploys, administers and owns the dapp; 1-3 are nodes.
KEYS=(0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
  0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
  0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a
  0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6)
ADMIN_KEY=${KEYS[0]}
# A fixed gas limit where the caller sets none: cast's estimate is taken at the latest block's
# timestamp, and a transaction mined a second later pays the stake-reward accrual on top
# (GPUManagement._sync), so an estimated limit ran out of gas now and then. gasUsed, which is
# what this script measures, does not depend on the limit.
send() {
  [[ " $* " == *" --gas-limit "* ]] || set -- --gas-limit 2000000 "$@"
  $BIN/cast send --rpc-url "$RPC" --json "$@" | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["status"]=="0x1", r; print(int(r["gasUsed"],16))'
}

out=$($BIN/forge script contracts/script/Deploy.s.sol --rpc-url "$RPC" --broadcast --private-key "$ADMIN_KEY" 2>&1)
addr() { echo "$out" | awk -v n="$1" '$1==n {print $2}' | tail -1; }
EAI=$(addr EAI); MFS=$(addr ModelFileSystem); GPU=$(addr GPUManagement); KERNEL=$(addr DecentralizedInference)
echo "kernel at $KERNEL"

send --private-key "$ADMIN_KEY" "$MFS" \
  "registerModel((string,string,string,bytes32,uint64,uint32,string[],uint64,uint32,uint128,uint32))" \
  "(SmolLM2-135M-Instruct,llama,gguf-q4_1,$($BIN/cast keccak smollm2),98362432,1048576,[ipfs://bafk],512,1,1000000000,10)" >/dev/null
for i in 1 2 3; do
  a=$($BIN/cast wallet address "${KEYS[$i]}")
  send --private-key "$ADMIN_KEY" "$EAI" "transfer(address,uint256)" "$a" 10000000000000000000000 >/dev/null
  send --private-key "${KEYS[$i]}" "$EAI" "approve(address,uint256)" "$GPU" 10000000000000000000000 >/dev/null
  send --private-key "${KEYS[$i]}" "$GPU" "register((string,uint64,uint32),uint256[],uint256)" "(cpu-avx2,24576,1)" "[1]" 10000000000000000000000 >/dev/null
done

DAPP=$($BIN/forge create contracts/test/kernel/mocks/Consumers.sol:AnswerConsumer --rpc-url "$RPC" \
  --private-key "$ADMIN_KEY" --broadcast --constructor-args "$KERNEL" 2>&1 | awk '/Deployed to:/ {print $3}')
$BIN/cast send --rpc-url "$RPC" --private-key "$ADMIN_KEY" "$DAPP" --value 1ether >/dev/null

GOAL=705088 # 2x Ritual Infernet's unverified create+deliver (2 x 352,544)
c() { $BIN/cast "$@"; }
run_prompt() {
  local pid=$1 total=0 g
  local fee; fee=$(c call --rpc-url "$RPC" "$KERNEL" "quote(uint256,uint32,uint16,uint32)(uint256)" 1 16 3 60000 | awk '{print $1}')
  local input; input=$(c from-utf8 "What is 2+2? Answer with one digit.")
  g=$(send --private-key "$ADMIN_KEY" "$DAPP" \
    "ask((uint256,bytes32,bytes,bytes32,bytes,bytes,uint32,uint32,uint64,address,uint32,uint16),uint256)" \
    "(1,$(c keccak chat),$input,0x0000000000000000000000000000000000000000000000000000000000000000,0x,0x0300000000000000000000000000000009,16,0,42,0x0000000000000000000000000000000000000000,60000,3)" "$fee")
  echo "  submit $g"; total=$((total + g))
  # The committee is drawn from the hash of the block after the submission's: mine it.
  c rpc --rpc-url "$RPC" anvil_mine 2 >/dev/null
  local output=0x0000000000000000000000000000000000000000000000000000000000000002
  local trace; trace=$(c keccak "logits of this output") # what every honest engine reports
  local answer; answer=$(c keccak "$(c abi-encode 'f(bytes32,bytes32)' "$(c keccak "$output")" "$trace")")
  local rh; rh=$(c keccak "$(c abi-encode 'f(uint256,uint8,bytes32)' "$pid" 0 "$answer")")
  local committee; committee=$(c call --rpc-url "$RPC" "$KERNEL" "committeeOf(uint256)(address[])" "$pid" | tr -d '[] ' | tr ',' ' ')
  declare -A keyof
  for i in 1 2 3; do keyof[$(c wallet address "${KEYS[$i]}")]=${KEYS[$i]}; done
  local last; last=$(echo "$committee" | awk '{print $NF}')
  # A commitment's low 32 bits are the request tag: the low 32 bits of the request blob's address.
  local blob; blob=$(c call --rpc-url "$RPC" "$KERNEL" \
    "promptInfo(uint256)((address,uint8,uint8,uint8,uint8,uint32,uint32))" "$pid" | tr -d '( ' | cut -d, -f1)
  local tag=${blob: -8}
  for phase in commit reveal; do
    for n in $committee; do
      local salt; salt=$(c keccak "$(c abi-encode 'f(address,uint256)' "$n" "$pid")")
      if [ $phase = commit ]; then
        local cm; cm=$(c keccak "$(c abi-encode 'f(uint256,uint8,bytes32,bytes32,address)' "$pid" 0 "$rh" "$salt" "$n")")
        cm=${cm:0:58}$tag
        g=$(send --private-key "${keyof[$n]}" "$KERNEL" "commit(uint256,bytes32)" "$pid" "$cm")
      elif [ "$n" = "$last" ]; then
        # The last reveal carries the output and settles (the callback needs its full limit).
        g=$(send --gas-limit 1000000 --private-key "${keyof[$n]}" "$KERNEL" \
          "reveal(uint256,bytes32,bytes32,bytes,bytes32)" "$pid" "$salt" "$rh" "$output" "$trace")
      else
        g=$(send --private-key "${keyof[$n]}" "$KERNEL" "reveal(uint256,bytes32,bytes32,bytes,bytes32)" \
          "$pid" "$salt" "$rh" 0x 0x0000000000000000000000000000000000000000000000000000000000000000)
      fi
      echo "  $phase $g"; total=$((total + g))
    done
  done
  echo "  status $(c call --rpc-url "$RPC" "$KERNEL" 'statusOf(uint256)(uint8)' "$pid") (3 = Settled), dapp answer slot $(c call --rpc-url "$RPC" "$DAPP" 'answer()(uint256)')"
  echo "lifecycle total gas (receipts, 7 transactions): $total"
  LAST_TOTAL=$total
}
echo "prompt 1 (cold network):"; run_prompt 1
echo "prompt 2 (steady state):"; run_prompt 2
if [ "$LAST_TOTAL" -ge "$GOAL" ]; then
  echo "FAIL: steady-state lifecycle $LAST_TOTAL gas >= goal $GOAL" >&2
  exit 1
fi
echo "steady state $LAST_TOTAL < goal $GOAL"
