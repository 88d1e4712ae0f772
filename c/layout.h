/*
 * layout.h - the shared descriptor array between C and TypeScript.
 *
 * fh_poll fills one row of FH_D_SIZE int32 per ready request; JavaScript runs
 * the handler and writes the response fields of the same row; fh_flush reads
 * them back. src/layout.ts mirrors these numbers and checks them at start-up
 * against fh_layout_check().
 */
#ifndef FH_LAYOUT_H
#define FH_LAYOUT_H

/* Written by C. Offsets are relative to the request's bytes in its arena. */
#define FH_D_FD 0
#define FH_D_GEN 1
#define FH_D_SEQ 2
#define FH_D_SLAB 3
#define FH_D_LEN 4 /* request bytes: head plus (decoded) body */
#define FH_D_METHOD 5 /* start; +1 is the length, likewise below */
#define FH_D_PATH 7
#define FH_D_VERSION 9
#define FH_D_HEADERS 11
#define FH_D_BODY 13
#define FH_D_FLAGS 15 /* FH_REQ_* */
#define FH_D_TARGET 16
/* Written by JavaScript. */
#define FH_D_RKIND 18
#define FH_D_ROFF 19
#define FH_D_RLEN 20
#define FH_D_RFLAGS 21
#define FH_D_SIZE 22

/* FH_D_RKIND */
#define FH_R_PENDING 0 /* an async handler: fh_respond comes later */
#define FH_R_ARENA 1   /* the response is in the request's slab at [ROFF, ROFF+RLEN) */
#define FH_R_DONE 2    /* already handed over with fh_respond during the batch */

/* FH_D_RFLAGS */
#define FH_RF_CLOSE 1 /* close the connection after this response */
#define FH_RF_RAW 2   /* user-built head: look for "Connection: close" in it */

#endif
