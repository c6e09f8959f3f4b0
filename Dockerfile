# syntax=docker/dockerfile:1
# The tether image: the CLI and the in-cluster controller (deploy/controller.yaml).
#
#   docker build -t ghcr.io/tether-dev/tether:dev .
#   tether install --image ghcr.io/tether-dev/tether:dev
#
# Stage 1 builds helm, kustomize, sops and tether-jsonnet from Go modules at the versions
# pinned in src/tether/localcluster/versions.env (the same modules and version ldflags as
# tools/controlplane/build.sh); stage 2 installs tether from the hash-pinned lock.

ARG GO_IMAGE=golang:1.26-bookworm
ARG PYTHON_IMAGE=python:3.11-slim

# --- render tools ---------------------------------------------------------------------
FROM ${GO_IMAGE} AS tools
ENV CGO_ENABLED=0 \
    GOFLAGS=-buildvcs=false \
    GOTOOLCHAIN=local \
    GOBIN=/out
COPY src/tether/localcluster/versions.env /versions.env
COPY tools/controlplane/jsonnet/main.go /jsonnet/main.go
RUN set -eu; . /versions.env; \
    helm_mod=$(go mod download -json "helm.sh/helm/v3@${HELM_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p'); \
    client_go=$(awk '$1 == "k8s.io/client-go" {print $2}' "$helm_mod"); \
    k8s_minor=$(echo "${client_go#v}" | cut -d. -f2); \
    k8s="-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${k8s_minor}"; \
    k8s="$k8s -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=${k8s_minor}"; \
    go install -trimpath \
      -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION} -X helm.sh/helm/v3/internal/version.gitTreeState=clean $k8s" \
      "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"; \
    go install -trimpath \
      -ldflags "-s -w -X sigs.k8s.io/kustomize/api/provenance.version=${KUSTOMIZE_VERSION}" \
      "sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION}"; \
    go install -trimpath -ldflags "-s -w" \
      "github.com/getsops/sops/v3/cmd/sops@${SOPS_VERSION}"; \
    cd /jsonnet && go mod init tether.local/tether-jsonnet \
      && go get "github.com/google/go-jsonnet@${JSONNET_VERSION}" && go mod tidy \
      && go build -trimpath -ldflags "-s -w" -o /out/tether-jsonnet .; \
    /out/helm version --short; /out/kustomize version

# --- Python environment -----------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS python
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/tether
WORKDIR /build
# Dependencies first (their own layer: rebuilt only when the lock changes), every one
# checked against its hash; then tether itself, with nothing resolved or downloaded.
COPY requirements.lock ./
RUN /opt/tether/bin/pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/tether/bin/pip install --no-deps --no-build-isolation . \
 && /opt/tether/bin/tether --version

# --- runtime ----------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
# git for mirrors and reverts; openssh-client for ssh:// remotes.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 tether \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/tether --create-home \
      --shell /usr/sbin/nologin tether \
 && install -d -o 10001 -g 10001 /var/cache/tether
COPY --from=tools /out/helm /out/kustomize /out/sops /out/tether-jsonnet /usr/local/bin/
COPY --from=python /opt/tether /opt/tether
ENV PATH=/opt/tether/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TETHER_CACHE_DIR=/var/cache/tether
USER 10001:10001
WORKDIR /home/tether
EXPOSE 8082 8083
ENTRYPOINT ["tether"]
CMD ["controller"]
