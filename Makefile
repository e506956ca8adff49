# Thin wrapper over CMake. `make` builds, `make test` builds and runs every test,
# `make demo` runs the main job, `make fuzz` runs the GGUF reader fuzzer
# (FUZZ_TARGET=safetensors|hf_config|all picks others; FUZZ_SECONDS per target).
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all build test demo fuzz clean

all: build

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: build
	bash scripts/demo.sh $(BUILD)

FUZZ_SECONDS ?= 600
FUZZ_TARGET ?= gguf
fuzz:
	FUZZ_TARGET=$(FUZZ_TARGET) bash scripts/fuzz.sh $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) build-fuzz
