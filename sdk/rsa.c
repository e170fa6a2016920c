/* rsa.c — RSASSA-PKCS1-v1_5 with SHA-256 through OpenSSL 3 EVP. */
#include <orderbridge/sdk.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>

/*
 * An RSA key from PEM text, or NULL. The decoder takes PKCS#8 and PKCS#1
 * ("BEGIN RSA PRIVATE KEY") private keys, SubjectPublicKeyInfo and PKCS#1
 * ("BEGIN RSA PUBLIC KEY") public keys. No passphrase: an encrypted key is
 * refused rather than prompting on a terminal.
 */
static EVP_PKEY *load_key(const char *pem, int selection)
{
    OSSL_DECODER_CTX *dctx = NULL;
    EVP_PKEY *pkey = NULL;
    const unsigned char *p = (const unsigned char *)pem;
    size_t len;

    if (!pem)
        return NULL;
    len = strlen(pem);
    dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", NULL, "RSA", selection, NULL, NULL);
    if (!dctx)
        goto done;
    if (!OSSL_DECODER_from_data(dctx, &p, &len) || !pkey || !EVP_PKEY_is_a(pkey, "RSA")) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }

done:
    OSSL_DECODER_CTX_free(dctx);
    if (!pkey)
        ERR_clear_error(); /* the decoders tried and failed in turn: noise */
    return pkey;
}

int ob_rsa_sha256_sign(const char *private_key_pem, const void *data, size_t len,
                       struct ob_buf *signature)
{
    EVP_PKEY *pkey = NULL;
    EVP_MD_CTX *md = NULL;
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    int rc = -1;

    if (signature->failed)
        return -1;
    pkey = load_key(private_key_pem, EVP_PKEY_KEYPAIR);
    md = EVP_MD_CTX_new();
    if (!pkey || !md)
        goto done;
    /* RSA signs with PKCS#1 v1.5 padding unless told otherwise */
    if (!EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, pkey, NULL))
        goto done;
    if (!EVP_DigestSign(md, NULL, &sig_len, data, len))
        goto done;
    sig = malloc(sig_len);
    if (!sig)
        goto done;
    if (!EVP_DigestSign(md, sig, &sig_len, data, len))
        goto done;
    rc = ob_buf_append(signature, sig, sig_len);

done:
    free(sig);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey); /* frees the private key cleansed */
    return rc;
}

int ob_rsa_sha256_verify(const char *public_key_pem, const void *data, size_t len,
                         const unsigned char *signature, size_t signature_len)
{
    EVP_PKEY *pkey = NULL;
    EVP_MD_CTX *md = NULL;
    int rc = -1;

    pkey = load_key(public_key_pem, EVP_PKEY_PUBLIC_KEY);
    md = EVP_MD_CTX_new();
    if (!pkey || !md)
        goto done;
    if (!EVP_DigestVerifyInit_ex(md, NULL, "SHA256", NULL, NULL, pkey, NULL))
        goto done;
    if (!signature || signature_len == 0) {
        rc = 0;
        goto done;
    }
    /* Anything but a match is "invalid": a signature of the wrong length or
     * a garbled one is the sender's problem, not an error of ours. */
    rc = EVP_DigestVerify(md, signature, signature_len, data, len) == 1 ? 1 : 0;
    if (rc == 0)
        ERR_clear_error();

done:
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey);
    return rc;
}
