# Entry points for developers and CI. The ones that matter (see docs/development.md):
#   make demo   start the local control plane, install the CRD and the sample Performers, show them;
#               then a local chain, tasks created on it, the executor and the test aggregator taking
#               them to TaskVerified (hack/demo.sh stop ends it all)
#   make test   lint and run the whole test suite (unit + local-chain + real-cluster tests)
#   make devnet start the local chain (Anvil + EigenLayer contracts + test AVSs; docs/devnet.md)
# They install what they need (virtualenv, Python packages, control-plane binaries) and are idempotent.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
VENV_STAMP := $(VENV)/.installed
TESTENV := hack/testenv/testenv.sh
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: help venv native collection devnet-build devnet devnet-down testenv cluster-up cluster-down cluster-status kubeconfig crd lint test test-unit molecule demo bench bench-executor clean

help:
	@sed -n 's/^#   //p' Makefile
	@echo "other targets: venv native collection devnet-build devnet-down testenv cluster-up cluster-down cluster-status kubeconfig crd lint test-unit molecule bench bench-executor clean"

venv: $(VENV_STAMP) native collection

# The checkout is the Ansible collection hourglass.operator (galaxy.yml): linked into the venv's
# site-packages, Ansible and Python find it from any directory (hack/collection/link.py).
collection: $(VENV_STAMP)
	$(VENV)/bin/python hack/collection/link.py

# The executor's native BN254 library (gnark-crypto via cgo), cached by a hash of its sources and
# linked into the package; a warm run only re-links it.
native:
	executor/native/bn254/build.sh >/dev/null

$(VENV_STAMP): pyproject.toml executor/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	$(VENV)/bin/pip install --quiet -e './executor[dev]'
	touch $@

testenv:
	hack/testenv/build.sh >/dev/null
	hack/ansible-operator/build.sh >/dev/null
	hack/helm/build.sh >/dev/null
	hack/promrules/build.sh >/dev/null
	hack/kstatus/build.sh >/dev/null

cluster-up:
	$(TESTENV) up >/dev/null

cluster-down:
	$(TESTENV) down

cluster-status:
	$(TESTENV) status

kubeconfig:
	@$(TESTENV) kubeconfig

crd: venv
	$(VENV)/bin/python hack/crd/generate.py

# Every static check: the linters (hadolint on every Dockerfile, a new one too; helm lint --strict on
# the charts) and the generators' --check, which fail when a committed generated file (the CRD and its
# copies, the gRPC stubs, the ABIs, the golden vectors, the OLM bundle) is not what its generator writes,
# and the version check fails when a file disagrees with VERSION. helm and the golden-vector generator
# are Go builds, cached outside the repository. The tests assert behaviour.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/yamllint --strict .
	$(VENV)/bin/ansible-lint -q
	$(VENV)/bin/hadolint --no-color $$(git ls-files -co --exclude-standard -- '*Dockerfile' '*Dockerfile.*' '*.Dockerfile' ':!*.dockerignore')
	helm=$$(hack/helm/build.sh) && "$$helm" lint --strict charts/hourglass-operator \
		&& "$$helm" lint --strict charts/hourglass-executor --values charts/hourglass-executor/ci/lint-values.yaml
	$(VENV)/bin/python hack/crd/generate.py --check
	$(VENV)/bin/python hack/proto/generate.py --check
	$(VENV)/bin/python hack/abi/generate.py --check
	hack/golden/golden.sh --check
	$(VENV)/bin/python hack/release/version.py --check
	$(VENV)/bin/python hack/bundle/generate.py --check

# The local chain's npm tools (Anvil, solc-js, OpenZeppelin proxies), compiled contracts and deployed
# state, cached in ~/.cache/hourglass-chain (a warm run finds them; docs/devnet.md).
devnet-build: venv
	hack/devnet/devnet.sh build >/dev/null

devnet: devnet-build
	hack/devnet/devnet.sh up

devnet-down:
	hack/devnet/devnet.sh down

# pytest runs the environment smoke tests (marker smoke) first and stops when one fails, so that a
# broken environment is reported as such (tests/conftest.py).
test: venv testenv devnet-build lint
	hack/run-tests.sh $(PYTEST_ARGS)
	$(MAKE) molecule

# The molecule scenario that runs here: the local control plane, the operator as a host process.
molecule: venv testenv
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/molecule test -s kwok

test-unit: venv
	hack/run-tests.sh -m unit $(PYTEST_ARGS)

demo: venv
	hack/demo.sh

# Benchmarks (bench/README.md): tables on stdout, progress on stderr, JSON + PNG charts in bench/results/.
# make bench BENCH_ARGS='--count 1000 --repeat 2'; make bench-executor BENCH_ARGS='--store sqlite'
bench: venv
	$(VENV)/bin/python -m bench.operator_bench $(BENCH_ARGS)

bench-executor: venv
	$(VENV)/bin/python -m bench.executor_bench $(BENCH_ARGS)

clean: cluster-down
	rm -rf $(VENV) .pytest_cache .ruff_cache
