/*
 * hash.h — FNV-1a (64-bit), the bridge's one hash for in-memory tables and
 * fingerprints: order buckets, reports being emitted, delivery ids, report
 * fingerprints in order tracks. Not keyed: what it hashes is checked (or
 * verified by signature) before an attacker could choose it.
 */
#ifndef OB_HASH_H
#define OB_HASH_H

#include <stddef.h>
#include <stdint.h>

#define OB_FNV1A_OFFSET 1469598103934665603ULL

/* Continue the hash `h` (start with OB_FNV1A_OFFSET) over len bytes. */
static inline uint64_t ob_fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

/* The same over a NUL-terminated string. */
static inline uint64_t ob_fnv1a_str(uint64_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

#endif
