/* output.h - render a report to a buffer; never prints.
 *
 * Every renderer appends to `out` (it does not reset it) and treats every
 * string in the report as hostile even though report.c sanitized it.  Give
 * it an sb_init_alloc() buffer with a max of OUTPUT_MAX_SIZE: that holds
 * the largest possible report in any format, so out->truncated then only
 * means "out of memory".
 *
 * Perfdata (all formats): one item per step that ran ("connect"=seconds
 * with 6 decimals, UOM s, min 0, max the timeout; the first step of a
 * repeated name; none when the session added an item with the step's
 * label), then the report's own items in order.
 *
 * nagios: "IMAP OK - summary | perfdata" (no " - " when the summary is
 * empty, no " | " without perfdata), then one long-output line per step that
 * ran ("connect: OK 0.0012s 127.0.0.1:143"; an OK step with a non-OK state
 * shows the state, e.g. "tls: WARNING ..."), then the report's extra lines.
 * verbose >= 1 adds skipped steps, each step's values "(key=value, ...)",
 * and the facts as "key: value" lines.  Every line ends in "\n".
 *
 * json: one line, one object:
 *   {"state":"OK","exit_code":0,"summary":"...","failed_step":null|"auth",
 *    "time":seconds|null,"timeout":seconds|null,
 *    "steps":[{"name","outcome":"ok|failed|timeout|skipped","state":"OK",
 *              "duration":seconds,"message","values":{key:number|null}}],
 *    "perfdata":[{"label","value","uom","warn","crit","min","max"}],
 *    "info":{key:"value"},"lines":["..."]}
 *   "time" is total_ns when stamped, else the "time" perf item; numbers
 *   that are not finite are null; invalid UTF-8 becomes \ufffd.
 *
 * prometheus: text exposition format 0.0.4, blackbox_exporter naming:
 *   probe_success (1 for OK and WARNING), probe_imap_state (0-3),
 *   probe_duration_seconds, probe_imap_step_duration_seconds{step=...},
 *   probe_imap_step_success{step=...}, probe_ssl_earliest_cert_expiry (from
 *   the "cert_not_after" fact, unix seconds), probe_tls_version_info
 *   {version=...} (from "tls_version"), and probe_imap_<label> for every
 *   other perf item ("_bytes" appended for UOM B, "_seconds" for UOM s;
 *   left out: "time" and the steps' own durations, which the families
 *   above carry, and "cert_days" when probe_ssl_earliest_cert_expiry was
 *   written; a name that would repeat a family already written is
 *   skipped).  All gauges. */
#ifndef CIS_OUTPUT_H
#define CIS_OUTPUT_H

#include "report/report.h"
#include "util/util.h"

/* Large enough for any report in any format. */
#define OUTPUT_MAX_SIZE ((size_t)4 << 20)

enum output_format {
	OUTPUT_NAGIOS = 0,
	OUTPUT_JSON,
	OUTPUT_PROMETHEUS,
};

/* verbose: 0 = status line + perfdata + step lines; higher adds detail
 * (nagios only).  An unknown fmt renders nagios. */
void output_render(const struct report *r, enum output_format fmt, int verbose, struct sbuf *out);

/* Helpers, exposed for tests. */
/* The label as is when it only has [A-Za-z0-9_./-], else 'quoted' with
 * single quotes doubled; '=' becomes '_', control bytes and '|' '?'. */
void output_perf_label(struct sbuf *out, const char *label);
/* label=value[uom];[warn];[crit];[min];[max] with empty trailing fields
 * left out; value "U" when not finite; C locale. */
void output_perf_item(struct sbuf *out, const struct perf *p);
/* "..." JSON-escaped (control bytes, '"', '\\', U+2028/9 as \u escapes,
 * invalid UTF-8 as \ufffd); NULL gives null. */
void output_json_string(struct sbuf *out, const char *s);

#endif
