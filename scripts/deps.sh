#!/usr/bin/env bash
# Installs the Debian packages Agora and its tests need, if any is missing.
#   scripts/deps.sh            sandbox runtimes, git, patch, Python test tools,
#                              the agent sandbox's libraries (numpy, requests, ...),
#                              chromium for the dashboard's browser tests
#   scripts/deps.sh swebench   also the packages the shipped SWE-bench
#                              environments need (envs/swebench.yaml)
set -euo pipefail
pkgs=(runc runsc git patch ca-certificates python3 python3-pytest python3-venv python3-pip
      python3-setuptools python3-setuptools-scm python3-wheel)
# The libraries Ridges' agent sandbox offered, for league agents: the
# runner appends /usr/lib/python3/dist-packages to the agent's sys.path.
pkgs+=(python3-requests python3-urllib3 python3-numpy python3-scipy python3-pandas python3-sklearn
       python3-aiohttp python3-pydantic python3-tqdm python3-joblib python3-dill python3-nltk)
# Debian's distribution registry, a real one for the image tests
# (harness TestEvaluateSWEImageDistribution).
pkgs+=(docker-registry)
# Headless Chromium for the dashboard's browser tests (cmd/agora
# TestDashboardBrowser, driven by chromedp); fonts so screenshots have text.
pkgs+=(chromium fonts-dejavu-core)
if [ "${1:-}" = swebench ]; then
  pkgs+=(python3-urllib3 python3-idna python3-certifi python3-chardet python3-charset-normalizer
         python3-pytest-httpbin python3-httpbin python3-trustme python3-pytest-mock
         python3-werkzeug python3-jinja2 python3-click python3-itsdangerous python3-markupsafe python3-blinker python3-dotenv
         python3-mpmath
         python3-attr python3-iniconfig python3-pluggy python3-packaging python3-py python3-xmlschema
         python3-hypothesis python3-pygments python3-pexpect python3-argcomplete python3-mock
         python3-astroid python3-dill python3-platformdirs python3-tomlkit python3-isort python3-mccabe
         python3-typing-extensions python3-tomli
         python3-atomicwrites python3-wcwidth python3-more-itertools python3-six
         python3-toml python3-appdirs python3-importlib-metadata)
fi
missing=()
# node and npm (for the polkadot-js cross-check) may come from another
# source than Debian, e.g. NodeSource's nodejs that bundles npm; install
# Debian's only when the commands are missing.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
