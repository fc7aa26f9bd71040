# The two commands of the README:
#   make demo   set everything up, build the default bundle, start a broker, the demo home
#               and the agent, and send it a few requests (make try: type your own)
#   make test   set everything up and run the tests
VENV ?= .venv
BIN := $(VENV)/bin
BUNDLE ?= bundles/default-int4
REQUESTS ?= "dim the sofa lamp to 30 percent" "is the front door locked?" "turn off the porch light"

.PHONY: setup bundle demo try test test-slow lint bench-export clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml deploy/dev-setup.sh
	VENV=$(VENV) deploy/dev-setup.sh
	touch $@

demo: bundle
	$(BIN)/edge-agent try --bundle $(BUNDLE) $(REQUESTS)

# The same, but you type the requests (Ctrl-D to quit).
try: bundle
	$(BIN)/edge-agent try --bundle $(BUNDLE)

bundle: setup
	$(BIN)/edge-agent-export build --source default --quant int4 --block-size 16 --asymmetric --gptq --int8-share 0.2 \
		--out $(BUNDLE) --force --keep-current

test: setup
	$(BIN)/python -m pytest

test-slow: setup
	$(BIN)/python -m pytest -m slow

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench-export: setup
	$(BIN)/edge-agent-export bench --out bundles/bench

clean:
	rm -rf bundles .pytest_cache .mypy_cache .ruff_cache
