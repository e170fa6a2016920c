/* xml.c — XML through libxml2: writing request bodies with its text writer,
 * and reading what others send with every dangerous feature off. */
#include <orderbridge/sdk.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <libxml/tree.h>
#include <libxml/xmlstring.h>
#include <libxml/xmlwriter.h>

#define DECLARATION "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

struct ob_xml {
    xmlBufferPtr buf;
    xmlTextWriterPtr w;
    int depth;  /* elements open */
    int failed; /* a write failed: the document is broken */
    int done;   /* finished: nothing more may be written */
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* libxml2 must be initialised once before threads use it (adapters encode
 * on the bridge's thread, but a plugin may have its own). */
static void init_libxml(void)
{
    xmlInitParser();
}

struct ob_xml *ob_xml_new(void)
{
    struct ob_xml *x = calloc(1, sizeof(*x));

    pthread_once(&init_once, init_libxml);
    if (!x)
        return NULL;
    x->buf = xmlBufferCreate();
    if (!x->buf)
        goto fail;
    x->w = xmlNewTextWriterMemory(x->buf, 0);
    if (!x->w)
        goto fail;
    return x;

fail:
    ob_xml_free(x);
    return NULL;
}

/* 1 when `text` can be character data: UTF-8 without the control
 * characters XML 1.0 forbids (even escaped), so the warehouse's parser gets
 * a well-formed document rather than a silently altered value. */
static int text_ok(const char *text)
{
    const unsigned char *p = (const unsigned char *)text;

    for (; *p; p++)
        if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
            return 0;
    return xmlCheckUTF8((const xmlChar *)text) == 1;
}

/* Writes may start only while the document is open and unbroken. */
static int writable(const struct ob_xml *x)
{
    return x && !x->failed && !x->done;
}

/* Records a libxml2 result: negative is a failure that breaks the document. */
static int check(struct ob_xml *x, int rc)
{
    if (rc < 0) {
        x->failed = 1;
        return -1;
    }
    return 0;
}

int ob_xml_start(struct ob_xml *x, const char *name)
{
    if (!writable(x) || !name || xmlValidateName((const xmlChar *)name, 0) != 0)
        return -1;
    if (check(x, xmlTextWriterStartElement(x->w, (const xmlChar *)name)) != 0)
        return -1;
    x->depth++;
    return 0;
}

int ob_xml_end(struct ob_xml *x)
{
    if (!writable(x) || x->depth == 0)
        return -1;
    if (check(x, xmlTextWriterEndElement(x->w)) != 0)
        return -1;
    x->depth--;
    return 0;
}

int ob_xml_element(struct ob_xml *x, const char *name, const char *text)
{
    /* a bad name or text is refused before anything is written, so the
     * document stays usable */
    if (!writable(x) || !name || xmlValidateName((const xmlChar *)name, 0) != 0 ||
        (text && !text_ok(text)))
        return -1;
    if (check(x, xmlTextWriterStartElement(x->w, (const xmlChar *)name)) != 0)
        return -1;
    if (!text)
        return check(x, xmlTextWriterEndElement(x->w));
    /* the writer escapes & < > " and \r; FullEnd keeps "" as <a></a> */
    if (check(x, xmlTextWriterWriteString(x->w, (const xmlChar *)text)) != 0)
        return -1;
    return check(x, xmlTextWriterFullEndElement(x->w));
}

int ob_xml_finish(struct ob_xml *x, int declaration, struct ob_buf *out)
{
    if (!writable(x))
        return -1;
    x->done = 1;
    for (; x->depth > 0; x->depth--)
        if (check(x, xmlTextWriterEndElement(x->w)) != 0)
            return -1;
    if (check(x, xmlTextWriterFlush(x->w)) != 0)
        return -1;
    /* The declaration is known only now; the writer's StartDocument would
     * have to come first, and writes exactly this line. */
    if (declaration && ob_buf_appends(out, DECLARATION) != 0)
        return -1;
    return ob_buf_append(out, xmlBufferContent(x->buf), (size_t)xmlBufferLength(x->buf));
}

void ob_xml_free(struct ob_xml *x)
{
    if (!x)
        return;
    /* the writer flushes into the buffer: free it first */
    if (x->w)
        xmlFreeTextWriter(x->w);
    if (x->buf)
        xmlBufferFree(x->buf);
    free(x);
}

/* Deeper than `max` elements? Iterative: the tree may be deep. */
static int too_deep(xmlNode *root, int max)
{
    int depth = 1;
    xmlNode *n = root;

    while (n) {
        if (n->type == XML_ELEMENT_NODE && depth > max)
            return 1;
        if (n->children && n->type == XML_ELEMENT_NODE) {
            n = n->children;
            depth++;
            continue;
        }
        while (n && !n->next && n != root) {
            n = n->parent;
            depth--;
        }
        if (!n || n == root)
            break;
        n = n->next;
    }
    return 0;
}

/* libxml2 prints some errors (a failed encoding conversion) through its
 * generic handler, to stderr, whatever the parse options: raw bytes of the
 * input, around our log. Silenced while we parse. */
static void quiet(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

struct _xmlDoc *ob_xml_read(const void *data, size_t len, char *errstr, size_t errstr_size)
{
    xmlParserCtxtPtr ctxt = NULL;
    xmlDocPtr doc = NULL;
    const char *why = NULL;
    xmlGenericErrorFunc saved_fn;
    void *saved_ctx;

    pthread_once(&init_once, init_libxml);
    if (!data || len == 0)
        why = "empty";
    else if (len > OB_XML_READ_MAX)
        why = "larger than 4 MiB";
    else if (memchr(data, '\0', len))
        why = "a NUL byte (only UTF-8 is read)";
    else if (memmem(data, len, "<!DOCTYPE", 9) || memmem(data, len, "<!ENTITY", 8))
        why = "a DTD or entity declaration is refused";
    if (why)
        goto fail;
    if (!(ctxt = xmlNewParserCtxt())) {
        why = "out of memory";
        goto fail;
    }
    /* No XML_PARSE_NOENT (entities stay unexpanded), no DTDLOAD, no
     * XINCLUDE, no HUGE (libxml2's own text and depth limits stay on). */
    saved_fn = xmlGenericError;
    saved_ctx = xmlGenericErrorContext;
    xmlSetGenericErrorFunc(NULL, quiet);
    doc = xmlCtxtReadMemory(ctxt, data, (int)len, NULL, NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlSetGenericErrorFunc(saved_ctx, saved_fn);
    if (!doc || !ctxt->wellFormed) {
        ob_strlcpyf(errstr, errstr_size, "not well-formed XML (libxml2 error %d at line %d)",
                    ctxt->lastError.code, ctxt->lastError.line);
        goto cleanup;
    }
    if (doc->intSubset || doc->extSubset) {
        why = "a DTD or entity declaration is refused";
        goto fail;
    }
    if (!xmlDocGetRootElement(doc)) {
        why = "no root element";
        goto fail;
    }
    if (too_deep(xmlDocGetRootElement(doc), OB_XML_MAX_DEPTH)) {
        why = "elements nested deeper than 64";
        goto fail;
    }
    xmlFreeParserCtxt(ctxt);
    return doc;
fail:
    ob_strlcpyf(errstr, errstr_size, "XML refused: %s", why);
cleanup:
    if (doc)
        xmlFreeDoc(doc);
    xmlFreeParserCtxt(ctxt);
    return NULL;
}
