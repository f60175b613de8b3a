# Sealift's verbs. CI runs the same ones (.ci/run): `make lint test`.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: all rig build fmt fmt-check lint self-contained leaks test crds crds-check demo bench image clean-rig

all: lint test

## rig: install every real component the tests and the demo run against (idempotent; fast when present)
rig:
	@bash scripts/install-rig.sh

## build: compile the workspace
build:
	$(CARGO) build --workspace --all-targets

## fmt: format the code
fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

## lint: formatting, clippy with warnings as errors, CRDs in sync with the types, and no tracked
## file reading outside the repository
lint: fmt-check crds-check self-contained
	$(CARGO) clippy --workspace --all-targets --features sealift/fault-injection -- -D warnings

self-contained:
	@bash scripts/check-self-contained.sh

## leaks: fail if a server the tests, benchmarks or demo started outlived its owner
leaks:
	@bash scripts/rig-leaks.sh

## test: install the rig if needed, then every unit and integration test against real components
# fault-injection: the end-to-end crash tests abort the controller after each side effect.
test: rig
	$(CARGO) test --workspace --no-fail-fast --features sealift/fault-injection
	@bash scripts/rig-leaks.sh

## crds: regenerate crds/ from crates/sealift-api
crds:
	$(CARGO) run -q -p sealift -- crds --out-dir crds

crds-check:
	$(CARGO) run -q -p sealift -- crds --check crds

## demo: one real promotion end to end on loopback (rig, controller, Promotion, PR with evidence, merge)
demo: rig
	$(CARGO) build -q -p sealift --bin sealift --example demo
	SEALIFT_BIN=$${CARGO_TARGET_DIR:-target}/debug/sealift $${CARGO_TARGET_DIR:-target}/debug/examples/demo
	@bash scripts/rig-leaks.sh

## bench: benchmarks (criterion / bench binaries); figures go to docs/performance.md
bench:
	$(CARGO) bench --workspace

## image: the container image as a reproducible OCI image layout (target/image/sealift-oci) from the
## release binary and Debian's packages, without a Docker daemon; prints the manifest digest
image:
	@CARGO="$(CARGO)" bash scripts/build-image.sh

## clean-rig: remove the cached rig binaries (forces a kube-apiserver rebuild)
clean-rig:
	rm -rf "$${SEALIFT_RIG_CACHE:-/var/cache/sealift-rig}"
