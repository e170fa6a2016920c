/* money.c — decimal money strings <-> minor units, never through floats. */
#include <orderbridge/sdk.h>

#include <inttypes.h>
#include <stdio.h>

int ob_money_parse(const char *text, int64_t *minor)
{
    const unsigned char *s = (const unsigned char *)text;
    int neg = 0;
    uint64_t v = 0;
    /* magnitude limit: INT64_MAX, or INT64_MAX + 1 for a negative amount */
    uint64_t limit = (uint64_t)INT64_MAX;
    unsigned frac_digits = 0;

    if (!s)
        return -1;
    if (*s == '-') {
        neg = 1;
        limit += 1;
        s++;
    }
    if (*s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');

        if (v > (limit - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    /* scale to minor units: two decimals, padding missing ones */
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9') {
            unsigned d = (unsigned)(*s - '0');

            if (++frac_digits > 2)
                return -1;
            if (v > (limit - d) / 10)
                return -1;
            v = v * 10 + d;
            s++;
        }
        if (frac_digits == 0)
            return -1; /* "1." */
    }
    if (*s != '\0')
        return -1;
    for (; frac_digits < 2; frac_digits++) {
        if (v > limit / 10)
            return -1;
        v *= 10;
    }
    if (minor) {
        if (neg)
            *minor = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
        else
            *minor = (int64_t)v;
    }
    return 0;
}

void ob_money_format(int64_t minor, char out[32])
{
    /* the magnitude in unsigned arithmetic: -INT64_MIN does not fit int64_t */
    uint64_t mag = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;

    snprintf(out, 32, "%s%" PRIu64 ".%02u", minor < 0 ? "-" : "", mag / 100,
             (unsigned)(mag % 100));
}

int ob_money_add(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return -1;
    *out = r;
    return 0;
}

int ob_money_sub(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return -1;
    *out = r;
    return 0;
}

int ob_money_mul(int64_t a, int64_t n, int64_t *out)
{
    int64_t r;
    if (__builtin_mul_overflow(a, n, &r))
        return -1;
    *out = r;
    return 0;
}

int ob_money_div_round(int64_t a, int64_t n, int64_t *out)
{
    if (n <= 0)
        return -1;
    /* in the magnitude, so that a + n/2 cannot overflow: |a| <= 2^63 and
     * the remainder is below n */
    uint64_t mag = a < 0 ? (uint64_t)0 - (uint64_t)a : (uint64_t)a;
    uint64_t q = mag / (uint64_t)n, rem = mag % (uint64_t)n;
    if (rem >= (uint64_t)n - rem) /* rem >= n/2, exactly: half away from zero */
        q++;
    if (a < 0) {
        if (q > (uint64_t)INT64_MAX + 1)
            return -1;
        *out = q == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)q;
    } else {
        if (q > (uint64_t)INT64_MAX)
            return -1;
        *out = (int64_t)q;
    }
    return 0;
}
