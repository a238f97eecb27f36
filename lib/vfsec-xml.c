/* vfsec-xml.c: the one place vfsec hands outside XML to libxml2, tree helpers, RELAX NG. */

/*
 * Theory of operation
 *
 * Every document vfsec reads comes from outside (a hook's stdin, a libvirt
 * event, a file in a directory an operator can write), so reading it is the
 * dangerous part and happens in one place, vfsec_xml_read():
 *   - the length is checked against the caller's bound before libxml2 sees
 *     a byte;
 *   - the parser runs on its own (push) context with XML_PARSE_NONET and
 *     without XML_PARSE_NOENT / XML_PARSE_DTDLOAD / XML_PARSE_HUGE, so
 *     nothing is fetched, no entity is substituted and libxml2's depth limit
 *     holds;
 *   - the SAX internalSubset callback stops the parser at any <!DOCTYPE>:
 *     neither libvirt nor vfsec ever writes one, and refusing it outright is
 *     the only way to be sure no entity declaration ("billion laughs",
 *     external entities) is ever expanded;
 *   - errors go to a structured handler on that context (and on the RELAX NG
 *     contexts), never to libxml2's process-wide handlers, so vfsec neither
 *     prints to stderr nor disturbs another libxml2 user in the process.
 *
 * Validation loads the schema per call (a few KiB, parsed in well under a
 * millisecond) rather than caching it: no global state, and a schema
 * updated on disk is used at once.
 */
#include "vfsec-xml.h"

#include <string.h>

#include <libxml/SAX2.h>
#include <libxml/xmlerror.h>

#include "vfsec-config.h"
#include "vfsec-error.h"
#include "vfsec-file.h"

/* ------------------------------------------------------------------ */
/* Reading untrusted XML */

/* The first error libxml2 reported: later ones are usually consequences. */
typedef struct {
    gboolean saw_dtd;
    int line;
    char *message;
} VfsecXmlErrors;

static void
vfsec_xml_errors_clear(VfsecXmlErrors *errs)
{
    g_clear_pointer(&errs->message, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VfsecXmlErrors, vfsec_xml_errors_clear)

static void
vfsec_xml_errors_record(VfsecXmlErrors *errs, const xmlError *err)
{
    if (!errs || !err || err->level < XML_ERR_ERROR || errs->message)
        return;
    errs->line = err->line;
    errs->message = g_strstrip(g_strdup(err->message ? err->message : "unknown error"));
}

/* Structured handler of the RELAX NG contexts: @data is the VfsecXmlErrors. */
static void
vfsec_xml_errors_handler(void *data, xmlErrorPtr err)
{
    vfsec_xml_errors_record(data, err);
}

/* Structured handler of a parser context: libxml2 passes the context itself. */
static void
vfsec_xml_parser_error(void *data, xmlErrorPtr err)
{
    xmlParserCtxt *ctxt = data;

    vfsec_xml_errors_record(ctxt->_private, err);
}

static void
vfsec_xml_refuse_dtd(void *data, const xmlChar *name, const xmlChar *external_id,
                     const xmlChar *system_id)
{
    xmlParserCtxt *ctxt = data;
    VfsecXmlErrors *errs = ctxt->_private;

    errs->saw_dtd = TRUE;
    errs->line = xmlSAX2GetLineNumber(ctxt);
    xmlStopParser(ctxt);
}

/* The push parser, fed in chunks, rather than xmlCtxtReadMemory(): reading
 * from one memory block, libxml2 2.9 refuses any document past 10 MB
 * ("Huge input lookup") unless XML_PARSE_HUGE, which would also lift the
 * depth limit; in chunks it keeps its default limits up to our own bound. */
xmlDoc *
vfsec_xml_read(const char *xml, gssize len, gsize max, const char *what, GError **error)
{
    const gsize chunk = 64 * 1024;
    g_autoptr(xmlParserCtxt) ctxt = NULL;
    g_auto(VfsecXmlErrors) errs = { 0 };
    g_autoptr(xmlDoc) doc = NULL;
    gsize size;
    gsize first;

    g_return_val_if_fail(xml != NULL && what != NULL, NULL);
    g_return_val_if_fail(max < G_MAXSIZE, NULL);

    size = len < 0 ? strnlen(xml, max + 1) : (gsize)len;
    if (size > max) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_TOO_LARGE,
                    "%s is larger than the %" G_GSIZE_FORMAT "-byte limit", what, max);
        return NULL;
    }

    first = MIN(size, 4);  /* enough for libxml2 to detect the encoding */
    ctxt = xmlCreatePushParserCtxt(NULL, NULL, xml, (int)first, NULL);
    if (!ctxt) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_FAILED,
                    "cannot create an XML parser for %s", what);
        return NULL;
    }
    ctxt->_private = &errs;
    ctxt->sax->serror = vfsec_xml_parser_error;
    ctxt->sax->internalSubset = vfsec_xml_refuse_dtd;
    xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOWARNING);

    for (gsize off = first;;) {
        gsize n = MIN(size - off, chunk);
        gboolean last = off + n == size;

        if (xmlParseChunk(ctxt, xml + off, (int)n, last) != 0 || last)
            break;
        off += n;
    }
    doc = g_steal_pointer(&ctxt->myDoc);

    if (errs.saw_dtd) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s has a <!DOCTYPE> at line %d: DTDs and entity declarations are refused",
                    what, errs.line);
        return NULL;
    }
    if (!doc || !ctxt->wellFormed || !ctxt->nsWellFormed) {
        vfsec_xml_errors_record(&errs, xmlCtxtGetLastError(ctxt));
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s is malformed XML at line %d: %s", what, errs.line,
                    errs.message ? errs.message : "no document");
        return NULL;
    }
    return g_steal_pointer(&doc);
}

/* ------------------------------------------------------------------ */
/* Tree helpers */

gboolean
vfsec_xml_is(const xmlNode *node, const char *name)
{
    return node && node->type == XML_ELEMENT_NODE && !node->ns &&
           xmlStrEqual(node->name, (const xmlChar *)name);
}

gboolean
vfsec_xml_is_ns(const xmlNode *node, const char *ns, const char *name)
{
    return node && node->type == XML_ELEMENT_NODE && node->ns &&
           xmlStrEqual(node->ns->href, (const xmlChar *)ns) &&
           xmlStrEqual(node->name, (const xmlChar *)name);
}

xmlNode *
vfsec_xml_child(const xmlNode *parent, const char *name)
{
    for (xmlNode *c = parent ? parent->children : NULL; c; c = c->next) {
        if (vfsec_xml_is(c, name))
            return c;
    }
    return NULL;
}

char *
vfsec_xml_prop(const xmlNode *node, const char *name)
{
    xmlChar *value;
    char *ret;

    if (!node)
        return NULL;
    value = xmlGetNoNsProp(node, (const xmlChar *)name);
    if (!value)
        return NULL;
    ret = g_strdup((const char *)value);
    xmlFree(value);
    return ret;
}

void
vfsec_xml_set_prop(xmlNode *node, const char *name, const char *value)
{
    xmlNewProp(node, (const xmlChar *)name, (const xmlChar *)value);
}

char *
vfsec_xml_text(const xmlNode *node)
{
    xmlChar *value;
    char *ret;

    if (!node)
        return NULL;
    value = xmlNodeGetContent(node);
    if (!value)
        return NULL;
    ret = g_strstrip(g_strdup((const char *)value));
    xmlFree(value);
    return ret;
}

/* ------------------------------------------------------------------ */
/* RELAX NG */

char *
vfsec_xml_schema_path(const char *name)
{
    const char *env = g_getenv("VFSEC_SCHEMADIR");
    g_autofree char *installed = NULL;

    g_return_val_if_fail(name != NULL, NULL);

    if (env && *env)
        return g_build_filename(env, name, NULL);
    installed = g_build_filename(VFSEC_SCHEMADIR, name, NULL);
    if (g_file_test(installed, G_FILE_TEST_EXISTS))
        return g_steal_pointer(&installed);
    return g_build_filename(VFSEC_SOURCE_SCHEMADIR, name, NULL);
}

static xmlRelaxNG *
vfsec_xml_schema_load(const char *path, GError **error)
{
    g_autofree char *text = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlRelaxNGParserCtxt) pctxt = NULL;
    g_auto(VfsecXmlErrors) errs = { 0 };
    xmlRelaxNG *schema;
    gsize len;

    if (!vfsec_file_read_max(path, VFSEC_XML_SCHEMA_MAX, &text, &len, error))
        return NULL;
    doc = vfsec_xml_read(text, (gssize)len, VFSEC_XML_SCHEMA_MAX, path, error);
    if (!doc)
        return NULL;
    pctxt = xmlRelaxNGNewDocParserCtxt(doc);
    if (!pctxt) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_FAILED,
                    "cannot create a RELAX NG parser for %s", path);
        return NULL;
    }
    xmlRelaxNGSetParserStructuredErrors(pctxt, vfsec_xml_errors_handler, &errs);
    schema = xmlRelaxNGParse(pctxt);
    if (!schema) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s is not a RELAX NG schema: %s", path,
                    errs.message ? errs.message : "unknown error");
        return NULL;
    }
    return schema;
}

gboolean
vfsec_xml_validate_doc(xmlDoc *doc, const char *schema_path, const char *what, GError **error)
{
    g_autoptr(xmlRelaxNG) schema = NULL;
    g_autoptr(xmlRelaxNGValidCtxt) vctxt = NULL;
    g_auto(VfsecXmlErrors) errs = { 0 };
    g_autofree char *schema_name = NULL;

    g_return_val_if_fail(doc != NULL && schema_path != NULL && what != NULL, FALSE);

    schema = vfsec_xml_schema_load(schema_path, error);
    if (!schema)
        return FALSE;
    vctxt = xmlRelaxNGNewValidCtxt(schema);
    if (!vctxt) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_FAILED,
                    "cannot create a RELAX NG validator for %s", schema_path);
        return FALSE;
    }
    xmlRelaxNGSetValidStructuredErrors(vctxt, vfsec_xml_errors_handler, &errs);
    if (xmlRelaxNGValidateDoc(vctxt, doc) != 0) {
        schema_name = g_path_get_basename(schema_path);
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "%s does not match %s at line %d: %s", what, schema_name, errs.line,
                    errs.message ? errs.message : "invalid");
        return FALSE;
    }
    return TRUE;
}

/* The RELAX NG validator wants a document; a deep copy of the subtree as
 * the root of a new one keeps the namespaces declared further up. */
gboolean
vfsec_xml_validate_node(const xmlNode *node, const char *schema_path, const char *what,
                        GError **error)
{
    g_autoptr(xmlDoc) doc = NULL;
    xmlNode *copy;

    g_return_val_if_fail(node != NULL && schema_path != NULL && what != NULL, FALSE);

    doc = xmlNewDoc((const xmlChar *)"1.0");
    if (!doc || !(copy = xmlDocCopyNode((xmlNode *)node, doc, 1))) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_FAILED, "cannot copy %s", what);
        return FALSE;
    }
    xmlDocSetRootElement(doc, copy);
    return vfsec_xml_validate_doc(doc, schema_path, what, error);
}
