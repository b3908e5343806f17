# gdpr_crm — PGXS build.  `make demo` and `make test` are the two entry points
# (see README.md); everything else is the ordinary PGXS build.

EXTENSION   = gdpr_crm
MODULE_big  = gdpr_crm
EXTVERSION  = 1.0

# One C file per capability; picked up automatically.
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# The extension script is assembled from one SQL file per capability,
# in file-name order (src/sql/NN_capability.sql).
SQL_PARTS   = $(sort $(wildcard src/sql/*.sql))
DATA_built  = $(EXTENSION)--$(EXTVERSION).sql
DATA        = $(wildcard src/update/$(EXTENSION)--*--*.sql)

PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS   = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare

PG_CONFIG  ?= pg_config
PGXS       := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifeq ($(PGXS),)
# A fresh machine: only `make demo`, `make test` and `make deps` work until
# scripts/harness.sh has installed postgresql-server-dev-15.
all install installcheck:
	@echo "pg_config not found: run 'make test' or 'make demo' (they install postgresql-server-dev-15)"; exit 1
else
include $(PGXS)
# digest.c uses OpenSSL directly when the server is built with it
SHLIB_LINK += $(filter -lcrypto,$(LIBS))
endif

# PGXS tracks no header dependencies: rebuild every object when a header changes.
$(OBJS): $(wildcard $(srcdir)/src/*.h)

$(EXTENSION)--$(EXTVERSION).sql: $(SQL_PARTS)
	cat $(SQL_PARTS) > $@

# ---------------------------------------------------------------------------
# The two commands of the README.  scripts/harness.sh installs what is
# missing, builds, installs, runs a throwaway cluster as the postgres OS user.
.PHONY: demo test bench sanitize fuzz load update-test deps cppcheck
demo:
	bash scripts/harness.sh demo
test:
	bash scripts/harness.sh test
bench:
	bash scripts/harness.sh bench
deps:
	bash scripts/harness.sh deps

# Hardening suites longer than `make test` allows (docs/SECURITY.md).
sanitize:
	bash scripts/sanitize.sh
fuzz:
	bash test/fuzz/run.sh
load:
	bash test/load/run.sh
update-test:
	bash test/scripts/update_path.sh

# Static analysis of our C code (one configuration: gcc on x86_64, so it
# does not walk every #ifdef of the server headers).  Fails on any finding;
# a false positive gets an inline cppcheck-suppress comment with its reason.
CPPCHECK_FLAGS = -q --error-exitcode=1 --enable=warning,performance,portability \
	--inline-suppr --suppress=missingIncludeSystem -D__GNUC__=12 -D__x86_64__ -j2 \
	-I src -I $(shell $(PG_CONFIG) --includedir-server 2>/dev/null)
cppcheck:
	cppcheck $(CPPCHECK_FLAGS) src/*.c
