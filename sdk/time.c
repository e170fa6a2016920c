/* time.c — clock, Java-pattern timestamps in fixed-offset zones, UUIDs. */
#include <orderbridge/sdk.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#define MS_PER_DAY 86400000LL

int64_t ob_time_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Zones without daylight saving time, so one offset is right all year. Not
 * right for every past year (Shanghai had DST until 1991, Singapore was
 * +07:30 until 1982): order timestamps are recent.
 */
static const struct {
    const char *name;
    int offset_min;
} zones[] = {
    {"UTC", 0},
    {"Z", 0},
    {"Asia/Shanghai", 8 * 60},
    {"Asia/Hong_Kong", 8 * 60},
    {"Asia/Taipei", 8 * 60},
    {"Asia/Singapore", 8 * 60},
    {"Asia/Tokyo", 9 * 60},
    {"Asia/Seoul", 9 * 60},
};

static int two_digits(const char *s, int *out)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return -1;
    *out = (s[0] - '0') * 10 + (s[1] - '0');
    return 0;
}

/* "+08:00", "+0800" or "+08" (or '-') in minutes east of UTC; up to
 * +-18:00 as java.time.ZoneOffset allows. */
static int parse_offset(const char *tz, int *offset_min)
{
    int h, m = 0;
    size_t len = strlen(tz);

    if ((tz[0] != '+' && tz[0] != '-') || len < 3 || two_digits(tz + 1, &h) != 0)
        return -1;
    if (len == 6 && tz[3] == ':') {
        if (two_digits(tz + 4, &m) != 0)
            return -1;
    } else if (len == 5) {
        if (two_digits(tz + 3, &m) != 0)
            return -1;
    } else if (len != 3) {
        return -1;
    }
    if (m > 59 || h * 60 + m > 18 * 60)
        return -1;
    *offset_min = (tz[0] == '-' ? -1 : 1) * (h * 60 + m);
    return 0;
}

static int zone_offset(const char *tz, int *offset_min)
{
    if (!tz)
        return -1;
    for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
        if (strcmp(tz, zones[i].name) == 0) {
            *offset_min = zones[i].offset_min;
            return 0;
        }
    }
    return parse_offset(tz, offset_min);
}

struct civil {
    int64_t year;
    int month, day, hour, minute, second, ms;
};

/* Local civil time of epoch ms at a fixed offset, without gmtime_r()'s
 * time_t range limits; days to date from Howard Hinnant's civil_from_days. */
static void to_civil(int64_t epoch_ms, int offset_min, struct civil *c)
{
    int64_t local = epoch_ms + (int64_t)offset_min * 60000;
    int64_t days = local / MS_PER_DAY, ms_of_day = local % MS_PER_DAY;

    if (ms_of_day < 0) { /* floor, for instants before 1970 */
        ms_of_day += MS_PER_DAY;
        days--;
    }
    c->hour = (int)(ms_of_day / 3600000);
    c->minute = (int)(ms_of_day / 60000 % 60);
    c->second = (int)(ms_of_day / 1000 % 60);
    c->ms = (int)(ms_of_day % 1000);

    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;

    c->day = (int)(doy - (153 * mp + 2) / 5 + 1);
    c->month = (int)(mp < 10 ? mp + 3 : mp - 9);
    c->year = yoe + era * 400 + (c->month <= 2);
}

/* Appends to out[*n] while it fits (one byte kept for the NUL). */
static int put(char *out, size_t out_size, size_t *n, const char *s, size_t len)
{
    if (len >= out_size - *n)
        return -1;
    memcpy(out + *n, s, len);
    *n += len;
    return 0;
}

/* The value of a run of `count` pattern letter `letter`, written as Java
 * writes it; -1 for a letter or width this formatter does not know. */
static int field(const struct civil *c, char letter, size_t count, char *s, size_t size)
{
    int v, w;

    switch (letter) {
    case 'y':
        if (count == 2)
            return snprintf(s, size, "%02d", (int)(c->year % 100));
        if (count == 4)
            return snprintf(s, size, "%04d", (int)c->year);
        return -1;
    case 'M':
        v = c->month;
        break;
    case 'd':
        v = c->day;
        break;
    case 'H':
        v = c->hour;
        break;
    case 'm':
        v = c->minute;
        break;
    case 's':
        v = c->second;
        break;
    case 'S':
        return count == 3 ? snprintf(s, size, "%03d", c->ms) : -1;
    default:
        return -1;
    }
    if (count > 2)
        return -1;
    w = (int)count;
    return snprintf(s, size, "%0*d", w, v);
}

static int is_letter(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
}

int ob_time_format(int64_t epoch_ms, const char *tz, const char *pattern, char *out,
                   size_t out_size)
{
    struct civil c;
    char s[16];
    size_t n = 0;
    int offset_min, w;
    const char *p = pattern;

    if (!out || out_size == 0)
        return -1;
    out[0] = '\0';
    if (!pattern || zone_offset(tz, &offset_min) != 0)
        return -1;
    /* keep the arithmetic and the four-digit year in range: years 1..9999 */
    if (epoch_ms < -62135596800000LL || epoch_ms > 253402300799999LL)
        return -1;
    to_civil(epoch_ms, offset_min, &c);
    if (c.year < 1 || c.year > 9999)
        return -1;

    while (*p) {
        if (*p == '\'') {
            /* '' is a quote; 'text' is literal text, where '' is a quote too */
            if (p[1] == '\'') {
                if (put(out, out_size, &n, "'", 1) != 0)
                    goto fail;
                p += 2;
                continue;
            }
            for (p++;; p++) {
                if (*p == '\0')
                    goto fail; /* unterminated quote: Java refuses it too */
                if (*p == '\'' && p[1] == '\'') {
                    if (put(out, out_size, &n, "'", 1) != 0)
                        goto fail;
                    p++;
                } else if (*p == '\'') {
                    p++;
                    break;
                } else if (put(out, out_size, &n, p, 1) != 0) {
                    goto fail;
                }
            }
        } else if (is_letter(*p)) {
            /* Letters are Java's pattern letters; one this does not know is
             * refused rather than copied ("YYYY" is a week year, "hh" a
             * 12-hour clock: copying them would hide the mistake). */
            size_t count = 1;

            while (p[count] == p[0])
                count++;
            w = field(&c, p[0], count, s, sizeof(s));
            if (w < 0 || (size_t)w >= sizeof(s) || put(out, out_size, &n, s, (size_t)w) != 0)
                goto fail;
            p += count;
        } else {
            if (put(out, out_size, &n, p, 1) != 0)
                goto fail;
            p++;
        }
    }
    out[n] = '\0';
    return 0;

fail:
    out[0] = '\0';
    return -1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}

static int days_in_month(int64_t y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : days[m - 1];
}

static int64_t civil_to_ms(const struct civil *c, int offset_min)
{
    int64_t days = days_from_civil(c->year, c->month, c->day);

    return days * MS_PER_DAY + (int64_t)c->hour * 3600000 + (int64_t)c->minute * 60000 +
           (int64_t)c->second * 1000 + c->ms - (int64_t)offset_min * 60000;
}

static int civil_valid(const struct civil *c)
{
    return c->year >= 1 && c->year <= 9999 && c->month >= 1 && c->month <= 12 && c->day >= 1 &&
           c->day <= days_in_month(c->year, c->month) && c->hour <= 23 && c->minute <= 59 &&
           c->second <= 59;
}

/* Read `min`..`max` digits at *s into *out. */
static int digits(const char **s, size_t min, size_t max, int *out)
{
    size_t n = 0;
    int v = 0;

    while (n < max && (*s)[n] >= '0' && (*s)[n] <= '9')
        v = v * 10 + ((*s)[n++] - '0');
    if (n < min)
        return -1;
    *s += n;
    *out = v;
    return 0;
}

int ob_time_parse(const char *text, const char *tz, const char *pattern, int64_t *epoch_ms)
{
    struct civil c = {.year = 0, .month = 1, .day = 1};
    const char *p = pattern, *t = text;
    int offset_min, v;

    if (!text || !pattern || !epoch_ms || zone_offset(tz, &offset_min) != 0)
        return -1;
    while (*p) {
        if (*p == '\'') {
            if (p[1] == '\'') {
                if (*t++ != '\'')
                    return -1;
                p += 2;
                continue;
            }
            for (p++;; p++) {
                if (*p == '\0')
                    return -1;
                if (*p == '\'' && p[1] == '\'') {
                    if (*t++ != '\'')
                        return -1;
                    p++;
                } else if (*p == '\'') {
                    p++;
                    break;
                } else if (*t++ != *p) {
                    return -1;
                }
            }
        } else if (is_letter(*p)) {
            size_t count = 1;

            while (p[count] == p[0])
                count++;
            switch (p[0]) {
            case 'y':
                if (count != 4 || digits(&t, 4, 4, &v) != 0)
                    return -1;
                c.year = v;
                break;
            case 'M': case 'd': case 'H': case 'm': case 's':
                if (count > 2 || digits(&t, count, 2, &v) != 0)
                    return -1;
                if (p[0] == 'M')
                    c.month = v;
                else if (p[0] == 'd')
                    c.day = v;
                else if (p[0] == 'H')
                    c.hour = v;
                else if (p[0] == 'm')
                    c.minute = v;
                else
                    c.second = v;
                break;
            case 'S':
                if (count != 3 || digits(&t, 3, 3, &c.ms) != 0)
                    return -1;
                break;
            default:
                return -1;
            }
            p += count;
        } else if (*t++ != *p++) {
            return -1;
        }
    }
    if (*t != '\0' || !civil_valid(&c))
        return -1;
    *epoch_ms = civil_to_ms(&c, offset_min);
    return 0;
}

int ob_time_parse_rfc3339(const char *text, int64_t *epoch_ms)
{
    struct civil c = {0};
    const char *t = text;
    int offset_min = 0, v, oh, om;

    if (!text || !epoch_ms || digits(&t, 4, 4, &v) != 0)
        return -1;
    c.year = v;
    if (*t++ != '-' || digits(&t, 2, 2, &c.month) != 0 || *t++ != '-' ||
        digits(&t, 2, 2, &c.day) != 0 || (*t != 'T' && *t != 't' && *t != ' '))
        return -1;
    t++;
    if (digits(&t, 2, 2, &c.hour) != 0 || *t++ != ':' || digits(&t, 2, 2, &c.minute) != 0 ||
        *t++ != ':' || digits(&t, 2, 2, &c.second) != 0)
        return -1;
    if (*t == '.') {
        int scale = 100;
        t++;
        if (*t < '0' || *t > '9')
            return -1;
        for (; *t >= '0' && *t <= '9'; t++, scale /= 10)
            c.ms += (*t - '0') * scale; /* digits past milliseconds add 0 */
    }
    if (*t == 'Z' || *t == 'z') {
        t++;
    } else if (*t == '+' || *t == '-') {
        int sign = *t++ == '-' ? -1 : 1;
        if (digits(&t, 2, 2, &oh) != 0 || *t++ != ':' || digits(&t, 2, 2, &om) != 0 || oh > 23 ||
            om > 59)
            return -1;
        offset_min = sign * (oh * 60 + om);
    } else {
        return -1;
    }
    if (*t != '\0' || !civil_valid(&c))
        return -1;
    *epoch_ms = civil_to_ms(&c, offset_min);
    return 0;
}

int ob_uuid4(char out[37])
{
    unsigned char b[16];
    char h[33];

    if (RAND_bytes(b, sizeof(b)) != 1)
        return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10xx */
    ob_hex_lower(b, sizeof(b), h);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
    return 0;
}
