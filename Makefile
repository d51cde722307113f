# The two commands of the README: `make demo` and `make test`. Both install what is missing first.
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-fast

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $(STAMP)

setup: $(STAMP)

# Processes the bundled example meeting end to end with the default models and prints where the memo is.
demo: setup
	$(VENV)/bin/insightcap process examples/team-retrospective.ogg \
		--title "Team retrospective" --program "Demo circle" --date 2026-11-20

test: setup
	$(VENV)/bin/python -m pytest

# Skips the tests that run real models on real audio (a few minutes).
test-fast: setup
	$(VENV)/bin/python -m pytest -m "not slow"
