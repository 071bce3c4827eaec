#!/usr/bin/env bash
# Binder's steps, as far as they can be tried without mybinder.org: a fresh virtual
# environment with exactly what binder/requirements.txt asks (less the PyTorch CPU index
# line, which only Binder can reach; constraints.txt selects the same CPU wheel here),
# binder/postBuild, then JupyterLab started as Binder starts it, and both README links
# opened in Chromium: the quickstart notebook runs and shows the map, and the dashboard
# shows its map and a lasso drills. The browser runs with $CHECK_PYTHON (a Python that
# has Playwright).
#
#   CHECK_PYTHON=.ci-venv/bin/python bash binder/check.sh [VENV]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(realpath -m "${1:-.ci-venv-binder}")
check_python=${CHECK_PYTHON:-python}
export SYMSIM_CACHE_DIR=${SYMSIM_CACHE_DIR:-$(mktemp -d)}
artifacts=artifacts/binder
mkdir -p "$artifacts"

rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
requirements="$artifacts/requirements-offline.txt"
grep -v -- "--extra-index-url" binder/requirements.txt >"$requirements"
"$venv/bin/pip" install --quiet -c constraints.txt -r "$requirements"

# Binder runs postBuild from the repository root, with the environment on PATH.
PATH="$venv/bin:$PATH" bash binder/postBuild

# Serve a copy of the notebooks, so that what JupyterLab saves never touches the checkout
# (the package itself is installed from the checkout, as Binder installs it).
serve_root=$(mktemp -d)
cp -r notebooks "$serve_root/"

port=$("$check_python" -c "from symsim_widgets.dashboard import free_port; print(free_port())")
log="$artifacts/lab.log"
"$venv/bin/jupyter" lab --no-browser --port="$port" --ServerApp.ip=127.0.0.1 \
  --IdentityProvider.token= --ServerApp.password= --ServerApp.root_dir="$serve_root" \
  --LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
  --allow-root --LabApp.workspaces_dir="$serve_root/.workspaces" \
  --LabApp.user_settings_dir="$serve_root/.settings" >"$log" 2>&1 &
lab=$!
trap 'kill $lab 2>/dev/null || true; wait $lab 2>/dev/null || true' EXIT
deadline=$((SECONDS + 180))
until curl -s -o /dev/null "http://127.0.0.1:$port/api/status"; do
  kill -0 $lab 2>/dev/null || { echo "JupyterLab exited:"; tail -n 40 "$log"; exit 1; }
  [ $SECONDS -lt $deadline ] || { echo "JupyterLab did not start:"; tail -n 40 "$log"; exit 1; }
  sleep 1
done

base="http://127.0.0.1:$port"
"$check_python" tests/browser/check_page.py lab "$base/lab/tree/notebooks/quickstart.ipynb" \
  --screenshot "$artifacts/quickstart.png"
"$check_python" tests/browser/check_page.py voila "$base/voila/render/notebooks/dashboard.ipynb" \
  --drill --screenshot "$artifacts/dashboard.png"
if grep -q "Traceback" "$log"; then
  echo "the server logged a traceback:"; grep -A 20 "Traceback" "$log"; exit 1
fi
echo "Binder steps: JupyterLab and the Voila dashboard work"
