/*
 * symbols.c - the core's entry points by name, for src/ffi.ts.
 *
 * bun:ffi's cc compiles a JavaScript wrapper for every symbol it is given,
 * about 0.2 ms each at start-up; a wrapper made later from a function pointer
 * (CFunction) costs ~10 µs and calls as fast. So cc binds only fh_symbols,
 * and src/ffi.ts binds the rest from this table, by name: a name either side
 * lacks is an error at start-up, naming it.
 */

typedef struct {
    const char *name;
    void *fn;
} fh_symbol;

#define FH_SYM(f) {#f, (void *)f}
static const fh_symbol fh_symbol_table[] = {
    FH_SYM(fh_server_create), FH_SYM(fh_listen_socket), FH_SYM(fh_socket_port), FH_SYM(fh_close),
    FH_SYM(fh_server_limits), FH_SYM(fh_server_port), FH_SYM(fh_conn_timeout), FH_SYM(fh_peer),
    FH_SYM(fh_server_desc), FH_SYM(fh_server_slabs), FH_SYM(fh_slab_ptr), FH_SYM(fh_conn_count),
    FH_SYM(fh_stats), FH_SYM(fh_start), FH_SYM(fh_arm), FH_SYM(fh_poll),
    FH_SYM(fh_flush), FH_SYM(fh_respond_status), FH_SYM(fh_respond), FH_SYM(fh_arena_grow),
    FH_SYM(fh_slab_size), FH_SYM(fh_server_trace), FH_SYM(fh_trace_take), FH_SYM(fh_clock),
    FH_SYM(fh_stream_open), FH_SYM(fh_stream_write), FH_SYM(fh_stream_end), FH_SYM(fh_raw_take),
    FH_SYM(fh_body_read), FH_SYM(fh_respond_file), FH_SYM(fh_ws_accept), FH_SYM(fh_ws_send),
    FH_SYM(fh_ws_scratch), FH_SYM(fh_ws_send_s), FH_SYM(fh_ws_pause), FH_SYM(fh_ws_zlib),
    FH_SYM(fh_ws_flush), FH_SYM(fh_ws_buffered), FH_SYM(fh_ws_close), FH_SYM(fh_events_take),
    FH_SYM(fh_events_pending), FH_SYM(fh_stop), FH_SYM(fh_destroy), FH_SYM(fh_contract),
    FH_SYM(fh_strerror), FH_SYM(fh_routes_clear), FH_SYM(fh_route_static),
};
#undef FH_SYM

/* Writes the address of each entry point's name and of the function, in pairs
 * (out[2i] the NUL-terminated name, out[2i+1] the function), for at most
 * max pairs. Returns how many entry points there are. */
int fh_symbols(const void **out, int max) {
    int n = (int)(sizeof fh_symbol_table / sizeof fh_symbol_table[0]);
    int i;
    for (i = 0; i < n && i < max; i++) {
        out[2 * i] = fh_symbol_table[i].name;
        out[2 * i + 1] = fh_symbol_table[i].fn;
    }
    return n;
}
