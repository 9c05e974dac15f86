#!/usr/bin/env bash
# The main job: sets up this machine, builds the release binary and serves a model on localhost
# behind the OpenAI-compatible API. Without arguments it serves the bundled demo model
# (models/demo-qwen3: a tiny Qwen3 with RANDOM weights, so its text is gibberish by design), shows
# every endpoint answering once, then keeps serving until Ctrl-C.
#
#   scripts/serve-demo.sh                         # the demo model on http://127.0.0.1:8000
#   scripts/serve-demo.sh ~/models/Qwen3-0.6B     # any HF-layout model directory instead
#   scripts/serve-demo.sh MODEL_DIR --port 9000 --api-key sk-local   # plus any `omni serve` flags
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release

model="models/demo-qwen3"
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then model="$1"; shift; fi
port="${OMNI_PORT:-8000}"
key="${OMNI_API_KEY:-}"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --port) port="${args[i + 1]:-$port}" ;;
    --port=*) port="${args[i]#--port=}" ;;
    --api-key) key="${args[i + 1]:-}" ;;
    --api-key=*) key="${args[i]#--api-key=}" ;;
  esac
done

.build/release/omni serve "$model" "$@" &
server=$!
trap 'kill -TERM "$server" 2>/dev/null || true; wait "$server"; exit $?' INT TERM

url="http://127.0.0.1:$port"
auth=()
[ -n "$key" ] && auth=(-H "Authorization: Bearer $key")
show() {  # METHOD PATH [JSON]: prints the request and the server's answer
  echo
  echo "\$ curl -X $1 $url$2${3:+ -d '$3'}"
  if [ $# -gt 2 ]; then
    curl -sS -X "$1" "${auth[@]}" -H "Content-Type: application/json" "$url$2" -d "$3"
  else
    curl -sS -X "$1" "${auth[@]}" "$url$2"
  fi
  echo
}

if command -v curl >/dev/null; then
  for _ in $(seq 1 600); do
    kill -0 "$server" 2>/dev/null || { wait "$server"; exit $?; }
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/health")" = 200 ] && break
    sleep 0.1
  done
  name=$(curl -sS "${auth[@]}" "$url/v1/models" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])' 2>/dev/null || echo "$model")
  echo "=== $model is being served at $url as \"$name\"; every endpoint once: ==="
  show GET /health
  show GET /version
  show GET /v1/models
  show POST /tokenize '{"messages": [{"role": "user", "content": "Hello!"}]}'
  show POST /detokenize '{"tokens": [1, 2, 3]}'
  show POST /v1/completions "{\"model\": \"$name\", \"prompt\": \"The quick brown fox\", \"max_tokens\": 8}"
  show POST /v1/chat/completions "{\"model\": \"$name\", \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"max_tokens\": 8, \"stream\": true}"
  echo
  echo "\$ curl $url/metrics   (the omni: samples)"
  curl -sS "${auth[@]}" "$url/metrics" | grep '^omni:' | grep -v _bucket || true
  echo
  echo "=== still serving at $url (OpenAI clients: base_url=$url/v1); Ctrl-C stops it ==="
fi
wait "$server"
