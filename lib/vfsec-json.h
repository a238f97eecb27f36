/* vfsec-json.h: the JSON forms of vfsec's objects — a contract that the CLI's
 * users and tests rely on (docs/cli.md). Keys are only ever added. */
#pragma once

#include <json-glib/json-glib.h>

#include "vfsec-domain.h"
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

G_END_DECLS
