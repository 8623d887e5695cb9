# Bytecode for the Lambda runtime's Python, shipped in the built layer and functions. Lambda's /opt
# (layers) and /var/task (the function) are read-only, so whatever is not compiled here is compiled
# again at every cold start (the callback's cold start about doubles: `make bench`).
#
# Hash-based pycs: a zip keeps times to 2 seconds in local time, so a timestamp pyc need not match
# its source once deployed and would be ignored. Unchecked: a deployed layer or function never
# changes, so hashing every source at import to compare would be work for nothing.
# A pyc is only used by the Python version that wrote it: RUNTIME_PYTHON names the runtime's
# interpreter, else the first working python3.13 on PATH or under pyenv is used. Without one the
# build still succeeds, with a warning, and Lambda compiles at every cold start as before
# (RUNTIME_PYTHON= builds that way on purpose).
RUNTIME_PYTHON_VERSION := 3.13
ifeq ($(origin RUNTIME_PYTHON),undefined)
RUNTIME_PYTHON := $(firstword $(foreach python,\
	python$(RUNTIME_PYTHON_VERSION) \
	$(wildcard $(shell pyenv root 2>/dev/null)/versions/$(RUNTIME_PYTHON_VERSION)*/bin/python$(RUNTIME_PYTHON_VERSION)) \
	$(wildcard $(HOME)/.pyenv/versions/$(RUNTIME_PYTHON_VERSION)*/bin/python$(RUNTIME_PYTHON_VERSION)),\
	$(if $(shell $(python) -c "import sys; sys.exit('%d.%d' % sys.version_info[:2] != '$(RUNTIME_PYTHON_VERSION)')" \
		2>/dev/null && echo yes),$(python))))
endif

# $(call compile_bytecode,<built folder>,<its path in Lambda>): the path in Lambda is what the code
# objects record, so tracebacks read as deployed and the artifact does not depend on the build folder.
# The warning goes to stdout: `sam build` shows make's stdout, and its stderr only on failure.
define compile_bytecode
	$(if $(RUNTIME_PYTHON),"$(RUNTIME_PYTHON)" -I -m compileall -q -j 0 --invalidation-mode unchecked-hash \
		-s "$(1)" -p "$(2)" "$(1)",\
		@echo "WARNING: no Python $(RUNTIME_PYTHON_VERSION) found (set RUNTIME_PYTHON): $(1) has no bytecode;\
		Lambda will compile it at every cold start")
endef

.PHONY: runtime-python
# For the packaging test and the benchmark: the interpreter the build compiles with (empty: none).
runtime-python:
	@echo "$(RUNTIME_PYTHON)"
