/* vfsec-json.h: JSON in vfsec — the JSON forms of vfsec's objects (a contract
 * the CLI's users and tests rely on, docs/cli.md; keys are only ever added),
 * and the one strict reader and writer of the lines vfsec's JSON-lines
 * protocols exchange (docs/pf-driver-contract.md, docs/control-protocol.md). */
#pragma once

#include <json-glib/json-glib.h>

#include "vfsec-domain.h"
#include "vfsec-error.h"
#include "vfsec-topology.h"

G_BEGIN_DECLS

/* The attachment as an object. When @resolve_requested, "resolved" holds
 * {pf, vf, vf_netdev} from @resolved, or {error} from @resolve_error;
 * otherwise it is null. Returns a new node. */
JsonNode *vfsec_attachment_to_json(const VfsecAttachment *att,
                                   gboolean resolve_requested,
                                   const VfsecVfInfo *resolved,
                                   const GError *resolve_error);

/* Serialises @node; @pretty indents by two spaces. Returns a new string. */
char *vfsec_json_to_string(JsonNode *node, gboolean pretty);

/* Parses one protocol line (@len bytes, its newline already removed) that
 * must hold exactly one JSON object, held first to these rules, which are
 * RFC 8259 and stricter:
 *   - at most @max_len bytes (else VFSEC_ERROR_TOO_LARGE);
 *   - valid UTF-8 without NUL bytes; no raw control character, no \u0000
 *     and no lone surrogate in strings;
 *   - one object and nothing after it but white space;
 *   - at most @max_depth nested objects and arrays, the root included;
 *   - integers (numbers without fraction or exponent) within signed 64 bits;
 *   - no member name twice in one object, and no escape in member names.
 * The last rule is where vfsec is stricter than RFC 8259: every member name
 * of vfsec's protocols is plain ASCII that no JSON generator escapes, and
 * with escapes refused a name is its bytes, so the duplicate check compares
 * exactly what json-glib will compare (its decoder is never second-guessed).
 * Only a line that passed reaches json-glib, which alone would crash on deep
 * nesting (it recurses), keep the last of duplicate members and wrap
 * overflowing integers; @max_depth must stay small for the same reason.
 * @what names the line in messages ("request line", "control reply").
 * Returns the root object (new reference), or NULL with @error:
 * VFSEC_ERROR_TOO_LARGE, or VFSEC_ERROR_INVALID naming the problem and its
 * byte offset. Callers that treat a bad line as a peer's protocol breach
 * change the code. */
JsonObject *vfsec_json_parse_line(const char *line, gsize len, gsize max_len, guint max_depth,
                                  const char *what, GError **error);

/* Serialises @root compactly as one line with its newline; compact JSON never
 * holds a raw newline, as strings escape theirs. Returns a new NUL-terminated
 * string (*@len, when given, its length without the NUL), or NULL with
 * VFSEC_ERROR_TOO_LARGE ("@what would be N bytes, ...") when the line without
 * its newline would exceed @max_len bytes. */
char *vfsec_json_to_line(JsonNode *root, gsize max_len, const char *what, gsize *len,
                         GError **error);

G_END_DECLS
