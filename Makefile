# apkit: build, install and package a release binary.
#
#   make install [PREFIX=/usr/local] [DESTDIR=]   release build, Swift runtime and Foundation linked
#                                                 statically; installs bin/apkit, the man pages and
#                                                 bash/zsh/fish completions under PREFIX
#   make uninstall [PREFIX=/usr/local]
#   make release                                  dist/apkit-VERSION-linux-ARCH.tar.gz + .sha256
#   make clean                                    removes dist/ and the generated files
#
# The binary links only C libraries: glibc, OpenSSL (libssl, libcrypto), zlib, libdeflate,
# libzstd and libcurl (see the README's "Install" for the distro packages), plus libstdc++ and
# libgcc_s, which the statically linked Swift runtime itself needs.
# SCRATCH is SwiftPM's build directory (default .build).

PREFIX ?= /usr/local
DESTDIR ?=
SWIFT ?= swift
SCRATCH ?= .build
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)

BIN := $(SCRATCH)/release/apkit
GEN := $(SCRATCH)/apkit-dist
SWIFT_BUILD := $(SWIFT) build -c release --static-swift-stdlib --scratch-path $(SCRATCH)
ARCH := $(shell uname -m)

bindir := $(DESTDIR)$(PREFIX)/bin
mandir := $(DESTDIR)$(PREFIX)/share/man/man1
bashdir := $(DESTDIR)$(PREFIX)/share/bash-completion/completions
zshdir := $(DESTDIR)$(PREFIX)/share/zsh/site-functions
fishdir := $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d

.PHONY: all build man completions install uninstall release clean check-static

all: build

build:
	$(SWIFT_BUILD) --product apkit
	$(MAKE) --no-print-directory check-static SCRATCH=$(SCRATCH)

# The man pages come from the argument parser's own definitions: its generate-manual tool (what
# `swift package plugin generate-manual` runs) reads the built binary. Run directly, because the
# plugin rebuilds every product in release mode without --static-swift-stdlib, which makes the
# next static build compile everything again.
man: build
	$(SWIFT) build --scratch-path $(SCRATCH) --product generate-manual
	rm -rf $(GEN)/man && mkdir -p $(GEN)/man
	"$$($(SWIFT) build --scratch-path $(SCRATCH) --show-bin-path)/generate-manual" $(BIN) --multi-page \
		--section 1 --authors "the apkit authors" --output-directory $(GEN)/man

# Fails when the binary still needs the Swift runtime (libswift*.so, libFoundation*.so, libdispatch).
check-static:
	@if ldd $(BIN) | grep -E 'libswift|libFoundation|libdispatch|libBlocksRuntime|lib_Foundation|libicu'; then \
		echo "error: $(BIN) links the Swift runtime dynamically" >&2; exit 1; fi
	@echo "$(BIN): links only C libraries:"; ldd $(BIN) | sed 's/ (0x.*//'

completions: build
	mkdir -p $(GEN)/completions
	$(BIN) --generate-completion-script bash > $(GEN)/completions/apkit.bash
	$(BIN) --generate-completion-script zsh > $(GEN)/completions/_apkit
	$(BIN) --generate-completion-script fish > $(GEN)/completions/apkit.fish

install: build man completions install-files

uninstall:
	rm -f $(bindir)/apkit $(mandir)/apkit.1 $(mandir)/apkit.*.1 $(bashdir)/apkit $(zshdir)/_apkit $(fishdir)/apkit.fish

# dist/apkit-VERSION-linux-ARCH.tar.gz: one directory apkit-VERSION-linux-ARCH/ with bin/, share/
# (install it with: tar -xzf ... --strip-components=1 -C /usr/local), and its SHA-256 in
# dist/apkit-VERSION-linux-ARCH.tar.gz.sha256 (check with: sha256sum -c FILE.sha256).
release: build man completions
	@set -e; version=$$($(BIN) --version); name=apkit-$$version-linux-$(ARCH); \
	rm -rf dist/stage && mkdir -p dist/stage; \
	$(MAKE) --no-print-directory install-files SCRATCH=$(SCRATCH) DESTDIR=$(CURDIR)/dist/stage/$$name PREFIX=; \
	cp LICENSE* README.md dist/stage/$$name/ 2>/dev/null || cp README.md dist/stage/$$name/; \
	tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@$(SOURCE_DATE_EPOCH) \
		-C dist/stage -cf - $$name | gzip -9n > dist/$$name.tar.gz; \
	rm -rf dist/stage; \
	(cd dist && sha256sum $$name.tar.gz > $$name.tar.gz.sha256); \
	echo "wrote dist/$$name.tar.gz"; echo "wrote dist/$$name.tar.gz.sha256"

# install without rebuilding (used by release).
.PHONY: install-files
install-files:
	install -d $(bindir) $(mandir) $(bashdir) $(zshdir) $(fishdir)
	install -m 0755 $(BIN) $(bindir)/apkit
	install -m 0644 $(GEN)/man/*.1 $(mandir)/
	install -m 0644 $(GEN)/completions/apkit.bash $(bashdir)/apkit
	install -m 0644 $(GEN)/completions/_apkit $(zshdir)/_apkit
	install -m 0644 $(GEN)/completions/apkit.fish $(fishdir)/apkit.fish

clean:
	rm -rf dist $(GEN)
