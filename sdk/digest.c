/* digest.c — digests and HMAC, all through OpenSSL 3 EVP. */
#include <orderbridge/sdk.h>

#include <openssl/evp.h>

/* The EVP name of a digest, or NULL for a value outside the enum. */
static const char *digest_name(enum ob_digest alg)
{
    switch (alg) {
    case OB_MD5:
        return "MD5";
    case OB_SHA1:
        return "SHA1";
    case OB_SHA256:
        return "SHA256";
    case OB_SM3:
        return "SM3";
    }
    return NULL;
}

size_t ob_digest_size(enum ob_digest alg)
{
    switch (alg) {
    case OB_MD5:
        return 16;
    case OB_SHA1:
        return 20;
    case OB_SHA256:
    case OB_SM3:
        return 32;
    }
    return 0;
}

int ob_digest(enum ob_digest alg, const void *data, size_t len, unsigned char *out,
              size_t *out_len)
{
    const char *name = digest_name(alg);
    size_t n = 0;

    if (!name)
        return -1;
    if (!EVP_Q_digest(NULL, name, NULL, data, len, out, &n) || n != ob_digest_size(alg))
        return -1;
    if (out_len)
        *out_len = n;
    return 0;
}

int ob_hmac(enum ob_digest alg, const void *key, size_t key_len, const void *data, size_t len,
            unsigned char *out, size_t *out_len)
{
    /* HMAC treats a NULL key as "keep the previous key", which a fresh
     * context does not have; an empty key must be a real (empty) pointer. */
    static const unsigned char empty_key[1];
    const char *name = digest_name(alg);
    size_t n = 0;

    if (!name)
        return -1;
    if (key_len == 0)
        key = empty_key;
    if (!EVP_Q_mac(NULL, "HMAC", NULL, name, NULL, key, key_len, data, len, out, OB_DIGEST_MAX,
                   &n) ||
        n != ob_digest_size(alg))
        return -1;
    if (out_len)
        *out_len = n;
    return 0;
}

int ob_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[OB_DIGEST_MAX];
    size_t md_len = 0;

    if (ob_digest(OB_SHA256, data, len, md, &md_len) != 0)
        return -1;
    ob_hex_lower(md, md_len, out);
    return 0;
}
