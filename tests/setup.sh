#!/usr/bin/env bash
# Installs everything the test suite needs: the Python packages, Debian's Chromium for the
# real-browser tests (Playwright drives it; `playwright install` would need the internet),
# an emoji font so screenshots look like a user's browser, and Fashion-MNIST for its loader test.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
python -m pip install --quiet --disable-pip-version-check -r requirements-ray.txt   # tests/ray: a local Ray cluster
packages=(chromium fonts-noto-color-emoji dataset-fashion-mnist)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
    echo "tests/setup.sh: please install ${missing[*]} (Debian/Ubuntu packages) as root" >&2; exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
test -x /usr/bin/chromium || { echo "tests/setup.sh: /usr/bin/chromium is missing" >&2; exit 1; }
