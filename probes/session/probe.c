/* probe.c - the probe configuration's defaults and the names of its
 * parsed values (see probe.h). */
#include "config.h"
#include "session/probe.h"

#include <sys/socket.h>

void probe_config_defaults(struct probe_config *cfg)
{
	*cfg = (struct probe_config){
		.family = AF_UNSPEC,
		.timeout_s = 10,
		.timeout_state = STATE_CRITICAL,
		.auth = AUTH_AUTO,
		.mailbox = "INBOX",
		.fetch = FETCH_HEADERS,
		.output = OUTPUT_NAGIOS,
		.repeat = 1,
		.total_timeout_s = 55,
	};
}

const char *probe_auth_name(const struct probe_config *cfg)
{
	switch (cfg->auth) {
	case AUTH_NONE: return "none";
	case AUTH_ALL: return "all";
	case AUTH_LOGIN: return "login";
	case AUTH_SASL: return cfg->auth_mech ? cfg->auth_mech : "?";
	default: return "auto";
	}
}
