# The hourglass operator image, laid out like an operator-sdk Ansible operator image: watches.yaml and
# ansible.cfg under /opt/ansible, which is also HOME; the roles, modules and filters as the Ansible
# collection hourglass.operator (built from this repository with `ansible-galaxy collection build`
# and installed next to kubernetes.core in /usr/share/ansible/collections, where watches.yaml's
# `role: hourglass.operator.performer` is found); and the runner loop (`hourglass-operator run`,
# this repository's Python package) as the entry point behind tini.
#
# Build from the repository root (.dockerignore keeps the context to what is copied below):
#   docker build -t ghcr.io/hourglass-operator/operator:0.1.0 .
#
# Everything the operator, ansible-runner and Ansible write at run time goes under /tmp (RUNNER_DIR,
# ANSIBLE_HOME, which every Ansible command creates, ANSIBLE_LOCAL_TEMP, ANSIBLE_REMOTE_TEMP): the
# Deployment runs it with readOnlyRootFilesystem and an emptyDir at /tmp.
# tests/cluster/test_operator_image_layout.py runs this layout from a checkout.
#
# The base image is pinned to a full version tag; add its digest
# (python:3.11.14-slim-bookworm@sha256:...) before publishing the image.

FROM python:3.11.14-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml requirements.yml ./
# ansible-core and the collections of requirements.yml instead of the `ansible` bundle: pyproject.toml
# depends on `ansible` so that a development venv has kubernetes.core without Galaxy, but the bundle
# is some 400 MB of collections of which the roles use one (kubernetes.core, about 2 MB). So the
# venv gets pyproject.toml's dependencies minus `ansible` (ansible-core is one of them), then the
# package without dependencies, and Galaxy installs exactly requirements.yml.
# Not installed: ansible-runner-http, the event plugin only the upstream ansible-operator binary
# reads; the runner loop reads ansible-runner's events in-process.
RUN python -c 'import re, tomllib; deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]; print("\n".join(d for d in deps if re.match(r"[A-Za-z0-9._-]+", d)[0].lower() != "ansible"))' > runtime-requirements.txt \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install -r runtime-requirements.txt \
    && /opt/venv/bin/ansible-galaxy collection install -r requirements.yml -p /usr/share/ansible/collections
COPY README.md ./
COPY hourglass_operator/ hourglass_operator/
RUN /opt/venv/bin/pip install --no-deps .
# The collection: what galaxy.yml's build_ignore leaves of the repository (its dependency,
# kubernetes.core, is installed above).
COPY galaxy.yml README.md requirements.yml watches.yaml /src/collection/
COPY meta/ /src/collection/meta/
COPY roles/ /src/collection/roles/
COPY playbooks/ /src/collection/playbooks/
COPY plugins/ /src/collection/plugins/
COPY config/ /src/collection/config/
COPY crds/ /src/collection/crds/
RUN /opt/venv/bin/ansible-galaxy collection build /src/collection --output-path /src/dist \
    && /opt/venv/bin/ansible-galaxy collection install /src/dist/hourglass-operator-*.tar.gz --no-deps \
        -p /usr/share/ansible/collections

FROM python:3.11.14-slim-bookworm
# OCI labels; the version is written by hack/release/version.py from VERSION.
LABEL org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.title="hourglass-operator" \
      org.opencontainers.image.description="Reconciles EigenLayer Hourglass Performer resources into performer Pods and Services" \
      org.opencontainers.image.licenses="Apache-2.0"
# tini as PID 1 forwards SIGTERM to the runner loop and reaps the ansible-playbook processes that
# ansible-runner starts. The user: UID 1001 in group 0 (OpenShift runs arbitrary UIDs in group 0),
# HOME /opt/ansible writable by that group like operator-sdk images; the content itself stays root's.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 1001 --gid 0 --home-dir /opt/ansible --no-create-home --shell /usr/sbin/nologin ansible \
    && mkdir -p /opt/ansible \
    && chown 1001:0 /opt/ansible \
    && chmod 0775 /opt/ansible
COPY --from=build /opt/venv /opt/venv
COPY --from=build /usr/share/ansible/collections /usr/share/ansible/collections
# PYTHONPATH: the runner loop imports the Performer contract and the status rules from the
# collection (ansible_collections.hourglass.operator.plugins.module_utils). PYTHONDONTWRITEBYTECODE:
# Python would write __pycache__ next to the collection's files.
ENV PATH=/opt/venv/bin:$PATH \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONPATH=/usr/share/ansible/collections \
    HOME=/opt/ansible \
    WATCHES_FILE=/opt/ansible/watches.yaml \
    ANSIBLE_CONTENT_ROOT=/opt/ansible \
    ANSIBLE_CONFIG=/opt/ansible/ansible.cfg \
    ANSIBLE_COLLECTIONS_PATH=/usr/share/ansible/collections \
    ANSIBLE_GATHERING=explicit \
    ANSIBLE_HOME=/tmp/.ansible \
    ANSIBLE_LOCAL_TEMP=/tmp/.ansible/tmp \
    ANSIBLE_REMOTE_TEMP=/tmp/.ansible/tmp \
    RUNNER_DIR=/tmp/hourglass-operator
COPY watches.yaml ansible.cfg /opt/ansible/
WORKDIR /opt/ansible
USER 1001:0
EXPOSE 8080 8081
# No HEALTHCHECK: Kubernetes probes /healthz and /readyz on port 8081.
ENTRYPOINT ["/usr/bin/tini", "--", "hourglass-operator", "run"]
