# pg_claude — PGXS build
EXTENSION    = pg_claude
EXTVERSION   = 0.3.0
MODULE_big   = pg_claude
OBJS         = $(patsubst %.c,%.o,$(wildcard src/*.c))
DATA         = $(wildcard sql/pg_claude--*.sql)
PGFILEDESC   = "pg_claude - call Claude on Amazon Bedrock from SQL"

# pg_regress tests (sql/<name>.sql, expected/<name>.out), run by
# `make installcheck` against the running server (PGHOST, PGPORT, PGUSER: a
# superuser; the server on this host, pg_claude installed, preloaded or not).
# setup points the test database at the Bedrock emulator and gives the server
# credentials it accepts; teardown undoes that.  See sql/setup.sql.
REGRESS      = setup complete invoke errors settings residency functions batch teardown
# our own installcheck, below: pg_regress with the emulator up around it
NO_INSTALLCHECK = 1

PG_CPPFLAGS += -DEXTVERSION=\"$(EXTVERSION)\" -Isrc
# -Wno-clobbered: PostgreSQL's own PG_TRY/PG_FINALLY macros trip it under -Wextra
PG_CFLAGS   += -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-clobbered
SHLIB_LINK  += -lcurl -lcrypto -lcjson

PG_CONFIG   ?= pg_config
PGXS        := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: rebuild every object when any header
# changes (a stale struct layout across files is a stack smash waiting).
$(OBJS): $(wildcard src/*.h)

.PHONY: installcheck unit test
# Self-contained, as pg_cron's is: it needs nothing configured on the server.
# test/with-emulator starts the emulator, runs pg_regress, and stops it.
# (PGXS's own recipe, $(pg_regress_installcheck), begins with an echo.)
installcheck:
	test/with-emulator $(top_builddir)/src/test/regress/pg_regress --inputdir=$(srcdir) \
	    --bindir='$(bindir)' $(pg_regress_locale_flags) $(EXTRA_REGRESS_OPTS) \
	    $(REGRESS_OPTS) $(REGRESS)

unit:
	$(MAKE) -C test/unit

# builds, installs (sudo when not root) and runs every test; it installs no
# system package (test/install-deps does, called by quickstart.sh and .ci/run)
test: all
	test/run
