# pg_claude — PGXS build
EXTENSION    = pg_claude
EXTVERSION   = 0.2.0
MODULE_big   = pg_claude
OBJS         = $(patsubst %.c,%.o,$(wildcard src/*.c))
DATA         = $(wildcard sql/pg_claude--*.sql)
PGFILEDESC   = "pg_claude - call Claude on Amazon Bedrock from SQL"

# pg_regress tests (sql/<name>.sql, expected/<name>.out); they need the
# emulator and a configured server, so run them through test/run.
REGRESS      = complete invoke errors settings residency functions batch

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

.PHONY: unit test
unit:
	$(MAKE) -C test/unit

test: all
	test/run
