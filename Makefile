# Berth: `make` builds bin/berth and bin/berth-image; `make demo` and
# `make test` are the two commands a newcomer types (see README.md).

GO        ?= go
# encoding/json on Go's v2 implementation: decoding config.json and state
# cold (every berth command does, once) takes half the time, because the
# classic implementation builds an encoder for every type it decodes. The
# v1 API and its behaviour are kept (docs/benchmarks.md).
export GOEXPERIMENT := jsonv2
BIN       := bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS   := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# Debian packages the build and the tests need; deps.sh installs the
# missing ones (as root) or prints the command to run.
DEPS      := gcc musl-tools libseccomp-dev pkg-config busybox-static runc crun skopeo umoci docker-registry iproute2 hyperfine podman containerd zsh fish groff docker.io buildah
# isal: berth-image inflates gzip layers with its igzip when installed
# (imagetool/unpack/igzip.go).
DEPS      += isal
# make vmtest boots a Debian VM (conformance/vm/README.md).
DEPS      += qemu-system-x86 debootstrap e2fsprogs
RUNTIME   ?=
# The attack suite's table (conformance/security): go test shows a passing
# package's output only with -v.
SECURITY_RESULTS := conformance/security/work/results.txt

.PHONY: all build init berth berth-image crictl print-crictl static deps test unit conformance validation vmtest bench demo clean fmt vet man fuzz fuzz-ci

all: build

build: berth berth-image

# berth is linked statically (libseccomp included) with Go's own user and
# DNS code: a container start runs it twice, and skipping the dynamic
# loader saves about a millisecond of CPU each time (docs/benchmarks.md).
BERTH_TAGS    := netgo osusergo
BERTH_LDFLAGS := $(LDFLAGS) -linkmode external -extldflags "-static"

# berth-init, the C program every container process starts as (see
# libcontainer/cinit): static with musl, so it is small to copy into a
# sealed memfd and fast to exec; embedded into berth.
INIT_SRC  := $(wildcard libcontainer/cinit/c/*.c libcontainer/cinit/c/*.h)
INIT_BIN  := libcontainer/cinit/berth-init
INIT_CFLAGS := -std=gnu11 -D_GNU_SOURCE -Os -static -s -ffunction-sections -fdata-sections -Wl,--gc-sections \
	-Wall -Wextra -Werror -fstack-protector-strong

$(INIT_BIN): $(INIT_SRC)
	musl-gcc $(INIT_CFLAGS) -o $@ $(filter %.c,$(INIT_SRC))

init: $(INIT_BIN)

berth: $(INIT_BIN)
	CGO_ENABLED=1 $(GO) build -trimpath -tags '$(BERTH_TAGS)' -ldflags '$(BERTH_LDFLAGS)' -o $(BIN)/berth ./runtime

# crictl drives containerd's CRI plugin in conformance/engines (the
# Kubernetes node path). Built once from the Go module proxy into a cache
# dir outside the tree, then reused.
CRICTL_VERSION := v1.37.0
TOOLS_CACHE    ?= $(if $(XDG_CACHE_HOME),$(XDG_CACHE_HOME),$(HOME)/.cache)/berth-tools
CRICTL         := $(TOOLS_CACHE)/crictl-$(CRICTL_VERSION)

crictl: $(CRICTL)

$(CRICTL):
	mkdir -p $(TOOLS_CACHE)/build-crictl
	GOBIN=$(TOOLS_CACHE)/build-crictl CGO_ENABLED=0 $(GO) install -trimpath sigs.k8s.io/cri-tools/cmd/crictl@$(CRICTL_VERSION)
	mv $(TOOLS_CACHE)/build-crictl/crictl $@
	rmdir $(TOOLS_CACHE)/build-crictl

print-crictl:
	@echo $(CRICTL)

berth-image:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/berth-image ./imagetool

# Fully static binaries, for copying onto any host (berth always is).
static: berth
	CGO_ENABLED=0 $(GO) build -trimpath -tags 'netgo osusergo' -ldflags '$(LDFLAGS)' -o $(BIN)/berth-image ./imagetool

# berth-image's man pages, made from the same source as its --help.
man: berth-image
	$(BIN)/berth-image man $(BIN)/man

deps:
	@sh .ci/deps.sh $(DEPS)

fmt:
	gofmt -l -w runtime imagetool libcontainer specs conformance

vet: $(INIT_BIN)
	$(GO) vet ./...

# The tests need root (namespaces, mounts, cgroups): they fail loudly,
# never skip, without it.
test: deps build
	@sh .ci/need-root.sh
	$(GO) vet ./...
	$(GO) test -count=1 -p 1 -timeout 30m ./...
	@cat $(SECURITY_RESULTS) 2>/dev/null || echo "conformance/security: no attack table ($(SECURITY_RESULTS) missing)"
	$(MAKE) validation
	$(MAKE) fuzz-ci

# The native Go fuzz targets (.ci/fuzz.sh lists them; docs/security.md):
# `make fuzz` runs each for FUZZTIME, `make fuzz-ci` briefly (in `make test`).
FUZZTIME    ?= 60s
FUZZTIME_CI ?= 6s
fuzz: $(INIT_BIN)
	@sh .ci/need-root.sh
	GO=$(GO) FUZZTIME=$(FUZZTIME) sh .ci/fuzz.sh

fuzz-ci: $(INIT_BIN)
	@sh .ci/need-root.sh
	GO=$(GO) FUZZTIME=$(FUZZTIME_CI) sh .ci/fuzz.sh

unit: build
	$(GO) test -count=1 -p 1 ./specs/... ./libcontainer/... ./imagetool/...

conformance: build
	@sh .ci/need-root.sh
	$(GO) test -count=1 -p 1 -timeout 20m ./conformance/...
	@cat $(SECURITY_RESULTS) 2>/dev/null || echo "conformance/security: no attack table ($(SECURITY_RESULTS) missing)"

# The OCI runtime-tools validation suite, against bin/berth or $(RUNTIME).
validation: build
	@sh .ci/need-root.sh
	cd conformance/validation && $(GO) test -count=1 ./...
	cd conformance/validation && RUNTIME=$(if $(RUNTIME),$(RUNTIME),$(CURDIR)/$(BIN)/berth) $(GO) run ./cmd/validate

# The suites that need a cgroup v2 host with systemd, in a Debian VM booted
# under KVM (conformance/vm/README.md). Without /dev/kvm it says loudly
# that it did not run.
vmtest: deps build
	@sh .ci/need-root.sh
	GO=$(GO) bash conformance/vm/run.sh

bench: deps build
	@sh .ci/need-root.sh
	sh conformance/bench/run.sh

demo: deps build
	@sh .ci/need-root.sh
	$(GO) run ./conformance/demo $(IMAGE)

clean:
	rm -rf $(BIN) $(INIT_BIN)
