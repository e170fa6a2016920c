/* cipher.c — AES and SM4 through OpenSSL 3 EVP. */
#include <orderbridge/sdk.h>

#include <limits.h>
#include <stdlib.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/params.h>

#define BLOCK 16
#define GCM_TAG 16

enum mode { ECB, CBC, GCM };

struct cipher_info {
    const char *name; /* EVP name */
    size_t key_len;
    enum mode mode;
};

static int cipher_info(enum ob_cipher cipher, struct cipher_info *ci)
{
    static const struct cipher_info table[] = {
        [OB_AES_128_ECB] = {"AES-128-ECB", 16, ECB}, [OB_AES_256_ECB] = {"AES-256-ECB", 32, ECB},
        [OB_AES_128_CBC] = {"AES-128-CBC", 16, CBC}, [OB_AES_256_CBC] = {"AES-256-CBC", 32, CBC},
        [OB_AES_128_GCM] = {"AES-128-GCM", 16, GCM}, [OB_AES_256_GCM] = {"AES-256-GCM", 32, GCM},
        [OB_SM4_ECB] = {"SM4-ECB", 16, ECB},         [OB_SM4_CBC] = {"SM4-CBC", 16, CBC},
    };

    if ((int)cipher < 1 || (size_t)cipher >= sizeof(table) / sizeof(table[0]))
        return -1;
    *ci = table[cipher];
    return 0;
}

/*
 * One pass of `in` through the cipher, appended to `out` only when the whole
 * pass succeeded: a failed decryption (bad padding, wrong GCM tag) must not
 * leave unauthenticated plaintext in the caller's buffer. ECB ignores the iv.
 */
static int run(int enc, enum ob_cipher cipher, const unsigned char *key, size_t key_len,
               const unsigned char *iv, size_t iv_len, const void *aad, size_t aad_len,
               const unsigned char *in, size_t in_len, struct ob_buf *out)
{
    struct cipher_info ci;
    EVP_CIPHER *evp = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char *tmp = NULL;
    size_t tmp_size = 0, body_len = in_len, n = 0;
    int len = 0, rc = -1;

    if (out->failed || cipher_info(cipher, &ci) != 0 || !key || key_len != ci.key_len)
        return -1;
    if (ci.mode == CBC && (!iv || iv_len != BLOCK))
        return -1;
    if (ci.mode == GCM && (!iv || iv_len == 0 || iv_len > INT_MAX || (aad_len && !aad) ||
                           aad_len > INT_MAX))
        return -1;
    if (ci.mode == GCM && !enc) {
        if (in_len < GCM_TAG)
            return -1;
        body_len = in_len - GCM_TAG;
    }
    /* EVP counts in int; leave room for the padding block and the tag */
    if (body_len > INT_MAX - 2 * BLOCK || (in_len && !in))
        return -1;

    evp = EVP_CIPHER_fetch(NULL, ci.name, NULL);
    ctx = EVP_CIPHER_CTX_new();
    tmp_size = body_len + 2 * BLOCK;
    tmp = malloc(tmp_size);
    if (!evp || !ctx || !tmp)
        goto done;
    if (!EVP_CipherInit_ex2(ctx, evp, NULL, NULL, enc, NULL))
        goto done;
    if (ci.mode == GCM) {
        OSSL_PARAM params[2] = {OSSL_PARAM_END, OSSL_PARAM_END};
        size_t ivl = iv_len;

        params[0] = OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, &ivl);
        if (!EVP_CIPHER_CTX_set_params(ctx, params))
            goto done;
    }
    if (!EVP_CipherInit_ex2(ctx, NULL, key, ci.mode == ECB ? NULL : iv, enc, NULL))
        goto done;
    if (ci.mode == GCM && aad_len &&
        !EVP_CipherUpdate(ctx, NULL, &len, aad, (int)aad_len))
        goto done;
    if (body_len) {
        if (!EVP_CipherUpdate(ctx, tmp, &len, in, (int)body_len))
            goto done;
        n = (size_t)len;
    }
    if (ci.mode == GCM && !enc &&
        !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, GCM_TAG, (void *)(in + body_len)))
        goto done;
    if (!EVP_CipherFinal_ex(ctx, tmp + n, &len))
        goto done;
    n += (size_t)len;
    if (ci.mode == GCM && enc) {
        if (!EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, GCM_TAG, tmp + n))
            goto done;
        n += GCM_TAG;
    }
    rc = ob_buf_append(out, tmp, n);

done:
    if (tmp) {
        /* plaintext on one side or the other */
        OPENSSL_cleanse(tmp, tmp_size);
        free(tmp);
    }
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(evp);
    return rc;
}

int ob_encrypt(enum ob_cipher cipher, const unsigned char *key, size_t key_len,
               const unsigned char *iv, size_t iv_len, const void *aad, size_t aad_len,
               const void *in, size_t in_len, struct ob_buf *out)
{
    return run(1, cipher, key, key_len, iv, iv_len, aad, aad_len, in, in_len, out);
}

int ob_decrypt(enum ob_cipher cipher, const unsigned char *key, size_t key_len,
               const unsigned char *iv, size_t iv_len, const void *aad, size_t aad_len,
               const void *in, size_t in_len, struct ob_buf *out)
{
    return run(0, cipher, key, key_len, iv, iv_len, aad, aad_len, in, in_len, out);
}

int ob_random_bytes(void *out, size_t len)
{
    if (len > (size_t)INT_MAX)
        return -1;
    return RAND_bytes(out, (int)len) == 1 ? 0 : -1;
}
