/* encode.c — base64, hex and URL percent-encoding into bounded buffers. */
#include <orderbridge/sdk.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

/* Bytes converted through a stack chunk, appended one chunk at a time. */
#define CHUNK 768 /* a multiple of 3 and of 2 */

static const char upper_digits[] = "0123456789ABCDEF";

/* ------------------------------------------------------------------------ */
/* base64                                                                    */

int ob_base64_encode(const void *in, size_t len, struct ob_buf *out)
{
    const unsigned char *p = in;
    unsigned char chunk[CHUNK / 3 * 4 + 1];
    int rc = 0;

    if (ob_buf_append(out, "", 0) != 0)
        return -1;
    while (len > 0 && rc == 0) {
        size_t n = len < CHUNK ? len : CHUNK;
        int w = EVP_EncodeBlock(chunk, p, (int)n); /* no line breaks, padded */

        rc = w < 0 ? -1 : ob_buf_append(out, chunk, (size_t)w);
        p += n;
        len -= n;
    }
    /* the input may have been key material */
    OPENSSL_cleanse(chunk, sizeof(chunk));
    return rc;
}

/* The 6-bit value of a base64 character, -1 for anything else ('=' too). */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Length of padding (0..2) when `in` is canonical padded base64, else -1. */
static int b64_check(const unsigned char *in, size_t len)
{
    int pad = 0;

    if (len % 4 != 0)
        return -1;
    if (len >= 1 && in[len - 1] == '=')
        pad++;
    if (pad == 1 && len >= 2 && in[len - 2] == '=')
        pad++;
    for (size_t i = 0; i < len - (size_t)pad; i++)
        if (b64_value(in[i]) < 0)
            return -1;
    return pad;
}

int ob_base64_decode(const char *in, size_t len, struct ob_buf *out)
{
    const unsigned char *p = (const unsigned char *)in;
    unsigned char chunk[CHUNK];
    size_t n = 0;
    int pad, rc = -1;

    /* checked whole before anything is appended: a bad tail leaves `out`
     * as it was instead of holding half a value */
    pad = len ? b64_check(p, len) : 0;
    if (pad < 0 || ob_buf_append(out, "", 0) != 0)
        return -1;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        int bytes = 3;

        for (size_t j = 0; j < 4; j++) {
            int d = p[i + j] == '=' ? 0 : b64_value(p[i + j]);
            v = v << 6 | (uint32_t)d;
        }
        if (i + 4 == len)
            bytes -= pad;
        chunk[n++] = (unsigned char)(v >> 16);
        if (bytes > 1)
            chunk[n++] = (unsigned char)(v >> 8);
        if (bytes > 2)
            chunk[n++] = (unsigned char)v;
        if (n > sizeof(chunk) - 3) {
            if (ob_buf_append(out, chunk, n) != 0)
                goto done;
            n = 0;
        }
    }
    rc = ob_buf_append(out, chunk, n);

done:
    /* base64 is how keys travel in configs (e.g. SM4 keys) */
    OPENSSL_cleanse(chunk, sizeof(chunk));
    return rc;
}

/* ------------------------------------------------------------------------ */
/* hex                                                                       */

static void hex(const unsigned char *in, size_t len, char *out, const char *digits)
{
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

void ob_hex_lower(const unsigned char *in, size_t len, char *out)
{
    hex(in, len, out, "0123456789abcdef");
}

void ob_hex_upper(const unsigned char *in, size_t len, char *out)
{
    hex(in, len, out, upper_digits);
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int ob_hex_decode(const char *in, size_t len, struct ob_buf *out)
{
    const unsigned char *p = (const unsigned char *)in;
    unsigned char chunk[CHUNK];
    size_t n = 0;
    int rc = -1;

    if (len % 2 != 0)
        return -1;
    for (size_t i = 0; i < len; i++)
        if (hex_value(p[i]) < 0)
            return -1;
    if (ob_buf_append(out, "", 0) != 0)
        return -1;
    for (size_t i = 0; i < len; i += 2) {
        chunk[n++] = (unsigned char)(hex_value(p[i]) << 4 | hex_value(p[i + 1]));
        if (n == sizeof(chunk)) {
            if (ob_buf_append(out, chunk, n) != 0)
                goto done;
            n = 0;
        }
    }
    rc = ob_buf_append(out, chunk, n);

done:
    /* hex is the other way keys travel */
    OPENSSL_cleanse(chunk, sizeof(chunk));
    return rc;
}

/* ------------------------------------------------------------------------ */
/* URL encoding                                                              */

/* 1 when byte c is written as itself in `flavour`. */
static int url_keep(unsigned char c, enum ob_url_flavour flavour)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_')
        return 1;
    if (flavour == OB_URL_RFC3986)
        return c == '~';
    return c == '*'; /* OB_URL_JAVA: java.net.URLEncoder's set */
}

int ob_url_encode(const char *in, size_t len, enum ob_url_flavour flavour, struct ob_buf *out)
{
    const unsigned char *p = (const unsigned char *)in;
    char chunk[256];
    size_t n = 0;

    if (flavour != OB_URL_RFC3986 && flavour != OB_URL_JAVA)
        return -1;
    if (ob_buf_append(out, "", 0) != 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (url_keep(p[i], flavour)) {
            chunk[n++] = (char)p[i];
        } else if (p[i] == ' ' && flavour == OB_URL_JAVA) {
            chunk[n++] = '+';
        } else {
            chunk[n++] = '%';
            chunk[n++] = upper_digits[p[i] >> 4];
            chunk[n++] = upper_digits[p[i] & 0x0f];
        }
        if (n > sizeof(chunk) - 3) {
            if (ob_buf_append(out, chunk, n) != 0)
                return -1;
            n = 0;
        }
    }
    return ob_buf_append(out, chunk, n);
}
