# Mandate: the commands a user types.  Meson does the real work in build/.
#   make            build; the program lands at build/mandate
#   make run        deps + build + init ./var/mandate.db + load examples + serve
#   make test       deps + build + every test; ends with "N passed, N failed"
#   make sanitize   every test under ASan+UBSan, then the fuzz corpora replayed
#   make format     clang-format the C sources
#   make deps       install the Debian packages (as root) or print the command
BUILD      ?= build
SAN_BUILD  ?= build-san
FUZZ_BUILD ?= build-fuzz
LISTEN     ?= 127.0.0.1:8080
DB         ?= var/mandate.db

.PHONY: all build deps run test sanitize fuzz-replay format check-src clean difftest

all: build

deps:
	@scripts/deps

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=debugoptimized

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)
	@ln -sf src/cli/mandate $(BUILD)/mandate

run: deps build
	@scripts/run-local $(BUILD)/mandate $(DB) $(LISTEN)

test: deps build
	@scripts/test-setup
	@scripts/run-tests $(BUILD)

$(SAN_BUILD)/build.ninja:
	meson setup $(SAN_BUILD) --buildtype=debug -Db_sanitize=address,undefined \
	    -Db_lundef=false -Dc_args=-fno-sanitize-recover=all

sanitize: deps $(SAN_BUILD)/build.ninja
	ninja -C $(SAN_BUILD)
	@ln -sf src/cli/mandate $(SAN_BUILD)/mandate
	@scripts/test-setup
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    scripts/run-tests $(SAN_BUILD)
	@$(MAKE) --no-print-directory fuzz-replay

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) --buildtype=debug -Dfuzz=true -Dtests=disabled \
	    -Db_sanitize=address,undefined -Db_lundef=false \
	    "-Dc_args=-fno-sanitize-recover=all -fsanitize=fuzzer-no-link"

fuzz-replay: $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	@scripts/fuzz-replay $(FUZZ_BUILD)

# Differential test of the Cedar engine against cedar-wasm: N generated
# requests and PARSE parser- and data-acceptance cases from seed SEED; failing tests are
# copied to $(BUILD)/difftest-failures.
N     ?= 100000
PARSE ?= 10000
SEED  ?= 1
difftest: deps build
	@scripts/test-setup
	node tests/node/cedar-difftest.mjs --mandate $(BUILD)/src/cli/mandate --n $(N) \
	    --seed $(SEED) --parse $(PARSE) --schema-parse $(PARSE) --data $(PARSE) --quiet \
	    --regress $(BUILD)/difftest-failures

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

check-src:
	@scripts/checksrc $$(git ls-files 'src/*.c' 'src/*.h')

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(FUZZ_BUILD)
