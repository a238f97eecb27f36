/* vfsec-xml.h: reading XML that comes from outside (hook stdin, libvirt
 * events, files an operator can edit) without trusting it, the small tree
 * helpers every reader uses, and RELAX NG validation against vfsec's schemas. */
#pragma once

#include <glib.h>
#include <libxml/parser.h>
#include <libxml/relaxng.h>
#include <libxml/tree.h>

G_BEGIN_DECLS

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlDoc, xmlFreeDoc)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlParserCtxt, xmlFreeParserCtxt)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlRelaxNG, xmlRelaxNGFree)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlRelaxNGParserCtxt, xmlRelaxNGFreeParserCtxt)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlRelaxNGValidCtxt, xmlRelaxNGFreeValidCtxt)

/* Bound on a schema file: vfsec's schemas are a few KiB. */
#define VFSEC_XML_SCHEMA_MAX (1024 * 1024)

/* Parses @xml (@len bytes, or NUL-terminated when negative) into a document
 * that is safe to walk: more than @max bytes is VFSEC_ERROR_TOO_LARGE before
 * libxml2 sees a byte; a <!DOCTYPE> (so any entity declaration), malformed
 * XML and nesting deeper than libxml2's default limit are
 * VFSEC_ERROR_INVALID; nothing is fetched from the network and nothing is
 * printed. @what names the input in errors ("domain XML", a path).
 * Returns a new document. */
xmlDoc *vfsec_xml_read(const char *xml, gssize len, gsize max, const char *what,
                       GError **error);

/* TRUE when @node (NULL allowed) is an element @name in no namespace, as
 * libvirt's own elements are. */
gboolean vfsec_xml_is(const xmlNode *node, const char *name);
/* TRUE when @node (NULL allowed) is an element @name in namespace URI @ns
 * (whatever prefix the document chose). */
gboolean vfsec_xml_is_ns(const xmlNode *node, const char *ns, const char *name);
/* The first child element @name (no namespace) of @parent (NULL allowed),
 * borrowed from the document; NULL when there is none. */
xmlNode *vfsec_xml_child(const xmlNode *parent, const char *name);
/* A new GLib string copy of the unqualified attribute @name of @node (NULL
 * allowed), or NULL when it is absent. */
char *vfsec_xml_prop(const xmlNode *node, const char *name);
/* Sets the unqualified attribute @name of @node to @value (copied). */
void vfsec_xml_set_prop(xmlNode *node, const char *name, const char *value);
/* A new GLib string copy of the text of @node (NULL allowed) with leading
 * and trailing spaces removed, or NULL. */
char *vfsec_xml_text(const xmlNode *node);

/* Where the schema file @name is (new string): in $VFSEC_SCHEMADIR when that
 * is set (tests, an uninstalled tree), else the installed schema directory
 * if it holds @name, else the source tree's xml/ directory. */
char *vfsec_xml_schema_path(const char *name);
/* Validates @doc against the RELAX NG schema in the file @schema_path
 * (vfsec_xml_schema_path() finds vfsec's own). A document that does not
 * match is VFSEC_ERROR_INVALID: "@what does not match <schema file name>
 * at line N: <first problem>"; a schema that cannot be read is
 * VFSEC_ERROR_NOT_FOUND / VFSEC_ERROR_IO, one that is not RELAX NG
 * VFSEC_ERROR_INVALID. Errors never reach libxml2's process-wide handlers. */
gboolean vfsec_xml_validate_doc(xmlDoc *doc, const char *schema_path, const char *what,
                                GError **error);
/* As vfsec_xml_validate_doc() for the subtree at @node, validated as a
 * document of its own (namespaces declared further up are kept). */
gboolean vfsec_xml_validate_node(const xmlNode *node, const char *schema_path,
                                 const char *what, GError **error);

G_END_DECLS
