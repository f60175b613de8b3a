#!/usr/bin/env bash
# Builds Sealift's container image without a Docker daemon (`make image`): an OCI image layout
# holding the release `sealift` binary and only the files of Debian's own packages it needs (the
# dynamic loader, the shared libraries it links, ld.so configuration, a CA bundle), running as
# 65532:65532. Reproducible: the same binary, packages and commit give the same digest.
#
# Usage: scripts/build-image.sh [--binary FILE] [--tool FILE] [--out DIR] [--sbom FILE]
#   --binary  the sealift binary to package (default: build target/release/sealift)
#   --tool    the sealift-image assembler (default: build target/release/sealift-image)
#   --out     the OCI layout directory (default: target/image/sealift-oci)
#   --sbom    where to write the SPDX 2.3 SBOM (default: beside --out, sealift.spdx.json)
# Prints the manifest digest on stdout (and keeps it in DIR.digest). The .debs are cached in
# ${SEALIFT_RIG_CACHE:-/var/cache/sealift-rig}/image-debs/. SOURCE_DATE_EPOCH defaults to the
# HEAD commit's time. The image test (crates/sealift-image/tests/image.rs) runs this same script
# with the debug binary.
set -euo pipefail
cd "$(dirname "$0")/.."

# What the binary links (`ldd target/release/sealift`: libc, libm, the loader, libgcc_s, libssl,
# libcrypto, libz) and the CA certificates. sealift-image fails naming any library these lack.
PACKAGES=(libc6 libgcc-s1 libssl3 zlib1g ca-certificates)

target=${CARGO_TARGET_DIR:-target}
cargo=${CARGO:-cargo}
binary='' tool='' out="$target/image/sealift-oci" sbom=''
while [ $# -gt 0 ]; do
  case $1 in
    --binary) binary=$2; shift 2 ;;
    --tool) tool=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --sbom) sbom=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-image: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$sbom" ] || sbom="$(dirname "$out")/sealift.spdx.json"

# Two cargo invocations on purpose: building sealift alone gives it exactly the features the
# Dockerfile's `cargo build --release -p sealift --bin sealift` does.
if [ -z "$binary" ]; then
  "$cargo" build --release -p sealift --bin sealift >&2
  binary="$target/release/sealift"
fi
if [ -z "$tool" ]; then
  "$cargo" build --release -p sealift-image --bin sealift-image >&2
  tool="$target/release/sealift-image"
fi
[ -x "$binary" ] || { echo "build-image: $binary is not an executable" >&2; exit 1; }
[ -x "$tool" ] || { echo "build-image: $tool is not an executable" >&2; exit 1; }

for cmd in apt-cache apt-get dpkg dpkg-deb sha256sum git; do
  command -v "$cmd" >/dev/null || { echo "build-image: needs $cmd (Debian bookworm)" >&2; exit 1; }
done
arch=$(dpkg --print-architecture)
# shellcheck disable=SC1091
distro=$(. /etc/os-release && echo "${ID}-${VERSION_ID}")

# Download each package's candidate version once; a cached .deb is reused when its SHA-256 is the
# one apt's (signed) package lists give.
cache="${SEALIFT_RIG_CACHE:-/var/cache/sealift-rig}/image-debs"
mkdir -p "$cache"
stage=$(mktemp -d "${TMPDIR:-/tmp}/sealift-image.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir "$stage/root" "$stage/download"
: >"$stage/packages.tsv"
for pkg in "${PACKAGES[@]}"; do
  info=$(apt-cache show --no-all-versions "$pkg:$arch" 2>/dev/null || apt-cache show --no-all-versions "$pkg" 2>/dev/null || true)
  version=$(sed -n 's/^Version: //p' <<<"$info" | head -n1)
  parch=$(sed -n 's/^Architecture: //p' <<<"$info" | head -n1)
  sha=$(sed -n 's/^SHA256: //p' <<<"$info" | head -n1)
  if [ -z "$version" ] || [ -z "$sha" ]; then
    echo "build-image: apt knows no version of $pkg: run apt-get update" >&2
    exit 1
  fi
  deb="$cache/${pkg}_${version//:/%3a}_${parch}.deb"
  if [ ! -f "$deb" ] || [ "$(sha256sum "$deb" | cut -d' ' -f1)" != "$sha" ]; then
    echo "build-image: downloading $pkg $version" >&2
    rm -f "$stage/download"/*.deb
    (cd "$stage/download" && apt-get download -qq -o APT::Sandbox::User=root "$pkg:$parch=$version" >&2)
    got=("$stage/download"/*.deb)
    [ "$(sha256sum "${got[0]}" | cut -d' ' -f1)" = "$sha" ] \
      || { echo "build-image: $pkg $version: SHA-256 differs from apt's lists" >&2; exit 1; }
    mv "${got[0]}" "$deb.tmp.$$" && mv "$deb.tmp.$$" "$deb"
  fi
  dpkg -x "$deb" "$stage/root"
  source=$(dpkg-deb -f "$deb" Source | sed 's/ .*//')
  printf '%s\t%s\t%s\t%s\t%s\n' "$pkg" "$version" "$parch" "${source:-$pkg}" "$sha" >>"$stage/packages.tsv"
done

revision=$(git rev-parse HEAD)
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct HEAD)}
mkdir -p "$(dirname "$out")" "$(dirname "$sbom")"
digest=$("$tool" --binary "$binary" --root "$stage/root" --packages "$stage/packages.tsv" \
  --revision "$revision" --source-date-epoch "$epoch" --distro "$distro" \
  --out "$out" --sbom "$sbom")
echo "$digest" >"$out.digest"
echo "build-image: $out ($(du -sh "$out" | cut -f1)), SBOM $sbom; push with:" >&2
echo "  skopeo copy oci:$out docker://ghcr.io/sealift-dev/sealift:<tag>" >&2
echo "$digest"
