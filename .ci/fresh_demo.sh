#!/usr/bin/env bash
# The README's first Quickstart command on a base install (no extras), as a new user runs
# it: a fresh virtual environment, `pip install -c constraints.txt -e .`, `symsim demo`.
# Passes when the printed URL serves the dashboard and, in Chromium, its map appears and a
# lasso drills. The browser check runs with $CHECK_PYTHON (a Python that has Playwright).
#
#   CHECK_PYTHON=.ci-venv/bin/python bash .ci/fresh_demo.sh [VENV]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.ci-venv-base}
check_python=${CHECK_PYTHON:-python}
export SYMSIM_CACHE_DIR=${SYMSIM_CACHE_DIR:-$(mktemp -d)}
artifacts=artifacts/fresh-install
mkdir -p "$artifacts"

rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
# the first Quickstart command's install, verbatim (base install only)
"$venv/bin/pip" install --quiet -c constraints.txt -e .

port=$("$check_python" -c "from symsim_widgets.dashboard import free_port; print(free_port())")
log="$artifacts/demo.log"
"$venv/bin/symsim" demo --no-browser --port "$port" >"$log" 2>&1 &
demo=$!
trap 'kill $demo 2>/dev/null || true; wait $demo 2>/dev/null || true' EXIT

# `symsim demo` prints the URL only once the page has rendered with the explorer in it.
deadline=$((SECONDS + 900))
until grep -q "^symsim dashboard: http" "$log"; do
  if ! kill -0 $demo 2>/dev/null; then
    echo "symsim demo exited before serving:"; tail -n 40 "$log"; exit 1
  fi
  if [ $SECONDS -gt $deadline ]; then
    echo "symsim demo printed no URL in 900 s:"; tail -n 40 "$log"; exit 1
  fi
  sleep 2
done
url=$(grep -o "http://127.0.0.1:[0-9]*/" "$log" | head -n 1)
echo "symsim demo serves $url"
code=$(curl -s -o /dev/null -w "%{http_code}" --max-time 300 "$url")
[ "$code" = 200 ] || { echo "the dashboard answered HTTP $code"; exit 1; }
"$check_python" tests/browser/check_page.py voila "$url" --drill \
  --screenshot "$artifacts/demo.png"
if grep -q "Traceback" "$SYMSIM_CACHE_DIR/dashboard/voila-$port.log"; then
  echo "Voila logged a traceback:"; grep -A 20 "Traceback" "$SYMSIM_CACHE_DIR/dashboard/voila-$port.log"
  exit 1
fi
echo "fresh base install: symsim demo serves a working dashboard"
