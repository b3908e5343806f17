/* shim.h: the backend stand-in for the fuzz harnesses (see shim.c) */
#ifndef GDPR_FUZZ_SHIM_H
#define GDPR_FUZZ_SHIM_H

#include <setjmp.h>
#include <stddef.h>

/* where ereport(ERROR) jumps; set by the harness around each call */
extern sigjmp_buf *shim_catch;
extern int	shim_last_elevel;
extern int	shim_last_sqlstate;
extern char shim_last_message[1024];

/* free everything palloc'd since the last reset */
extern void shim_reset(void);
extern size_t shim_live_chunks(void);

/* raise an ERROR from the shim itself */
extern void shim_error(const char *msg) pg_attribute_noreturn();

/* the server only ever hands valid UTF-8 without NUL bytes to the parsers */
extern bool shim_valid_utf8(const unsigned char *s, size_t len);

#endif
