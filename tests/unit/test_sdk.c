/*
 * test_sdk.c — libob-sdk against known answers.
 *
 * Every expected value comes from outside this code: a standard (FIPS 180,
 * RFC 1321/2104/4231/4648, NIST SP 800-38A, the GCM spec's test cases,
 * GB/T 32905 and 32907), a carrier's published example (SF Express,
 * China Post EMS, Cainiao), or another tool run once and pasted here:
 * `openssl dgst|enc|mac`, python3 (hashlib, hmac, base64, urllib.parse,
 * datetime, cryptography) and Java (java.net.URLEncoder, DateTimeFormatter).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <orderbridge/sdk.h>

#include "support.h"

/* ------------------------------------------------------------------------ */
/* Helpers: hex here is written independently of the SDK's                  */

static int nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Bytes of a hex literal into a static buffer; *len gets the count. */
static const unsigned char *unhex(const char *hex, size_t *len)
{
    static unsigned char out[4][1024];
    static int slot;
    unsigned char *o = out[slot++ % 4];
    size_t n = strlen(hex) / 2;

    assert_true(strlen(hex) % 2 == 0 && n <= sizeof(out[0]));
    for (size_t i = 0; i < n; i++)
        o[i] = (unsigned char)(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
    *len = n;
    return o;
}

static void assert_bytes_hex(const void *data, size_t len, const char *hex)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = data;
    char got[2048];

    assert_true(2 * len < sizeof(got));
    for (size_t i = 0; i < len; i++) {
        got[2 * i] = digits[p[i] >> 4];
        got[2 * i + 1] = digits[p[i] & 15];
    }
    got[2 * len] = '\0';
    assert_string_equal(got, hex);
}

static void buf_equal(const struct ob_buf *b, const char *expected)
{
    assert_false(b->failed);
    assert_non_null(b->data);
    assert_int_equal(b->len, strlen(expected));
    assert_string_equal(b->data, expected);
}

/* ------------------------------------------------------------------------ */
/* ob_buf                                                                    */

static void test_buf_max_and_sticky_failure(void **state)
{
    (void)state;
    struct ob_buf b;

    ob_buf_init(&b, 8);
    assert_int_equal(ob_buf_appends(&b, "abcd"), 0);
    assert_int_equal(ob_buf_append(&b, "efgh", 4), 0); /* exactly max */
    buf_equal(&b, "abcdefgh");
    assert_int_equal(ob_buf_append(&b, "i", 1), -1);
    assert_true(b.failed);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "abcdefgh"); /* the bytes before stay terminated */
    /* sticky: nothing appends after a failure, not even what would fit */
    ob_buf_reset(&b);
    assert_int_equal(b.max, 8);
    assert_false(b.failed);
    assert_int_equal(ob_buf_appends(&b, "123456789"), -1);
    assert_int_equal(ob_buf_appends(&b, "1"), -1);
    assert_int_equal(ob_buf_append(&b, "", 0), -1);
    assert_int_equal(ob_buf_printf(&b, "%d", 1), -1);
    assert_true(b.failed);
    size_t len = 99;
    assert_null(ob_buf_steal(&b, &len));
    assert_int_equal(len, 0);
    /* steal resets even a failed buffer, keeping max */
    assert_null(b.data);
    assert_false(b.failed);
    assert_int_equal(b.max, 8);
    ob_buf_reset(&b);
}

static void test_buf_printf(void **state)
{
    (void)state;
    struct ob_buf b;

    ob_buf_init(&b, 10);
    assert_int_equal(ob_buf_printf(&b, "%s-%d", "ab", 42), 0);
    buf_equal(&b, "ab-42");
    assert_int_equal(ob_buf_printf(&b, "%05d", 7), 0); /* 10 bytes: exactly max */
    buf_equal(&b, "ab-4200007");
    assert_int_equal(ob_buf_printf(&b, "%s", ""), 0);
    assert_int_equal(ob_buf_printf(&b, "x"), -1);
    assert_true(b.failed);
    assert_string_equal(b.data, "ab-4200007");
    ob_buf_reset(&b);

    /* a long format output against a small max fails before writing */
    ob_buf_init(&b, 5);
    assert_int_equal(ob_buf_printf(&b, "%d", 123456), -1);
    assert_true(b.data == NULL || b.len == 0);
    ob_buf_reset(&b);
}

static void test_buf_grow_steal_reset_cleanse(void **state)
{
    (void)state;
    struct ob_buf b;
    char expect[10001];
    size_t len = 0;

    ob_buf_init(&b, OB_BUF_DEFAULT_MAX);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(ob_buf_printf(&b, "%09d|", i), 0);
        snprintf(expect + 10 * i, 11, "%09d|", i);
    }
    assert_int_equal(b.len, 10000);
    assert_true(b.cap > b.len);
    assert_memory_equal(b.data, expect, 10000);
    assert_int_equal(b.data[b.len], '\0');

    char *s = ob_buf_steal(&b, &len);
    assert_non_null(s);
    assert_int_equal(len, 10000);
    assert_int_equal(strlen(s), 10000);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.max, OB_BUF_DEFAULT_MAX);
    free(s);

    /* nothing appended: steal hands out "", not NULL (NULL means failed) */
    s = ob_buf_steal(&b, &len);
    assert_non_null(s);
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);
    s = ob_buf_steal(&b, NULL);
    assert_non_null(s);
    free(s);

    /* an empty append gives an empty string, so a chain of appends of
     * nothing still yields a string */
    assert_int_equal(ob_buf_append(&b, NULL, 0), 0);
    buf_equal(&b, "");

    assert_int_equal(ob_buf_appends(&b, "secret"), 0);
    ob_buf_cleanse(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_int_equal(b.max, OB_BUF_DEFAULT_MAX);
    assert_int_equal(ob_buf_appends(&b, "again"), 0);
    buf_equal(&b, "again");
    ob_buf_reset(&b);
    ob_buf_cleanse(&b); /* on an empty buffer too */

    /* a zero maximum holds nothing but the empty string */
    ob_buf_init(&b, 0);
    assert_int_equal(ob_buf_append(&b, "", 0), 0);
    buf_equal(&b, "");
    assert_int_equal(ob_buf_append(&b, "x", 1), -1);
    ob_buf_reset(&b);
}

/* ------------------------------------------------------------------------ */
/* Digests and HMAC                                                          */

static void test_digests(void **state)
{
    (void)state;
    static const struct {
        enum ob_digest alg;
        const char *in, *hex;
    } v[] = {
        /* RFC 1321 */
        {OB_MD5, "", "d41d8cd98f00b204e9800998ecf8427e"},
        {OB_MD5, "abc", "900150983cd24fb0d6963f7d28e17f72"},
        /* FIPS 180-2 appendix A */
        {OB_SHA1, "", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
        {OB_SHA1, "abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
        {OB_SHA256, "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {OB_SHA256, "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        /* GB/T 32905-2016 appendix A.1 */
        {OB_SM3, "abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"},
        /* openssl dgst -sm3 of nothing */
        {OB_SM3, "", "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        unsigned char md[OB_DIGEST_MAX];
        size_t md_len = 0;

        assert_int_equal(ob_digest(v[i].alg, v[i].in, strlen(v[i].in), md, &md_len), 0);
        assert_int_equal(md_len, ob_digest_size(v[i].alg));
        assert_bytes_hex(md, md_len, v[i].hex);
    }
    assert_int_equal(ob_digest_size(OB_MD5), 16);
    assert_int_equal(ob_digest_size(OB_SHA1), 20);
    assert_int_equal(ob_digest_size(OB_SHA256), 32);
    assert_int_equal(ob_digest_size(OB_SM3), 32);
    assert_int_equal(ob_digest_size((enum ob_digest)0), 0);

    unsigned char md[OB_DIGEST_MAX];
    size_t md_len;
    assert_int_equal(ob_digest((enum ob_digest)0, "abc", 3, md, &md_len), -1);
    assert_int_equal(ob_digest((enum ob_digest)99, "abc", 3, md, &md_len), -1);
    assert_int_equal(ob_digest(OB_MD5, NULL, 0, md, NULL), 0);
    assert_bytes_hex(md, 16, "d41d8cd98f00b204e9800998ecf8427e");

    char hex[65];
    assert_int_equal(ob_sha256_hex("abc", 3, hex), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_hmac(void **state)
{
    (void)state;
    static const struct {
        enum ob_digest alg;
        const char *key_hex, *data, *hex;
    } v[] = {
        /* RFC 4231 test cases 1 and 2 */
        {OB_SHA256, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "Hi There",
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
        {OB_SHA256, "4a656665" /* "Jefe" */, "what do ya want for nothing?",
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
        /* RFC 2104 appendix test vectors 1 and 2 */
        {OB_MD5, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "Hi There",
         "9294727a3638bb1c13f48ef8158bfc9d"},
        {OB_MD5, "4a656665", "what do ya want for nothing?", "750c783e6ab0b503eaa86e310a5db738"},
        /* openssl mac -digest SM3 -macopt hexkey:4a656665 HMAC */
        {OB_SM3, "4a656665", "what do ya want for nothing?",
         "2e87f1d16862e6d964b50a5200bf2b10b764faa9680a296a2405f24bec39f882"},
        /* python3: hmac.new(b'', b'', hashlib.sha256) — an empty key works */
        {OB_SHA256, "", "", "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        unsigned char mac[OB_DIGEST_MAX];
        size_t key_len, mac_len = 0;
        const unsigned char *key = unhex(v[i].key_hex, &key_len);

        assert_int_equal(
            ob_hmac(v[i].alg, key, key_len, v[i].data, strlen(v[i].data), mac, &mac_len), 0);
        assert_int_equal(mac_len, ob_digest_size(v[i].alg));
        assert_bytes_hex(mac, mac_len, v[i].hex);
    }
    unsigned char mac[OB_DIGEST_MAX];
    assert_int_equal(ob_hmac((enum ob_digest)7, "k", 1, "d", 1, mac, NULL), -1);
}

/* ------------------------------------------------------------------------ */
/* Ciphers                                                                   */

/* NIST SP 800-38A F.1/F.2 plaintext: four blocks */
#define SP800_38A_PT                                                                               \
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"                             \
    "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
#define AES128_KEY "2b7e151628aed2a6abf7158809cf4f3c"
#define AES256_KEY "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"
#define SP800_38A_IV "000102030405060708090a0b0c0d0e0f"

static void check_cipher(enum ob_cipher cipher, const char *key_hex, const char *iv_hex,
                         const char *pt_hex, const char *nist_hex, const char *padded_hex)
{
    size_t key_len, iv_len = 0, pt_len;
    const unsigned char *key = unhex(key_hex, &key_len);
    const unsigned char *iv = iv_hex ? unhex(iv_hex, &iv_len) : NULL;
    const unsigned char *pt = unhex(pt_hex, &pt_len);
    struct ob_buf ct, back;

    ob_buf_init(&ct, OB_BUF_DEFAULT_MAX);
    ob_buf_init(&back, OB_BUF_DEFAULT_MAX);
    assert_int_equal(ob_encrypt(cipher, key, key_len, iv, iv_len, NULL, 0, pt, pt_len, &ct), 0);
    /* PKCS#7 adds a whole block to block-aligned input */
    assert_int_equal(ct.len, pt_len + 16);
    /* the standard's blocks come first ... */
    assert_bytes_hex(ct.data, strlen(nist_hex) / 2, nist_hex);
    /* ... and the whole padded output is what `openssl enc` writes */
    assert_bytes_hex(ct.data, ct.len, padded_hex);
    assert_int_equal(
        ob_decrypt(cipher, key, key_len, iv, iv_len, NULL, 0, ct.data, ct.len, &back), 0);
    assert_int_equal(back.len, pt_len);
    assert_memory_equal(back.data, pt, pt_len);
    ob_buf_reset(&ct);
    ob_buf_reset(&back);

    /* round trips over every length around the block size */
    for (size_t n = 0; n <= 33; n++) {
        assert_int_equal(ob_encrypt(cipher, key, key_len, iv, iv_len, NULL, 0, pt, n, &ct), 0);
        assert_int_equal(ct.len, (n / 16 + 1) * 16);
        assert_int_equal(
            ob_decrypt(cipher, key, key_len, iv, iv_len, NULL, 0, ct.data, ct.len, &back), 0);
        assert_int_equal(back.len, n);
        assert_memory_equal(back.data, pt, n);
        ob_buf_reset(&ct);
        ob_buf_reset(&back);
    }
}

static void test_aes_ecb_cbc(void **state)
{
    (void)state;
    /* NIST SP 800-38A F.1.1, F.1.5, F.2.1, F.2.5; padded: openssl enc -K -iv */
    check_cipher(OB_AES_128_ECB, AES128_KEY, NULL, SP800_38A_PT,
                 "3ad77bb40d7a3660a89ecaf32466ef97f5d3d58503b9699de785895a96fdbaaf"
                 "43b1cd7f598ece23881b00e3ed0306887b0c785e27e8ad3f8223207104725dd4",
                 "3ad77bb40d7a3660a89ecaf32466ef97f5d3d58503b9699de785895a96fdbaaf"
                 "43b1cd7f598ece23881b00e3ed0306887b0c785e27e8ad3f8223207104725dd4"
                 "a254be88e037ddd9d79fb6411c3f9df8");
    check_cipher(OB_AES_256_ECB, AES256_KEY, NULL, SP800_38A_PT,
                 "f3eed1bdb5d2a03c064b5a7e3db181f8591ccb10d410ed26dc5ba74a31362870"
                 "b6ed21b99ca6f4f9f153e7b1beafed1d23304b7a39f9f3ff067d8d8f9e24ecc7",
                 "f3eed1bdb5d2a03c064b5a7e3db181f8591ccb10d410ed26dc5ba74a31362870"
                 "b6ed21b99ca6f4f9f153e7b1beafed1d23304b7a39f9f3ff067d8d8f9e24ecc7"
                 "4c45dfb3b3b484ec35b0512dc8c1c4d6");
    check_cipher(OB_AES_128_CBC, AES128_KEY, SP800_38A_IV, SP800_38A_PT,
                 "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2"
                 "73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7",
                 "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2"
                 "73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7"
                 "8cb82807230e1321d3fae00d18cc2012");
    check_cipher(OB_AES_256_CBC, AES256_KEY, SP800_38A_IV, SP800_38A_PT,
                 "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
                 "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b",
                 "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
                 "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b"
                 "3f461796d6b0d6b2e0c2a72b4d80e644");
}

static void test_cipher_refusals(void **state)
{
    (void)state;
    size_t key_len, iv_len, n;
    const unsigned char *key = unhex(AES128_KEY, &key_len);
    const unsigned char *iv = unhex(SP800_38A_IV, &iv_len);
    const unsigned char *pt = unhex(SP800_38A_PT, &n);
    struct ob_buf out;

    ob_buf_init(&out, OB_BUF_DEFAULT_MAX);
    /* key length must match the cipher */
    assert_int_equal(ob_encrypt(OB_AES_256_ECB, key, 16, NULL, 0, NULL, 0, pt, n, &out), -1);
    assert_int_equal(ob_encrypt(OB_AES_128_ECB, key, 15, NULL, 0, NULL, 0, pt, n, &out), -1);
    assert_int_equal(ob_encrypt(OB_SM4_ECB, key, 32, NULL, 0, NULL, 0, pt, n, &out), -1);
    /* CBC needs a 16-byte iv; GCM needs one */
    assert_int_equal(ob_encrypt(OB_AES_128_CBC, key, 16, NULL, 0, NULL, 0, pt, n, &out), -1);
    assert_int_equal(ob_encrypt(OB_AES_128_CBC, key, 16, iv, 12, NULL, 0, pt, n, &out), -1);
    assert_int_equal(ob_encrypt(OB_AES_128_GCM, key, 16, NULL, 0, NULL, 0, pt, n, &out), -1);
    assert_int_equal(ob_encrypt((enum ob_cipher)0, key, 16, NULL, 0, NULL, 0, pt, n, &out), -1);
    assert_int_equal(ob_encrypt((enum ob_cipher)42, key, 16, NULL, 0, NULL, 0, pt, n, &out), -1);
    assert_null(out.data);
    assert_false(out.failed);

    /* not a whole number of blocks, and bad padding (wrong key) */
    assert_int_equal(ob_decrypt(OB_AES_128_ECB, key, 16, NULL, 0, NULL, 0, pt, 15, &out), -1);
    assert_int_equal(ob_encrypt(OB_AES_128_CBC, key, 16, iv, 16, NULL, 0, pt, n, &out), 0);
    struct ob_buf back;
    ob_buf_init(&back, OB_BUF_DEFAULT_MAX);
    assert_int_equal(ob_buf_appends(&back, "kept"), 0);
    size_t k2_len;
    const unsigned char *k2 = unhex("000102030405060708090a0b0c0d0e0f", &k2_len);
    assert_int_equal(
        ob_decrypt(OB_AES_128_CBC, k2, k2_len, iv, 16, NULL, 0, out.data, out.len, &back), -1);
    buf_equal(&back, "kept"); /* nothing of the failed decryption is left */
    ob_buf_reset(&back);

    /* the output buffer's max applies */
    ob_buf_init(&back, 16);
    assert_int_equal(ob_encrypt(OB_AES_128_ECB, key, 16, NULL, 0, NULL, 0, pt, 16, &back), -1);
    assert_true(back.failed);
    ob_buf_reset(&back);
    ob_buf_reset(&out);
}

#define GCM16_KEY "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"
#define GCM_IV "cafebabefacedbaddecaf888"
#define GCM_PT                                                                                     \
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"                             \
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
#define GCM_AAD "feedfacedeadbeeffeedfacedeadbeefabaddad2"

static void test_aes_gcm(void **state)
{
    (void)state;
    /* McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 16
     * (AES-256), 4 (AES-128) and 6 (AES-128, a 60-byte iv): 60-byte
     * plaintext with 20 bytes of aad. */
    static const struct {
        enum ob_cipher cipher;
        const char *key, *iv, *ct_tag;
    } v[] = {
        {OB_AES_256_GCM, GCM16_KEY, GCM_IV,
         "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
         "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
         "76fc6ece0f4e1768cddf8853bb2d551b"},
        {OB_AES_128_GCM, "feffe9928665731c6d6a8f9467308308", GCM_IV,
         "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
         "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
         "5bc94fbc3221a5db94fae95ae7121a47"},
        {OB_AES_128_GCM, "feffe9928665731c6d6a8f9467308308",
         "9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728"
         "c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b",
         "8ce24998625615b603a033aca13fb894be9112a5c3a211a8ba262a3cca7e2ca7"
         "01e4a9a4fba43c90ccdcb281d48c7c6fd62875d2aca417034c34aee5"
         "619cc5aefffe0bfa462af43c1699d050"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        size_t key_len, iv_len, pt_len, aad_len;
        const unsigned char *key = unhex(v[i].key, &key_len);
        const unsigned char *iv = unhex(v[i].iv, &iv_len);
        const unsigned char *pt = unhex(GCM_PT, &pt_len);
        unsigned char aad[20];
        struct ob_buf ct, back;

        memcpy(aad, unhex(GCM_AAD, &aad_len), sizeof(aad));
        ob_buf_init(&ct, OB_BUF_DEFAULT_MAX);
        ob_buf_init(&back, OB_BUF_DEFAULT_MAX);
        assert_int_equal(ob_encrypt(v[i].cipher, key, key_len, iv, iv_len, aad, aad_len, pt,
                                    pt_len, &ct),
                         0);
        assert_int_equal(ct.len, pt_len + 16); /* tag appended */
        assert_bytes_hex(ct.data, ct.len, v[i].ct_tag);
        assert_int_equal(ob_decrypt(v[i].cipher, key, key_len, iv, iv_len, aad, aad_len,
                                    ct.data, ct.len, &back),
                         0);
        assert_int_equal(back.len, pt_len);
        assert_memory_equal(back.data, pt, pt_len);
        ob_buf_reset(&back);

        /* a wrong tag, a changed ciphertext or other aad fail, leaving
         * nothing behind */
        ct.data[ct.len - 1] ^= 1;
        assert_int_equal(ob_decrypt(v[i].cipher, key, key_len, iv, iv_len, aad, aad_len,
                                    ct.data, ct.len, &back),
                         -1);
        assert_true(back.data == NULL || back.len == 0);
        ct.data[ct.len - 1] ^= 1;
        ct.data[0] ^= 0x80;
        assert_int_equal(ob_decrypt(v[i].cipher, key, key_len, iv, iv_len, aad, aad_len,
                                    ct.data, ct.len, &back),
                         -1);
        ct.data[0] ^= 0x80;
        assert_int_equal(ob_decrypt(v[i].cipher, key, key_len, iv, iv_len, aad, aad_len - 1,
                                    ct.data, ct.len, &back),
                         -1);
        /* shorter than a tag */
        assert_int_equal(ob_decrypt(v[i].cipher, key, key_len, iv, iv_len, NULL, 0, ct.data, 15,
                                    &back),
                         -1);
        assert_true(back.data == NULL || back.len == 0);
        ob_buf_reset(&ct);
        ob_buf_reset(&back);
    }

    /* no plaintext, no aad: just the tag (GCM spec test case 13) */
    size_t key_len, iv_len;
    const unsigned char *key =
        unhex("0000000000000000000000000000000000000000000000000000000000000000", &key_len);
    const unsigned char *iv = unhex("000000000000000000000000", &iv_len);
    struct ob_buf ct;
    ob_buf_init(&ct, OB_BUF_DEFAULT_MAX);
    assert_int_equal(ob_encrypt(OB_AES_256_GCM, key, key_len, iv, iv_len, NULL, 0, NULL, 0, &ct),
                     0);
    assert_bytes_hex(ct.data, ct.len, "530f8afbc74536b9a963b4f1c4cb738b");
    ob_buf_reset(&ct);
}

static void test_sm4(void **state)
{
    (void)state;
    /* GB/T 32907-2016 appendix A.1: one block; the padding block after it
     * is `openssl enc -sm4-ecb`'s */
    check_cipher(OB_SM4_ECB, "0123456789abcdeffedcba9876543210", NULL,
                 "0123456789abcdeffedcba9876543210", "681edf34d206965e86b3e94f536e4246",
                 "681edf34d206965e86b3e94f536e4246002a8a4efa863ccad024ac0300bb40d2");
    /* SM4-CBC: `openssl enc -sm4-cbc` and python cryptography agree */
    check_cipher(OB_SM4_CBC, "0123456789abcdeffedcba9876543210", SP800_38A_IV, SP800_38A_PT,
                 "784626c834ab18614677eb2074f2c557",
                 "784626c834ab18614677eb2074f2c5575146022d81cd18fef9bc1a1fd3a64d61"
                 "102a1897c5f04a7b15e433733daf080f51284344ea0da9383f85b20ee99c3a94"
                 "34c6cda8b3bc0121c06e5e3e630aa50c");
}

/* China Post EMS: "|$4|" + Base64(SM4-ECB-PKCS7(key = Base64Decode(signKey),
 * json + signKey)), with the carrier's published examples. */
static void ems_sign(const char *sign_key, const char *json, const char *expected)
{
    struct ob_buf key, plain, ct, out, back;

    ob_buf_init(&key, 64);
    ob_buf_init(&plain, OB_BUF_DEFAULT_MAX);
    ob_buf_init(&ct, OB_BUF_DEFAULT_MAX);
    ob_buf_init(&out, OB_BUF_DEFAULT_MAX);
    ob_buf_init(&back, OB_BUF_DEFAULT_MAX);
    assert_int_equal(ob_base64_decode(sign_key, strlen(sign_key), &key), 0);
    assert_int_equal(key.len, 16);
    assert_int_equal(ob_buf_printf(&plain, "%s%s", json, sign_key), 0);
    assert_int_equal(ob_encrypt(OB_SM4_ECB, (const unsigned char *)key.data, key.len, NULL, 0,
                                NULL, 0, plain.data, plain.len, &ct),
                     0);
    assert_int_equal(ob_buf_appends(&out, "|$4|"), 0);
    assert_int_equal(ob_base64_encode(ct.data, ct.len, &out), 0);
    buf_equal(&out, expected);
    assert_int_equal(ob_decrypt(OB_SM4_ECB, (const unsigned char *)key.data, key.len, NULL, 0,
                                NULL, 0, ct.data, ct.len, &back),
                     0);
    buf_equal(&back, plain.data);
    ob_buf_cleanse(&key);
    ob_buf_reset(&plain);
    ob_buf_reset(&ct);
    ob_buf_reset(&out);
    ob_buf_reset(&back);
}

static void test_ems_signature(void **state)
{
    (void)state;
    ems_sign("TvaBgrhE46sft3nZlfe7xw==",
             "{\"language\":\"zh-CN\",\"orderId\":\"QIAO-20200618-004\"}",
             "|$4|efB6PnjDpgHG4xfrvYlXonyBuMJoGTynkfasopHvbl2u3nmNeP+rznA3DyRwb/2GeZL7I3rL6HKD5+"
             "Tv3Uy6x8jIDISbYG8Bg14caH2flYE=");
    ems_sign("WjNoNmhXWE12SFZJdk0zWQ==", "[{\"wholeAddress\":\"ABC123\"}]",
             "|$4|slRLUixzb1DplJxnGKMG5tcXh0zH5Ry1qZAIemYxDc7VfSxow31WUmgLbzbJt996Ud/"
             "vpaVOMcwyqsLvQRXPaA==");
}

/* ------------------------------------------------------------------------ */
/* RSA                                                                       */

/* Made with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`,
 * converted with `openssl rsa -traditional` (PKCS#1) and -RSAPublicKey_out. */
static const char rsa_private_pkcs1[] =
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEA3ike0rzaXiNv9DncF4EQUHKRSKC1irvroF/nw5AfmhKuA/fr\n"
    "Ci9ZsLDFWci/6/HIocNqOS0vXzYou9wM7onFLb1r4+AH2MUH80BKs5JRHhzwXE/i\n"
    "Z+3pfvMeROBaIh/ZEDOYUqFQPhvyVYvVnTaCphzqqUyFW6oW01fWKmnqM0srPwqH\n"
    "CLtvWW5gmyDCfjb2RXzltpxUr0WNXd1e0xXRRC4FLCGJKv+yg+ZbyBQzYCJXTDSm\n"
    "sZRT/5e/hJ/8X0o7b4qO3ntAq6SxSvmKQIJt2H6zjxeRC47twAVTVXbHePFXGZ9A\n"
    "yTdu7aoYxtILFbE6HpNc/lSciRyHDIYuVuODCwIDAQABAoIBAGcS0AS5b11G9s3q\n"
    "vGVBUdbpWOPIAIK2Lpvxcz/mUeszqH4Z2/iVQHk8gsvl2rm3K711w4Z0oup7X8nN\n"
    "TkisLgpLPM/0pN9bhxVCqoYHKFCe35wMykAq/28RkGUnbFoxyY19SrpnsqmmYLh1\n"
    "EO6ImHRGrU9QO/1r/Hwg4DI8gtc5trrsgWFBKAjskX4Uv1s3ar7qmFfzaB0UcA0S\n"
    "X8z7LRE7MHT90a5LXWG1jWpwKzLhxgXqrJDClUSn4vV9zrK+WCYl8euNlkhREpXc\n"
    "G7AKoRyFMzXIu+esmX36+WoGdBSbh/H84Iv6GeI5x/0rtZqRsehGPo/KvRNXZwPm\n"
    "NnyO/MECgYEA/oapdzo0hkHm8ciwlAyyB8q7fpWwytNmlU67fkr4wwH7qk80YZ8X\n"
    "LKH0zbW/ZEM/3NccnlFUpt48BNNj+TJeyI7rdBkodCY8H8A/KOFYXuY/CBXlW68v\n"
    "OaHtjR8H1sp6+34zLur2ez/j4EBhZOsPYPCXz8hKnCCDWgk36tcY/ssCgYEA33J5\n"
    "8CXuYGEhF+eUxaL9DbZOYp+4Z1TltR4YDp2d0Kwq7GE8oGZUHYZ8XLSVCuXDmf6L\n"
    "gL8fwSQPQZhT+eje6dMe1R03VjGMuuOxUiLGR9Eryj7019cuZROyBA96hRuybcNZ\n"
    "BVzT1/9tUfKO864kg+5ExnUeJ3kmmXRdriboxMECgYEA7FS1PdN5ub+vZIloC8/N\n"
    "7pY7icoMIggwlCpKxXVvjgJlXzmz9YD2z6aB3BAJ6lrXDYNfO1FhPJ/VMtXlWhl/\n"
    "ENJDpcVGXrKx2Pl0q8yxdUxs8mECWiNLwkOsgwBxEutnTeVcORBKVR55xFuDE2V/\n"
    "Hg/HplLflCBMVmmA1jlrKAkCgYAj0Qy8ssfQCSGt3EAbofGgJg3QfzumzJP5gTZn\n"
    "+VnXnhFPTJLUPzLSfMEodwXA9m1xHL0tyPUFF4uefxVO5MX+gwnZLVK2bUDaoC7H\n"
    "NK3Fy0CSrZ6/jk1whESvo++GsJbcQ0jctDF82QOj9BZ39v0BbMr3aMSJnUDTrjRp\n"
    "+vCqwQKBgGAaZhIoqg9N4Wn0yneSyJgYosaKoeEyK0JFr3880oSXHqEy8KwpUplk\n"
    "Hm2ZnwWkTVUKi+sf3LQfPsnTljnG5XganHzROh+3vJ+4hP3Ppd6dxGQfkSgIezy0\n"
    "w9OSLyoDATnU801/7Pv2BjRWJS6C1a6rXTDFEIs1tSxwVFSWW4TV\n"
    "-----END RSA PRIVATE KEY-----\n";

static const char rsa_public_spki[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA3ike0rzaXiNv9DncF4EQ\n"
    "UHKRSKC1irvroF/nw5AfmhKuA/frCi9ZsLDFWci/6/HIocNqOS0vXzYou9wM7onF\n"
    "Lb1r4+AH2MUH80BKs5JRHhzwXE/iZ+3pfvMeROBaIh/ZEDOYUqFQPhvyVYvVnTaC\n"
    "phzqqUyFW6oW01fWKmnqM0srPwqHCLtvWW5gmyDCfjb2RXzltpxUr0WNXd1e0xXR\n"
    "RC4FLCGJKv+yg+ZbyBQzYCJXTDSmsZRT/5e/hJ/8X0o7b4qO3ntAq6SxSvmKQIJt\n"
    "2H6zjxeRC47twAVTVXbHePFXGZ9AyTdu7aoYxtILFbE6HpNc/lSciRyHDIYuVuOD\n"
    "CwIDAQAB\n"
    "-----END PUBLIC KEY-----\n";

static const char rsa_public_pkcs1[] =
    "-----BEGIN RSA PUBLIC KEY-----\n"
    "MIIBCgKCAQEA3ike0rzaXiNv9DncF4EQUHKRSKC1irvroF/nw5AfmhKuA/frCi9Z\n"
    "sLDFWci/6/HIocNqOS0vXzYou9wM7onFLb1r4+AH2MUH80BKs5JRHhzwXE/iZ+3p\n"
    "fvMeROBaIh/ZEDOYUqFQPhvyVYvVnTaCphzqqUyFW6oW01fWKmnqM0srPwqHCLtv\n"
    "WW5gmyDCfjb2RXzltpxUr0WNXd1e0xXRRC4FLCGJKv+yg+ZbyBQzYCJXTDSmsZRT\n"
    "/5e/hJ/8X0o7b4qO3ntAq6SxSvmKQIJt2H6zjxeRC47twAVTVXbHePFXGZ9AyTdu\n"
    "7aoYxtILFbE6HpNc/lSciRyHDIYuVuODCwIDAQAB\n"
    "-----END RSA PUBLIC KEY-----\n";

static const char rsa_message[] = "orderbridge rsa vector: SO20231111000123";

/* openssl dgst -sha256 -sign <the key above> | base64 -w0 */
static const char rsa_openssl_signature[] =
    "QFzPDRlKj9/TIMpqqDXnl55eIwTqCzW0IbfigUnLp05lS9h1AIc99v30VOsoqc4lUL+UVYl6g8blbUou4HW4X318wdQe"
    "YLrXvI4HJjHsekDKNk3Bl5z9/J3Wq69+fkgzeqdJdP9DJhiOCD3kAHikDOn1TWUkc7jtMbxjRYNz+AQTjHHKGB227mxV"
    "jOSeLZEez7s5nGgO8tvuMbuTKKpk9OFpupDaPMzbl+YIZV0e61Aonilf9Iv4jM/IpSzysF6F1KgsHjwLb3g9XMEXsMle"
    "xmgFgKJBpa6vftpA6fG7aIBF4QHOeSQNjB3uDj/bxA8RrOVRO9LVktZrh+DyxLlJKQ==";

static void test_rsa_known_signature(void **state)
{
    (void)state;
    struct ob_buf sig, mine, b64;
    size_t mlen = strlen(rsa_message);

    ob_buf_init(&sig, 4096);
    ob_buf_init(&mine, 4096);
    ob_buf_init(&b64, 4096);
    assert_int_equal(
        ob_base64_decode(rsa_openssl_signature, strlen(rsa_openssl_signature), &sig), 0);
    assert_int_equal(sig.len, 256);
    assert_int_equal(ob_rsa_sha256_verify(rsa_public_spki, rsa_message, mlen,
                                          (unsigned char *)sig.data, sig.len),
                     1);
    assert_int_equal(ob_rsa_sha256_verify(rsa_public_pkcs1, rsa_message, mlen,
                                          (unsigned char *)sig.data, sig.len),
                     1);
    /* PKCS#1 v1.5 is deterministic: our signature is openssl's */
    assert_int_equal(ob_rsa_sha256_sign(rsa_private_pkcs1, rsa_message, mlen, &mine), 0);
    assert_int_equal(ob_base64_encode(mine.data, mine.len, &b64), 0);
    buf_equal(&b64, rsa_openssl_signature);

    /* tampered data, tampered signature, truncated or empty signature */
    assert_int_equal(ob_rsa_sha256_verify(rsa_public_spki, rsa_message, mlen - 1,
                                          (unsigned char *)sig.data, sig.len),
                     0);
    sig.data[100] ^= 0x01;
    assert_int_equal(ob_rsa_sha256_verify(rsa_public_spki, rsa_message, mlen,
                                          (unsigned char *)sig.data, sig.len),
                     0);
    sig.data[100] ^= 0x01;
    assert_int_equal(ob_rsa_sha256_verify(rsa_public_spki, rsa_message, mlen,
                                          (unsigned char *)sig.data, sig.len - 1),
                     0);
    assert_int_equal(ob_rsa_sha256_verify(rsa_public_spki, rsa_message, mlen, NULL, 0), 0);

    /* unreadable keys */
    assert_int_equal(ob_rsa_sha256_verify("garbage", rsa_message, mlen,
                                          (unsigned char *)sig.data, sig.len),
                     -1);
    assert_int_equal(ob_rsa_sha256_verify(NULL, rsa_message, mlen, (unsigned char *)sig.data,
                                          sig.len),
                     -1);
    ob_buf_reset(&mine);
    assert_int_equal(ob_rsa_sha256_sign("-----BEGIN PRIVATE KEY-----\nAAAA\n"
                                        "-----END PRIVATE KEY-----\n",
                                        rsa_message, mlen, &mine),
                     -1);
    /* a public key cannot sign */
    assert_int_equal(ob_rsa_sha256_sign(rsa_public_spki, rsa_message, mlen, &mine), -1);
    assert_null(mine.data);
    ob_buf_reset(&sig);
    ob_buf_reset(&mine);
    ob_buf_reset(&b64);
}

/* PEM text of a fresh key: PKCS#8 private or SubjectPublicKeyInfo public. */
static char *pem_of(EVP_PKEY *pkey, int private)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *copy;
    long len;

    assert_non_null(bio);
    if (private)
        assert_int_equal(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL), 1);
    else
        assert_int_equal(PEM_write_bio_PUBKEY(bio, pkey), 1);
    len = BIO_get_mem_data(bio, &data);
    assert_true(len > 0);
    copy = calloc(1, (size_t)len + 1);
    assert_non_null(copy);
    memcpy(copy, data, (size_t)len);
    BIO_free(bio);
    return copy;
}

static void test_rsa_fresh_key(void **state)
{
    (void)state;
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    char *priv, *pub;
    struct ob_buf sig;
    static const char data[] = "{\"order_id\":\"SO1\"}";

    assert_non_null(pkey);
    priv = pem_of(pkey, 1);
    pub = pem_of(pkey, 0);
    assert_non_null(strstr(priv, "BEGIN PRIVATE KEY"));
    ob_buf_init(&sig, 4096);
    assert_int_equal(ob_rsa_sha256_sign(priv, data, strlen(data), &sig), 0);
    assert_int_equal(sig.len, 256);
    assert_int_equal(
        ob_rsa_sha256_verify(pub, data, strlen(data), (unsigned char *)sig.data, sig.len), 1);
    assert_int_equal(
        ob_rsa_sha256_verify(pub, "{\"order_id\":\"SO2\"}", strlen(data),
                             (unsigned char *)sig.data, sig.len),
        0);
    /* another key's signature does not verify */
    assert_int_equal(ob_rsa_sha256_verify(rsa_public_spki, data, strlen(data),
                                          (unsigned char *)sig.data, sig.len),
                     0);
    /* the signature's buffer max applies */
    struct ob_buf small;
    ob_buf_init(&small, 255);
    assert_int_equal(ob_rsa_sha256_sign(priv, data, strlen(data), &small), -1);
    ob_buf_reset(&small);
    ob_buf_reset(&sig);
    free(priv);
    free(pub);
    EVP_PKEY_free(pkey);
}

/* ------------------------------------------------------------------------ */
/* Encodings                                                                 */

static void test_base64_rfc4648(void **state)
{
    (void)state;
    static const char *const v[][2] = {
        {"", ""},         {"f", "Zg=="},        {"fo", "Zm8="},         {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct ob_buf b;

        ob_buf_init(&b, 64);
        assert_int_equal(ob_base64_encode(v[i][0], strlen(v[i][0]), &b), 0);
        buf_equal(&b, v[i][1]);
        ob_buf_reset(&b);
        assert_int_equal(ob_base64_decode(v[i][1], strlen(v[i][1]), &b), 0);
        buf_equal(&b, v[i][0]);
        ob_buf_reset(&b);
    }

    /* all 256 byte values, over the encoder's internal chunk size */
    unsigned char all[3000];
    for (size_t i = 0; i < sizeof(all); i++)
        all[i] = (unsigned char)(i * 7);
    struct ob_buf enc, dec;
    ob_buf_init(&enc, OB_BUF_DEFAULT_MAX);
    ob_buf_init(&dec, OB_BUF_DEFAULT_MAX);
    assert_int_equal(ob_base64_encode(all, sizeof(all), &enc), 0);
    assert_int_equal(enc.len, 4000);
    assert_null(strchr(enc.data, '\n'));
    assert_int_equal(ob_base64_decode(enc.data, enc.len, &dec), 0);
    assert_int_equal(dec.len, sizeof(all));
    assert_memory_equal(dec.data, all, sizeof(all));
    ob_buf_reset(&enc);
    ob_buf_reset(&dec);

    /* python3: base64.b64encode(bytes([0xfb, 0xff, 0xbf])) — both 62 and 63 */
    ob_buf_init(&enc, 64);
    assert_int_equal(ob_base64_encode("\xfb\xff\xbf", 3, &enc), 0);
    buf_equal(&enc, "+/+/");
    ob_buf_reset(&enc);
}

static void test_base64_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "Zg=",      /* not a multiple of 4 */
        "Zg",       "Z",       "Zm9vY",
        "Zg==\n",   /* whitespace is refused */
        " Zm9v",    "Zm9v\r\n", "Zm 9v",
        "Zm9v=",    "Z===",    "====",    "Zm=v",     "Z=g=",
        "Zm9v====", /* padding in the middle */
        "Zg==Zm9v", "Zm-_",    /* the URL-safe alphabet is another encoding */
        "Zm9\x80",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct ob_buf b;

        ob_buf_init(&b, 64);
        assert_int_equal(ob_buf_appends(&b, "kept"), 0);
        if (ob_base64_decode(bad[i], strlen(bad[i]), &b) != -1)
            fail_msg("\"%s\" decoded", bad[i]);
        buf_equal(&b, "kept");
        ob_buf_reset(&b);
    }
    /* an embedded NUL is not base64 either */
    struct ob_buf b;
    ob_buf_init(&b, 64);
    assert_int_equal(ob_base64_decode("Zm\0v", 4, &b), -1);
    /* the max applies: "foobar" is 6 bytes */
    ob_buf_reset(&b);
    ob_buf_init(&b, 5);
    assert_int_equal(ob_base64_decode("Zm9vYmFy", 8, &b), -1);
    assert_true(b.failed);
    ob_buf_reset(&b);
}

static void test_hex(void **state)
{
    (void)state;
    static const unsigned char bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0xff};
    char out[2 * sizeof(bytes) + 1];
    struct ob_buf b;

    ob_hex_lower(bytes, sizeof(bytes), out);
    assert_string_equal(out, "00017f80abcdefff");
    ob_hex_upper(bytes, sizeof(bytes), out);
    assert_string_equal(out, "00017F80ABCDEFFF");
    ob_hex_upper(bytes, 0, out);
    assert_string_equal(out, "");

    ob_buf_init(&b, 64);
    assert_int_equal(ob_hex_decode("00017f80ABcdEFff", 16, &b), 0);
    assert_int_equal(b.len, sizeof(bytes));
    assert_memory_equal(b.data, bytes, sizeof(bytes));
    ob_buf_reset(&b);
    assert_int_equal(ob_hex_decode("", 0, &b), 0);
    buf_equal(&b, "");
    ob_buf_reset(&b);

    static const char *const bad[] = {"0", "abc", "0g", "zz", " 00", "00 ", "0x00", "-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ob_buf_appends(&b, "kept"), 0);
        if (ob_hex_decode(bad[i], strlen(bad[i]), &b) != -1)
            fail_msg("\"%s\" decoded", bad[i]);
        buf_equal(&b, "kept");
        ob_buf_reset(&b);
    }

    /* longer than the decoder's chunk */
    char big[4001];
    for (size_t i = 0; i < 2000; i++)
        memcpy(big + 2 * i, "a5", 2);
    big[4000] = '\0';
    ob_buf_init(&b, OB_BUF_DEFAULT_MAX);
    assert_int_equal(ob_hex_decode(big, 4000, &b), 0);
    assert_int_equal(b.len, 2000);
    for (size_t i = 0; i < 2000; i++)
        assert_int_equal((unsigned char)b.data[i], 0xa5);
    ob_buf_reset(&b);
}

static void url_equal(const char *in, size_t len, enum ob_url_flavour f, const char *expected)
{
    struct ob_buf b;

    ob_buf_init(&b, OB_BUF_DEFAULT_MAX);
    assert_int_equal(ob_url_encode(in, len, f, &b), 0);
    buf_equal(&b, expected);
    ob_buf_reset(&b);
}

static void test_url_encode(void **state)
{
    (void)state;
    static const char mixed[] = "a b*~'!()\xe4\xb8\xad"; /* "中" */

    /* java: URLEncoder.encode("a b*~'!()中", "UTF-8") */
    url_equal(mixed, strlen(mixed), OB_URL_JAVA, "a+b*%7E%27%21%28%29%E4%B8%AD");
    /* python3: urllib.parse.quote("a b*~'!()中", safe='-._~') */
    url_equal(mixed, strlen(mixed), OB_URL_RFC3986, "a%20b%2A~%27%21%28%29%E4%B8%AD");

    /* every ASCII byte, NUL included, both ways */
    char ascii[128];
    for (int i = 0; i < 128; i++)
        ascii[i] = (char)i;
    /* java: URLEncoder.encode(<chars 0..127>, "UTF-8") */
    url_equal(ascii, sizeof(ascii), OB_URL_JAVA,
              "%00%01%02%03%04%05%06%07%08%09%0A%0B%0C%0D%0E%0F%10%11%12%13%14%15%16%17%18%19%"
              "1A%1B%1C%1D%1E%1F+%21%22%23%24%25%26%27%28%29*%2B%2C-.%2F0123456789%3A%3B%3C%3D%"
              "3E%3F%40ABCDEFGHIJKLMNOPQRSTUVWXYZ%5B%5C%5D%5E_%60abcdefghijklmnopqrstuvwxyz%7B%"
              "7C%7D%7E%7F");
    /* python3: urllib.parse.quote(<chars 0..127>, safe='-._~') */
    url_equal(ascii, sizeof(ascii), OB_URL_RFC3986,
              "%00%01%02%03%04%05%06%07%08%09%0A%0B%0C%0D%0E%0F%10%11%12%13%14%15%16%17%18%19%"
              "1A%1B%1C%1D%1E%1F%20%21%22%23%24%25%26%27%28%29%2A%2B%2C-.%2F0123456789%3A%3B%"
              "3C%3D%3E%3F%40ABCDEFGHIJKLMNOPQRSTUVWXYZ%5B%5C%5D%5E_%60abcdefghijklmnopqrstuvwxy"
              "z%7B%7C%7D~%7F");
    url_equal("", 0, OB_URL_JAVA, "");

    /* long input through the encoder's chunks */
    char big[3000];
    memset(big, '/', sizeof(big));
    struct ob_buf b;
    ob_buf_init(&b, OB_BUF_DEFAULT_MAX);
    assert_int_equal(ob_url_encode(big, sizeof(big), OB_URL_RFC3986, &b), 0);
    assert_int_equal(b.len, 9000);
    for (size_t i = 0; i < 9000; i += 3)
        assert_memory_equal(b.data + i, "%2F", 3);
    ob_buf_reset(&b);

    assert_int_equal(ob_url_encode("a", 1, (enum ob_url_flavour)0, &b), -1);
    ob_buf_init(&b, 2);
    assert_int_equal(ob_url_encode(" ", 1, OB_URL_RFC3986, &b), -1); /* "%20" > 2 */
    assert_true(b.failed);
    ob_buf_reset(&b);
}

/* SF Express: msgDigest = Base64(MD5(URLEncoder.encode(msgData + timestamp +
 * checkWord, "UTF-8"))), with SF's published example. */
static void test_sf_express_digest(void **state)
{
    (void)state;
    static const char msg_data[] = "{\"language\":\"zh-CN\",\"orderId\":\"QIAO-20200618-004\"}";
    static const char timestamp[] = "12312334453453";
    static const char check_word[] = "fjcg5PGKaNpPSHFAZ4QsCOkV71R3zVci";
    struct ob_buf raw, enc, out;
    unsigned char md[OB_DIGEST_MAX];
    size_t md_len;

    ob_buf_init(&raw, OB_BUF_DEFAULT_MAX);
    ob_buf_init(&enc, OB_BUF_DEFAULT_MAX);
    ob_buf_init(&out, OB_BUF_DEFAULT_MAX);
    assert_int_equal(ob_buf_printf(&raw, "%s%s%s", msg_data, timestamp, check_word), 0);
    assert_int_equal(ob_url_encode(raw.data, raw.len, OB_URL_JAVA, &enc), 0);
    assert_int_equal(ob_digest(OB_MD5, enc.data, enc.len, md, &md_len), 0);
    assert_int_equal(ob_base64_encode(md, md_len, &out), 0);
    buf_equal(&out, "IIKJtuLVzoFTu4kHI8M8vA==");

    /* the URL-encoding step matters: without it, another digest */
    ob_buf_reset(&out);
    assert_int_equal(ob_digest(OB_MD5, raw.data, raw.len, md, &md_len), 0);
    assert_int_equal(ob_base64_encode(md, md_len, &out), 0);
    buf_equal(&out, "OwYXm3XG9fjHK7A+/t7Ckw==");
    ob_buf_reset(&raw);
    ob_buf_reset(&enc);
    ob_buf_reset(&out);
}

/* Cainiao: data_digest = Base64(MD5(content + appSecret)), sent in a form
 * body where its '+', '/' and '=' must be escaped. */
static void test_cainiao_digest_and_form(void **state)
{
    (void)state;
    unsigned char md[OB_DIGEST_MAX];
    size_t md_len;
    struct ob_buf b;
    struct ob_params p = {0};

    ob_buf_init(&b, OB_BUF_DEFAULT_MAX);
    assert_int_equal(ob_digest(OB_MD5, "hello1234key123", 15, md, &md_len), 0);
    assert_int_equal(ob_base64_encode(md, md_len, &b), 0);
    buf_equal(&b, "ufYU7rvXhHY3IDyZgyt6SA==");
    ob_buf_reset(&b);

    /* a digest with all three characters (the SF one above) */
    assert_int_equal(ob_params_add(&p, "data_digest", "OwYXm3XG9fjHK7A+/t7Ckw=="), 0);
    assert_int_equal(ob_params_add(&p, "msg_type", "TMS_CREATE_ORDER"), 0);
    /* java URLEncoder and python urllib.parse.urlencode(quote_via=quote)
     * write the same here */
    assert_int_equal(ob_params_form(&p, OB_URL_JAVA, &b), 0);
    buf_equal(&b, "data_digest=OwYXm3XG9fjHK7A%2B%2Ft7Ckw%3D%3D&msg_type=TMS_CREATE_ORDER");
    ob_buf_reset(&b);
    assert_int_equal(ob_params_form(&p, OB_URL_RFC3986, &b), 0);
    buf_equal(&b, "data_digest=OwYXm3XG9fjHK7A%2B%2Ft7Ckw%3D%3D&msg_type=TMS_CREATE_ORDER");
    ob_buf_reset(&b);
    ob_params_free(&p);
}

/* ------------------------------------------------------------------------ */
/* Parameters                                                                */

static void test_params_sort(void **state)
{
    (void)state;
    struct ob_params p = {0};
    struct ob_buf b;

    /* byte order: 'A' < 'B' < '_' < 'a' < 'b'; a prefix first */
    static const char *const in[][2] = {
        {"b", "1"}, {"a", "first"}, {"B", "2"}, {"_", "3"}, {"ab", "4"},
        {"a", "second"}, {"A", "5"}, {"a", "third"}, {"\xe4\xb8\xad", "6"},
    };
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
        assert_int_equal(ob_params_add(&p, in[i][0], in[i][1]), 0);
    ob_params_sort(&p);
    ob_buf_init(&b, OB_BUF_DEFAULT_MAX);
    assert_int_equal(ob_params_concat(&p, "=", "&", NULL, &b), 0);
    /* equal keys keep the order they were added in */
    buf_equal(&b, "A=5&B=2&_=3&a=first&a=second&a=third&ab=4&b=1&\xe4\xb8\xad=6");
    ob_buf_reset(&b);

    /* skip_key drops every pair with that key, separators stay right */
    assert_int_equal(ob_params_concat(&p, ":", ",", "A", &b), 0);
    buf_equal(&b, "B:2,_:3,a:first,a:second,a:third,ab:4,b:1,\xe4\xb8\xad:6");
    ob_buf_reset(&b);
    assert_int_equal(ob_params_concat(&p, NULL, NULL, "a", &b), 0);
    buf_equal(&b, "A5B2_3ab4b1\xe4\xb8\xad" "6");
    ob_buf_reset(&b);
    ob_params_free(&p);
    assert_null(p.items);
    assert_int_equal(p.n, 0);

    /* many keys, added backwards, with duplicates */
    for (int i = 299; i >= 0; i--) {
        char k[16], v[16];
        snprintf(k, sizeof(k), "k%03d", i / 2);
        snprintf(v, sizeof(v), "%d", i);
        assert_int_equal(ob_params_add(&p, k, v), 0);
    }
    ob_params_sort(&p);
    for (size_t i = 1; i < p.n; i++) {
        int c = strcmp(p.items[i - 1].key, p.items[i].key);
        assert_true(c <= 0);
        if (c == 0) /* the larger value was added first */
            assert_true(atoi(p.items[i - 1].value) > atoi(p.items[i].value));
    }
    ob_params_free(&p);

    /* nothing to sort, empty output */
    ob_params_sort(&p);
    assert_int_equal(ob_params_form(&p, OB_URL_JAVA, &b), 0);
    buf_equal(&b, "");
    ob_buf_reset(&b);
    assert_int_equal(ob_params_add(&p, NULL, "v"), -1);
    assert_int_equal(ob_params_add(&p, "k", NULL), -1);
    ob_params_free(&p);
}

static void test_params_form(void **state)
{
    (void)state;
    struct ob_params p = {0};
    struct ob_buf b;

    assert_int_equal(ob_params_add(&p, "q", "a b~*"), 0);
    assert_int_equal(ob_params_add(&p, "k y", "&="), 0);
    assert_int_equal(ob_params_add(&p, "empty", ""), 0);
    ob_buf_init(&b, OB_BUF_DEFAULT_MAX);
    assert_int_equal(ob_params_form(&p, OB_URL_JAVA, &b), 0);
    buf_equal(&b, "q=a+b%7E*&k+y=%26%3D&empty=");
    ob_buf_reset(&b);
    assert_int_equal(ob_params_form(&p, OB_URL_RFC3986, &b), 0);
    buf_equal(&b, "q=a%20b~%2A&k%20y=%26%3D&empty=");
    ob_buf_reset(&b);
    /* the max applies */
    ob_buf_init(&b, 10);
    assert_int_equal(ob_params_form(&p, OB_URL_RFC3986, &b), -1);
    assert_true(b.failed);
    ob_buf_reset(&b);
    ob_params_free(&p);
}

/* Qimen (Taobao TOP) sign: MD5(secret + k1v1k2v2... (sorted, without
 * "sign") + body + secret) in upper-case hex. Expected from python3:
 * hashlib.md5((secret + ''.join(k + p[k] for k in sorted(p) if k != 'sign')
 * + body + secret).encode()).hexdigest().upper() */
static void test_qimen_sign(void **state)
{
    (void)state;
    static const char secret[] = "test";
    static const char body[] =
        "<request><deliveryOrder><deliveryOrderCode>X1</deliveryOrderCode></deliveryOrder>"
        "</request>";
    struct ob_params p = {0};
    struct ob_buf b;
    unsigned char md[OB_DIGEST_MAX];
    size_t md_len;
    char hex[2 * OB_DIGEST_MAX + 1];

    /* added out of order, with a sign already present */
    assert_int_equal(ob_params_add(&p, "v", "2.0"), 0);
    assert_int_equal(ob_params_add(&p, "timestamp", "2015-04-26 00:00:07"), 0);
    assert_int_equal(ob_params_add(&p, "sign", "IGNORED"), 0);
    assert_int_equal(ob_params_add(&p, "method", "taobao.qimen.deliveryorder.create"), 0);
    assert_int_equal(ob_params_add(&p, "format", "xml"), 0);
    assert_int_equal(ob_params_add(&p, "customerId", "stub-cust-code"), 0);
    assert_int_equal(ob_params_add(&p, "sign_method", "md5"), 0);
    assert_int_equal(ob_params_add(&p, "app_key", "testerp_appkey"), 0);
    ob_params_sort(&p);

    ob_buf_init(&b, OB_BUF_DEFAULT_MAX);
    assert_int_equal(ob_buf_appends(&b, secret), 0);
    assert_int_equal(ob_params_concat(&p, "", "", "sign", &b), 0);
    assert_int_equal(ob_buf_appends(&b, body), 0);
    assert_int_equal(ob_buf_appends(&b, secret), 0);
    buf_equal(&b, "testapp_keytesterp_appkeycustomerIdstub-cust-codeformatxmlmethodtaobao.qimen."
                  "deliveryorder.createsign_methodmd5timestamp2015-04-26 00:00:07v2.0<request>"
                  "<deliveryOrder><deliveryOrderCode>X1</deliveryOrderCode></deliveryOrder>"
                  "</request>test");
    assert_int_equal(ob_digest(OB_MD5, b.data, b.len, md, &md_len), 0);
    ob_hex_upper(md, md_len, hex);
    assert_string_equal(hex, "F040FCBBEADFF162EA428B96E353EC83");
    ob_buf_reset(&b);
    ob_params_free(&p);
}

/* ------------------------------------------------------------------------ */
/* XML                                                                       */

/* The text of the first element named `name` in a document, parsed back
 * with libxml2's reader (owned by the caller; xmlFree). */
static xmlChar *xml_text(xmlNodePtr node, const char *name)
{
    for (; node; node = node->next) {
        if (node->type == XML_ELEMENT_NODE && xmlStrcmp(node->name, BAD_CAST name) == 0)
            return xmlNodeGetContent(node);
        xmlChar *t = xml_text(node->children, name);
        if (t)
            return t;
    }
    return NULL;
}

static void test_xml_escaping_round_trip(void **state)
{
    (void)state;
    static const char remark[] = "双11 预售尾款 & <请勿> 放快递柜";
    static const char specials[] = "a & b < c > d \" e ' f ]]> g\ttab\nline";
    struct ob_xml *x = ob_xml_new();
    struct ob_buf b;

    assert_non_null(x);
    ob_buf_init(&b, OB_BUF_DEFAULT_MAX);
    assert_int_equal(ob_xml_start(x, "request"), 0);
    assert_int_equal(ob_xml_start(x, "deliveryOrder"), 0);
    assert_int_equal(ob_xml_element(x, "deliveryOrderCode", "SO20231111000123"), 0);
    assert_int_equal(ob_xml_element(x, "remark", remark), 0);
    assert_int_equal(ob_xml_element(x, "specials", specials), 0);
    assert_int_equal(ob_xml_end(x), 0);
    assert_int_equal(ob_xml_end(x), 0);
    assert_int_equal(ob_xml_finish(x, 1, &b), 0);
    ob_xml_free(x);

    /* written as UTF-8, not as character references */
    assert_non_null(strstr(b.data, "双11 预售尾款 &amp; &lt;请勿&gt; 放快递柜"));
    assert_int_equal(strncmp(b.data, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>", 38), 0);

    xmlDocPtr doc = xmlReadMemory(b.data, (int)b.len, "test.xml", NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    xmlNodePtr root = xmlDocGetRootElement(doc);
    assert_string_equal((const char *)root->name, "request");
    xmlChar *t = xml_text(root, "remark");
    assert_non_null(t);
    assert_string_equal((const char *)t, remark);
    xmlFree(t);
    t = xml_text(root, "specials");
    assert_non_null(t);
    assert_string_equal((const char *)t, specials);
    xmlFree(t);
    t = xml_text(root, "deliveryOrderCode");
    assert_string_equal((const char *)t, "SO20231111000123");
    xmlFree(t);
    xmlFreeDoc(doc);
    ob_buf_reset(&b);
}

static void test_xml_shapes(void **state)
{
    (void)state;
    struct ob_xml *x;
    struct ob_buf b;

    /* without a declaration; empty element; empty text; nesting closed by
     * finish; a carriage return escaped so parsing keeps it */
    x = ob_xml_new();
    assert_non_null(x);
    ob_buf_init(&b, OB_BUF_DEFAULT_MAX);
    assert_int_equal(ob_xml_start(x, "a"), 0);
    assert_int_equal(ob_xml_element(x, "none", NULL), 0);
    assert_int_equal(ob_xml_element(x, "blank", ""), 0);
    assert_int_equal(ob_xml_element(x, "q", "x&y<z>\"'"), 0);
    assert_int_equal(ob_xml_start(x, "b"), 0);
    assert_int_equal(ob_xml_start(x, "c"), 0);
    assert_int_equal(ob_xml_element(x, "d", "1"), 0);
    assert_int_equal(ob_xml_finish(x, 0, &b), 0);
    buf_equal(&b, "<a><none/><blank></blank><q>x&amp;y&lt;z&gt;&quot;'</q>"
                  "<b><c><d>1</d></c></b></a>");
    /* finished: nothing more */
    assert_int_equal(ob_xml_start(x, "e"), -1);
    assert_int_equal(ob_xml_element(x, "e", "1"), -1);
    assert_int_equal(ob_xml_end(x), -1);
    assert_int_equal(ob_xml_finish(x, 0, &b), -1);
    ob_xml_free(x);
    ob_buf_reset(&b);

    /* an element opened and closed with nothing inside */
    x = ob_xml_new();
    assert_int_equal(ob_xml_start(x, "empty"), 0);
    assert_int_equal(ob_xml_end(x), 0);
    assert_int_equal(ob_xml_end(x), -1); /* nothing open */
    assert_int_equal(ob_xml_finish(x, 1, &b), 0);
    buf_equal(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<empty/>");
    ob_xml_free(x);
    ob_buf_reset(&b);

    /* refused before anything is written: the document stays usable */
    x = ob_xml_new();
    assert_int_equal(ob_xml_start(x, "r"), 0);
    assert_int_equal(ob_xml_start(x, "1abc"), -1);
    assert_int_equal(ob_xml_start(x, "a b"), -1);
    assert_int_equal(ob_xml_start(x, "a<b"), -1);
    assert_int_equal(ob_xml_start(x, ""), -1);
    assert_int_equal(ob_xml_start(x, NULL), -1);
    assert_int_equal(ob_xml_element(x, "ok", "bell\x07"), -1); /* not allowed in XML 1.0 */
    assert_int_equal(ob_xml_element(x, "ok", "\xff\xfe"), -1); /* not UTF-8 */
    assert_int_equal(ob_xml_element(x, "ok", "\xe4\xb8"), -1); /* truncated UTF-8 */
    assert_int_equal(ob_xml_element(x, "x-y.z_1", "cr\r"), 0);
    assert_int_equal(ob_xml_finish(x, 0, &b), 0);
    buf_equal(&b, "<r><x-y.z_1>cr&#13;</x-y.z_1></r>");
    xmlDocPtr doc = xmlReadMemory(b.data, (int)b.len, "t.xml", NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    xmlChar *t = xml_text(xmlDocGetRootElement(doc), "x-y.z_1");
    assert_string_equal((const char *)t, "cr\r");
    xmlFree(t);
    xmlFreeDoc(doc);
    ob_xml_free(x);
    ob_buf_reset(&b);

    /* the output buffer's max applies */
    x = ob_xml_new();
    ob_buf_init(&b, 8);
    assert_int_equal(ob_xml_element(x, "abcdef", "1"), 0);
    assert_int_equal(ob_xml_finish(x, 0, &b), -1);
    assert_true(b.failed);
    ob_xml_free(x);
    ob_buf_reset(&b);
    ob_xml_free(NULL);
}

/* ------------------------------------------------------------------------ */
/* Time, UUID                                                                */

static void time_equal(int64_t ms, const char *tz, const char *pattern, const char *expected)
{
    char out[128];

    memset(out, 'X', sizeof(out));
    if (ob_time_format(ms, tz, pattern, out, sizeof(out)) != 0)
        fail_msg("%lld %s \"%s\" refused", (long long)ms, tz, pattern);
    assert_string_equal(out, expected);
}

static void time_refused(int64_t ms, const char *tz, const char *pattern)
{
    char out[128];

    memset(out, 'X', sizeof(out));
    if (ob_time_format(ms, tz, pattern, out, sizeof(out)) != -1)
        fail_msg("%lld %s \"%s\" gave \"%s\"", (long long)ms, tz, pattern, out);
    assert_string_equal(out, "");
}

static void test_time_format(void **state)
{
    (void)state;
    const int64_t t = 1700000000123LL;

    /* java: DateTimeFormatter.ofPattern(p).withZone(ZoneId.of(tz))
     *       .format(Instant.ofEpochMilli(1700000000123L)) */
    time_equal(t, "Asia/Shanghai", "yyyy-MM-dd HH:mm:ss", "2023-11-15 06:13:20");
    time_equal(t, "Asia/Shanghai", "yyyy-MM-dd HH:mm:ss.SSS", "2023-11-15 06:13:20.123");
    time_equal(t, "+05:30", "yyyy-MM-dd HH:mm:ss", "2023-11-15 03:43:20");
    time_equal(t, "UTC", "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'", "2023-11-14T22:13:20.123Z");
    time_equal(t, "UTC", "'o''clock' HH ''", "o'clock 22 '");
    time_equal(t, "Asia/Tokyo", "M/d/yy H:m:s", "11/15/23 7:13:20");
    time_equal(t, "-03:30", "yyyyMMddHHmmss", "20231114184320");
    time_equal(t, "Asia/Seoul", "yyyy-MM-dd HH:mm:ss", "2023-11-15 07:13:20");
    /* the other named zones and offset spellings */
    time_equal(t, "Z", "HH:mm", "22:13");
    time_equal(t, "Asia/Hong_Kong", "HH", "06");
    time_equal(t, "Asia/Taipei", "HH", "06");
    time_equal(t, "Asia/Singapore", "HH", "06");
    time_equal(t, "+0800", "HH", "06");
    time_equal(t, "+08", "HH", "06");
    time_equal(t, "-00:00", "HH", "22");
    time_equal(t, "+18:00", "dd HH", "15 16");
    time_equal(t, "UTC", "", "");
    time_equal(t, "UTC", "(yyyy) / -- ,; 中", "(2023) / -- ,; 中");

    /* python3: datetime(1970,1,1) + timedelta(milliseconds=ms) */
    time_equal(0, "UTC", "yyyy-MM-dd HH:mm:ss.SSS", "1970-01-01 00:00:00.000");
    time_equal(951782400000LL, "UTC", "yyyy-MM-dd HH:mm:ss.SSS", "2000-02-29 00:00:00.000");
    time_equal(951868799999LL, "UTC", "yyyy-MM-dd HH:mm:ss.SSS", "2000-02-29 23:59:59.999");
    time_equal(4102444800000LL, "UTC", "yyyy-MM-dd HH:mm:ss.SSS", "2100-01-01 00:00:00.000");
    time_equal(253402300799999LL, "UTC", "yyyy-MM-dd HH:mm:ss.SSS", "9999-12-31 23:59:59.999");
    time_equal(-62135596800000LL, "UTC", "yyyy-MM-dd HH:mm:ss.SSS", "0001-01-01 00:00:00.000");
    time_equal(-1, "UTC", "yyyy-MM-dd HH:mm:ss.SSS", "1969-12-31 23:59:59.999");

    /* unknown zones and malformed offsets */
    time_refused(t, "Mars/Olympus", "yyyy");
    time_refused(t, "America/New_York", "yyyy"); /* has DST: not a fixed offset */
    time_refused(t, "utc", "yyyy");
    time_refused(t, "", "yyyy");
    time_refused(t, NULL, "yyyy");
    time_refused(t, "+8", "yyyy");
    time_refused(t, "08:00", "yyyy");
    time_refused(t, "+08:60", "yyyy");
    time_refused(t, "+18:01", "yyyy");
    time_refused(t, "+19:00", "yyyy");
    time_refused(t, "+08:00:00", "yyyy");
    time_refused(t, "+08-00", "yyyy");
    /* letters outside the pattern set, odd widths, unterminated quotes */
    time_refused(t, "UTC", "YYYY-MM-dd");
    time_refused(t, "UTC", "yyyy-MM-dd hh:mm");
    time_refused(t, "UTC", "yyyy-MM-ddTHH:mm");
    time_refused(t, "UTC", "yyy");
    time_refused(t, "UTC", "MMM");
    time_refused(t, "UTC", "SS");
    time_refused(t, "UTC", "'unterminated");
    time_refused(t, "UTC", NULL);
    /* out of the four-digit year range */
    time_refused(253402300800000LL, "UTC", "yyyy");
    time_refused(253402300799999LL, "+00:01", "yyyy");
    time_refused(-62135596800001LL, "UTC", "yyyy");
    time_refused(INT64_MIN, "UTC", "yyyy");
    time_refused(INT64_MAX, "UTC", "yyyy");

    /* the output size is respected, terminator included */
    char small[20];
    assert_int_equal(ob_time_format(t, "UTC", "yyyy-MM-dd HH:mm:ss", small, 19), -1);
    assert_string_equal(small, "");
    assert_int_equal(ob_time_format(t, "UTC", "yyyy-MM-dd HH:mm:ss", small, 20), 0);
    assert_string_equal(small, "2023-11-14 22:13:20");
    assert_int_equal(ob_time_format(t, "UTC", "yyyy", small, 0), -1);

    /* now is now, give or take */
    int64_t now = ob_time_now_ms();
    assert_true(now > 1700000000000LL && now < 4102444800000LL);
}

static void test_time_parse(void **state)
{
    (void)state;
    int64_t ms = 0;

    /* values from Python's datetime, not from the formatter */
    assert_int_equal(ob_time_parse("2026-11-11 10:00:00", "Asia/Shanghai", "yyyy-MM-dd HH:mm:ss", &ms), 0);
    assert_true(ms == 1794362400000LL);
    assert_int_equal(ob_time_parse("20240229235959123", "UTC", "yyyyMMddHHmmssSSS", &ms), 0);
    assert_true(ms == 1709251199123LL);
    assert_int_equal(ob_time_parse("2026/11/11 2:0:0", "UTC", "yyyy/M/d H:m:s", &ms), 0);
    assert_true(ms == 1794362400000LL);
    assert_int_equal(ob_time_parse("T'2026-11-11", "+08:00", "'T'''yyyy-MM-dd", &ms), 0);
    assert_true(ms == 1794326400000LL);
    /* refused: wrong shape, trailing text, impossible dates, unknown zone */
    assert_int_equal(ob_time_parse("2026-11-11 10:00", "UTC", "yyyy-MM-dd HH:mm:ss", &ms), -1);
    assert_int_equal(ob_time_parse("2026-11-11 10:00:00x", "UTC", "yyyy-MM-dd HH:mm:ss", &ms), -1);
    assert_int_equal(ob_time_parse("2023-02-29", "UTC", "yyyy-MM-dd", &ms), -1);
    assert_int_equal(ob_time_parse("2026-13-01", "UTC", "yyyy-MM-dd", &ms), -1);
    assert_int_equal(ob_time_parse("2026-11-11 24:00:00", "UTC", "yyyy-MM-dd HH:mm:ss", &ms), -1);
    assert_int_equal(ob_time_parse("2026-11-11", "Mars/Base", "yyyy-MM-dd", &ms), -1);
    assert_int_equal(ob_time_parse("2026-11-11", "UTC", "YYYY-MM-dd", &ms), -1);

    /* round trip with the formatter */
    char out[32];
    assert_int_equal(ob_time_format(1709251199123LL, "Asia/Tokyo", "yyyy-MM-dd HH:mm:ss.SSS", out, sizeof(out)), 0);
    assert_int_equal(ob_time_parse(out, "Asia/Tokyo", "yyyy-MM-dd HH:mm:ss.SSS", &ms), 0);
    assert_true(ms == 1709251199123LL);

    assert_int_equal(ob_time_parse_rfc3339("2021-02-26T02:22:10Z", &ms), 0);
    assert_true(ms == 1614306130000LL);
    assert_int_equal(ob_time_parse_rfc3339("2021-02-26T10:22:10+08:00", &ms), 0);
    assert_true(ms == 1614306130000LL);
    assert_int_equal(ob_time_parse_rfc3339("2024-02-29T23:59:59.123456Z", &ms), 0);
    assert_true(ms == 1709251199123LL);
    assert_int_equal(ob_time_parse_rfc3339("1969-12-31T23:00:00Z", &ms), 0);
    assert_true(ms == -3600000LL);
    assert_int_equal(ob_time_parse_rfc3339("2021-02-26T02:22:10", &ms), -1);
    assert_int_equal(ob_time_parse_rfc3339("2021-02-26", &ms), -1);
    assert_int_equal(ob_time_parse_rfc3339("2021-02-30T00:00:00Z", &ms), -1);
    assert_int_equal(ob_time_parse_rfc3339("2021-02-26T02:22:10.Z", &ms), -1);
    assert_int_equal(ob_time_parse_rfc3339("2021-02-26T02:22:10Zjunk", &ms), -1);
}

/* 6 entries, 2 of them unmapped (u), room for 3: both u go, then the
 * oldest mapped one. */
static void test_history_fit(void **state)
{
    (void)state;
    const int unmapped[] = {0, 1, 0, 1, 0, 0};
    const int want[] = {0, 0, 1, 0, 1, 1};
    struct ob_history_fit f;

    ob_history_fit_init(&f, 6, 2, 3);
    for (int i = 0; i < 6; i++)
        assert_int_equal(ob_history_fit_keep(&f, unmapped[i]), want[i]);
    /* all fit: all kept */
    ob_history_fit_init(&f, 4, 4, 10);
    for (int i = 0; i < 4; i++)
        assert_int_equal(ob_history_fit_keep(&f, 1), 1);
    /* more unmapped than the overflow: only the oldest unmapped go */
    ob_history_fit_init(&f, 5, 4, 4);
    assert_int_equal(ob_history_fit_keep(&f, 1), 0);
    assert_int_equal(ob_history_fit_keep(&f, 1), 1);
    assert_int_equal(ob_history_fit_keep(&f, 0), 1);
    assert_int_equal(ob_history_fit_keep(&f, 1), 1);
    assert_int_equal(ob_history_fit_keep(&f, 1), 1);
}

static void test_uuid4(void **state)
{
    (void)state;
    char a[37], b[37];

    assert_int_equal(ob_uuid4(a), 0);
    assert_int_equal(ob_uuid4(b), 0);
    assert_int_equal(strlen(a), 36);
    assert_string_not_equal(a, b);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(a[i], '-');
        else
            assert_non_null(strchr("0123456789abcdef", a[i]));
    }
    assert_int_equal(a[14], '4'); /* version */
    assert_non_null(strchr("89ab", a[19])); /* variant 10xx */
    for (int i = 0; i < 200; i++) {
        assert_int_equal(ob_uuid4(b), 0);
        assert_int_equal(b[14], '4');
        assert_non_null(strchr("89ab", b[19]));
    }
}

/* ------------------------------------------------------------------------ */
/* Money                                                                     */

static void test_money(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t minor;
        const char *formatted;
    } v[] = {
        {"0", 0, "0.00"},
        {"-0", 0, "0.00"},
        {"1.5", 150, "1.50"},
        {"-0.01", -1, "-0.01"},
        {"-0.05", -5, "-0.05"},
        {"599.00", 59900, "599.00"},
        {"599", 59900, "599.00"},
        {"0.1", 10, "0.10"},
        {"12.34", 1234, "12.34"},
        {"-12.3", -1230, "-12.30"},
        {"92233720368547758.07", INT64_MAX, "92233720368547758.07"},
        {"-92233720368547758.08", INT64_MIN, "-92233720368547758.08"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        int64_t m = 42, back = 43;
        char out[32];

        assert_int_equal(ob_money_parse(v[i].text, &m), 0);
        assert_int_equal(m, v[i].minor);
        ob_money_format(m, out);
        assert_string_equal(out, v[i].formatted);
        assert_int_equal(ob_money_parse(out, &back), 0);
        assert_int_equal(back, m);
    }
    char out[32];
    ob_money_format(-5, out);
    assert_string_equal(out, "-0.05");
    ob_money_format(5, out);
    assert_string_equal(out, "0.05");
    ob_money_format(-100, out);
    assert_string_equal(out, "-1.00");

    static const char *const bad[] = {
        "1.",  ".5", "1.234", "+1", "", "-", " 1", "1 ", "1,5", "1e2", "--1", "0x10",
        "92233720368547758.08",  /* INT64_MAX + 1 */
        "-92233720368547758.09", /* INT64_MIN - 1 */
        "92233720368547759",     /* overflows when scaled */
        "99999999999999999999",  /* overflows in the digits */
        "184467440737095516.16", /* UINT64_MAX + 1: wraps in a naive parser */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t m = 42;
        if (ob_money_parse(bad[i], &m) != -1)
            fail_msg("\"%s\" accepted as %lld", bad[i], (long long)m);
    }
    assert_int_equal(ob_money_parse(NULL, NULL), -1);
    assert_int_equal(ob_money_parse("1.23", NULL), 0);
}

/* Checked money arithmetic (issue 10): every overflow is -1, never UB. */
static void test_money_arithmetic(void **state)
{
    (void)state;
    int64_t r = 7;
    assert_int_equal(ob_money_add(INT64_MAX, 1, &r), -1);
    assert_int_equal(r, 7); /* untouched */
    assert_int_equal(ob_money_add(INT64_MIN, -1, &r), -1);
    assert_int_equal(ob_money_add(INT64_MAX - 1, 1, &r), 0);
    assert_true(r == INT64_MAX);
    assert_int_equal(ob_money_sub(3, -INT64_MAX, &r), -1);
    assert_int_equal(ob_money_sub(INT64_MIN, 1, &r), -1);
    assert_int_equal(ob_money_sub(-1, INT64_MAX, &r), 0);
    assert_true(r == INT64_MIN);
    assert_int_equal(ob_money_mul(INT64_MAX / 2 + 1, 2, &r), -1);
    assert_int_equal(ob_money_mul(INT64_MIN, -1, &r), -1);
    assert_int_equal(ob_money_mul(-4611686018427387904LL, 2, &r), 0);
    assert_true(r == INT64_MIN);
    /* half away from zero, at the edges of int64 */
    static const struct { int64_t a, n, q; } div[] = {
        {2999, 3, 1000}, {2998, 3, 999}, {1995, 2, 998}, {-1995, 2, -998}, {-2998, 3, -999},
        {INT64_MAX, 1, INT64_MAX}, {INT64_MAX, 2, 4611686018427387904LL},
        {INT64_MIN, 1, INT64_MIN}, {INT64_MIN, 3, -3074457345618258603LL},
        {INT64_MAX, 3, 3074457345618258602LL}, {0, 5, 0},
    };
    for (size_t i = 0; i < sizeof div / sizeof div[0]; i++) {
        assert_int_equal(ob_money_div_round(div[i].a, div[i].n, &r), 0);
        if (r != div[i].q)
            fail_msg("%lld / %lld: got %lld, want %lld", (long long)div[i].a,
                     (long long)div[i].n, (long long)r, (long long)div[i].q);
    }
    assert_int_equal(ob_money_div_round(5, 0, &r), -1);
    assert_int_equal(ob_money_div_round(5, -1, &r), -1);
}

/* A document of `n` nested <a> elements. malloc()ed. */
static char *nested(size_t n, size_t *len)
{
    char *doc = malloc(n * 7 + 1);
    size_t o = 0;
    assert_non_null(doc);
    for (size_t i = 0; i < n; i++)
        o += (size_t)sprintf(doc + o, "<a>");
    for (size_t i = 0; i < n; i++)
        o += (size_t)sprintf(doc + o, "</a>");
    *len = o;
    return doc;
}

static void read_bad_encoding(void *arg)
{
    static const char doc[] = "<?xml version=\"1.0\" encoding=\"ISO-2022-JP\"?><r>\x1b$B\xd0\x44</r>";
    char err[256];
    (void)arg;
    assert_null(ob_xml_read(doc, sizeof doc - 1, err, sizeof err));
}

/* ob_xml_read refuses every XML bomb before anything expands (issue 10). */
static void test_xml_read_refuses_bombs(void **state)
{
    (void)state;
    char err[256];
    static const char *const refused[][2] = {
        {"<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
         "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
         "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>"
         "<response><flag>&lol3;</flag></response>", "DTD"},
        {"<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><response>&x;</response>", "DTD"},
        {"<!DOCTYPE r SYSTEM \"http://127.0.0.1:1/evil.dtd\"><response/>", "DTD"},
        {"<!DOCTYPE r [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]><r/>", "DTD"},
        {"<r><!ENTITY x \"y\"></r>", "DTD"},
        {"", "empty"},
        {"<response><flag>success</flag>", "not well-formed"},
        {"<a/><b/>", "not well-formed"},
        {"just text", "not well-formed"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        err[0] = '\0';
        assert_null(ob_xml_read(refused[i][0], strlen(refused[i][0]), err, sizeof err));
        if (!strstr(err, refused[i][1]))
            fail_msg("case %zu: \"%s\" does not say %s", i, err, refused[i][1]);
    }

    /* quadratic blowup: one 40 KB entity referenced 40,000 times (160 KB
     * that became 1.6 GB through xmlNodeGetContent) */
    size_t o;
    char *quad = quadratic_xml("<response><flag>", "</flag></response>", 40000, 40000, &o);
    assert_null(ob_xml_read(quad, o, err, sizeof err));
    assert_non_null(strstr(err, "DTD"));
    free(quad);

    /* depth: 64 is read, 65 and a million are not */
    size_t len;
    char *doc = nested(64, &len);
    xmlDoc *ok = ob_xml_read(doc, len, err, sizeof err);
    assert_non_null(ok);
    xmlFreeDoc(ok);
    free(doc);
    doc = nested(65, &len);
    assert_null(ob_xml_read(doc, len, err, sizeof err));
    assert_non_null(strstr(err, "deeper than 64"));
    free(doc);
    doc = nested(1000000, &len);
    assert_null(ob_xml_read(doc, len, err, sizeof err));
    free(doc);

    /* UTF-16 (NUL bytes) and anything over 4 MiB, unread */
    static const char utf16[] = "\xff\xfe<\0r\0/\0>\0";
    assert_null(ob_xml_read(utf16, sizeof utf16 - 1, err, sizeof err));
    assert_non_null(strstr(err, "NUL"));
    char *big = malloc(OB_XML_READ_MAX + 1);
    assert_non_null(big);
    memset(big, ' ', OB_XML_READ_MAX + 1);
    memcpy(big, "<r>", 3);
    assert_null(ob_xml_read(big, OB_XML_READ_MAX + 1, err, sizeof err));
    assert_non_null(strstr(err, "larger than"));
    free(big);

    /* libxml2's own complaints (a failed encoding conversion) never reach
     * stderr, where they would sit raw between log lines */
    char *said = capture_stderr(read_bad_encoding, NULL);
    assert_string_equal(said, "");
    free(said);

    /* and a plain answer is read */
    static const char good[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                               "<response><flag>success</flag><code>0</code></response>";
    xmlDoc *d = ob_xml_read(good, sizeof good - 1, err, sizeof err);
    assert_non_null(d);
    assert_string_equal((const char *)xmlDocGetRootElement(d)->name, "response");
    xmlFreeDoc(d);
}

/* ob_json writes what json_dumps(JSON_COMPACT) writes for the same members. */
static void test_json_writer(void **state)
{
    static const char *const strings[] = {
        "plain", "", "quote \" back \\ slash /", "\b\f\n\r\t \x01\x1f \x7f",
        "\xe5\xbc\xa0\xe4\xb8\x89 \xf0\x9f\x93\xa6", /* 张三 📦 */
    };
    (void)state;
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        struct ob_buf buf;
        struct ob_json w;
        json_t *doc = json_pack("{s:s, s:I, s:[s, {s:b}], s:{}}", "s", strings[i], "n",
                                (json_int_t)-9223372036854775807LL - 1, "a", strings[i], "t", 1,
                                "e");
        char *want = json_dumps(doc, JSON_COMPACT);

        ob_buf_init(&buf, 4096);
        ob_json_init(&w, &buf);
        ob_json_object_open(&w);
        ob_json_key(&w, "s");
        ob_json_string(&w, strings[i]);
        ob_json_key(&w, "n");
        ob_json_int(&w, INT64_MIN);
        ob_json_key(&w, "a");
        ob_json_array_open(&w);
        ob_json_string(&w, strings[i]);
        ob_json_object_open(&w);
        ob_json_key(&w, "t");
        ob_json_bool(&w, 1);
        ob_json_object_close(&w);
        ob_json_array_close(&w);
        ob_json_key(&w, "e");
        ob_json_object_open(&w);
        ob_json_object_close(&w);
        ob_json_object_close(&w);
        assert_int_equal(ob_json_done(&w), 0);
        assert_non_null(want);
        assert_string_equal(buf.data, want);
        free(want);
        json_decref(doc);
        ob_buf_reset(&buf);
    }
}

/* Bytes that are not UTF-8 become '?', one each; an unbalanced document or a
 * full buffer is an error. */
static void test_json_writer_faults(void **state)
{
    struct ob_buf buf;
    struct ob_json w;

    (void)state;
    ob_buf_init(&buf, 4096);
    ob_json_init(&w, &buf);
    ob_json_array_open(&w);
    ob_json_string(&w, "a\xff\xc0\xaf" "b\xf4\x90\x80\x80");
    ob_json_string(&w, NULL);
    ob_json_array_close(&w);
    assert_int_equal(ob_json_done(&w), 0);
    assert_string_equal(buf.data, "[\"a???b????\",null]");
    ob_buf_reset(&buf);

    ob_json_init(&w, &buf);
    ob_json_object_open(&w);
    ob_json_key(&w, "k");
    assert_int_equal(ob_json_done(&w), -1); /* open, and a key without its value */
    ob_buf_reset(&buf);

    ob_buf_init(&buf, 8);
    ob_json_init(&w, &buf);
    ob_json_array_open(&w);
    ob_json_string(&w, "longer than eight");
    ob_json_array_close(&w);
    assert_int_equal(ob_json_done(&w), -1);
    ob_buf_reset(&buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_max_and_sticky_failure),
        cmocka_unit_test(test_money_arithmetic),
        cmocka_unit_test(test_xml_read_refuses_bombs),
        cmocka_unit_test(test_buf_printf),
        cmocka_unit_test(test_buf_grow_steal_reset_cleanse),
        cmocka_unit_test(test_digests),
        cmocka_unit_test(test_hmac),
        cmocka_unit_test(test_aes_ecb_cbc),
        cmocka_unit_test(test_cipher_refusals),
        cmocka_unit_test(test_aes_gcm),
        cmocka_unit_test(test_sm4),
        cmocka_unit_test(test_ems_signature),
        cmocka_unit_test(test_rsa_known_signature),
        cmocka_unit_test(test_rsa_fresh_key),
        cmocka_unit_test(test_base64_rfc4648),
        cmocka_unit_test(test_base64_invalid),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_url_encode),
        cmocka_unit_test(test_sf_express_digest),
        cmocka_unit_test(test_cainiao_digest_and_form),
        cmocka_unit_test(test_params_sort),
        cmocka_unit_test(test_params_form),
        cmocka_unit_test(test_qimen_sign),
        cmocka_unit_test(test_xml_escaping_round_trip),
        cmocka_unit_test(test_xml_shapes),
        cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_time_parse),
        cmocka_unit_test(test_history_fit),
        cmocka_unit_test(test_uuid4),
        cmocka_unit_test(test_money),
        cmocka_unit_test(test_json_writer),
        cmocka_unit_test(test_json_writer_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
