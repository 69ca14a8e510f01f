/*-------------------------------------------------------------------------
 *
 * extension_state.h
 *	  Is pg_claude installed in this database (extension_state.c)?
 *
 * Copyright (c) 2026, pg_claude developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_CLAUDE_EXTENSION_STATE_H
#define PG_CLAUDE_EXTENSION_STATE_H

/* True when the extension exists; a catalog scan only after a change. In a transaction. */
extern bool claude_extension_installed(void);

#endif							/* PG_CLAUDE_EXTENSION_STATE_H */
