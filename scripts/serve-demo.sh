#!/usr/bin/env bash
# The main job: sets up this machine, builds the release binary and serves a model on localhost
# behind the OpenAI-compatible API. Without arguments it serves the two bundled demo models, both
# with RANDOM weights (their text is gibberish and their images noise, by design):
# models/demo-qwen3 (a tiny Qwen3) on port 8000 and models/demo-zimage (a tiny Z-Image pipeline) on
# port 8001; it shows every endpoint answering once, then keeps serving until Ctrl-C.
#
#   scripts/serve-demo.sh                         # both demo models, on :8000 and :8001
#   scripts/serve-demo.sh ~/models/Qwen3-0.6B     # any HF-layout (or diffusers) model directory instead
#   scripts/serve-demo.sh MODEL_DIR --port 9000 --api-key sk-local   # plus any `omni serve` flags
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release

model="models/demo-qwen3"
image_model="models/demo-zimage"   # served beside the text demo when no model is named
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then model="$1"; image_model=""; shift; fi
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
servers=("$server")
if [ -n "$image_model" ]; then
  .build/release/omni serve "$image_model" "$@" --port "$((port + 1))" &
  servers+=("$!")
fi
trap 'kill -TERM "${servers[@]}" 2>/dev/null || true; wait "${servers[@]}"; exit $?' INT TERM

auth=()
[ -n "$key" ] && auth=(-H "Authorization: Bearer $key")
show() {  # METHOD URL [JSON]: prints the request and the server's answer
  echo
  echo "\$ curl -X $1 $2${3:+ -d '$3'}"
  if [ $# -gt 2 ]; then
    curl -sS -X "$1" "${auth[@]}" -H "Content-Type: application/json" "$2" -d "$3"
  else
    curl -sS -X "$1" "${auth[@]}" "$2"
  fi
  echo
}

wait_healthy() {  # URL PID
  for _ in $(seq 1 600); do
    kill -0 "$2" 2>/dev/null || { wait "$2"; exit $?; }
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/health")" = 200 ] && return 0
    sleep 0.1
  done
}

tour() {  # URL PID MODEL_DIR: every endpoint of the served model once
  local url=$1 name kind
  wait_healthy "$url" "$2"
  name=$(curl -sS "${auth[@]}" "$url/v1/models" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])' 2>/dev/null || echo "$3")
  kind=text
  [ -f "$3/model_index.json" ] && kind=image
  echo "=== $3 is being served at $url as \"$name\"; every endpoint once: ==="
  show GET "$url/health"
  show GET "$url/version"
  show GET "$url/v1/models"
  if [ "$kind" = text ]; then
    show POST "$url/tokenize" '{"messages": [{"role": "user", "content": "Hello!"}]}'
    show POST "$url/detokenize" '{"tokens": [1, 2, 3]}'
    show POST "$url/v1/completions" "{\"model\": \"$name\", \"prompt\": \"The quick brown fox\", \"max_tokens\": 8}"
    show POST "$url/v1/chat/completions" "{\"model\": \"$name\", \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"max_tokens\": 8, \"stream\": true}"
  else
    local body="{\"model\": \"$name\", \"prompt\": \"a lighthouse at dusk\", \"size\": \"256x256\", \"n\": 2, \"seed\": 7, \"num_inference_steps\": 8, \"cache_backend\": \"first_block_cache\"}"
    echo
    echo "\$ curl -X POST $url/v1/images/generations -d '$body'   (PNGs saved as demo-image-N.png)"
    curl -sS -X POST "${auth[@]}" -H "Content-Type: application/json" "$url/v1/images/generations" -d "$body" |
      python3 -c '
import base64, json, sys
r = json.load(sys.stdin)
if "error" in r:
    print(json.dumps(r)); sys.exit(0)
for i, d in enumerate(r["data"]):
    png = base64.b64decode(d["b64_json"])
    open(f"demo-image-{i}.png", "wb").write(png)
    print(f"image {i}: {len(png)} bytes of PNG -> demo-image-{i}.png")
print("cache:", json.dumps(r["cache"]))'
  fi
  echo
  echo "\$ curl $url/metrics   (the omni: samples)"
  curl -sS "${auth[@]}" "$url/metrics" | grep '^omni:' | grep -v _bucket || true
  echo
}

if command -v curl >/dev/null; then
  tour "http://127.0.0.1:$port" "$server" "$model"
  [ -n "$image_model" ] && tour "http://127.0.0.1:$((port + 1))" "${servers[1]}" "$image_model"
  echo "=== still serving (OpenAI clients: base_url=http://127.0.0.1:$port/v1${image_model:+, images at http://127.0.0.1:$((port + 1))/v1}); Ctrl-C stops it ==="
fi
wait "${servers[@]}"
