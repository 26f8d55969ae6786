s/\bimap_cmd_atom\b/imap_cmd_add_text/g
s/\bimap_cmd_raw_checked\b/imap_cmd_add_text/g
s/\bimap_cmd_astring\b/imap_cmd_add_astring/g
s/\bimap_cmd_string\b/imap_cmd_add_string/g
s/\bimap_cmd_literal\b/imap_cmd_add_literal/g
s/\bsess_status_word\b/imap_status_str/g
s|#include "sasl/base64\.h"|#include "util/base64.h"|g
