/* ews/xml_time.c: xs:dateTime to and from time_t (UTC). Exchange sends 'Z', an offset, or
 * (in the time zone we asked for, always UTC) no zone at all. */
#include <ctype.h>
#include <string.h>

#include "ews_xml_int.h"

static bool read_digits(const char **p, int n, int *out);

static bool
read_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

int
ews_time_parse(const char *s, time_t *out)
{
    const char *p = s;
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;

    while (isspace((unsigned char)*p))
        p++;
    if (!read_digits(&p, 4, &y) || *p++ != '-' || !read_digits(&p, 2, &mo) || *p++ != '-' ||
        !read_digits(&p, 2, &d) || *p++ != 'T' || !read_digits(&p, 2, &h) || *p++ != ':' ||
        !read_digits(&p, 2, &mi) || *p++ != ':' || !read_digits(&p, 2, &sec))
        return EWS_E_MALFORMED;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return EWS_E_MALFORMED;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '+' ? 1 : -1;
        if (!read_digits(&p, 2, &oh) || *p++ != ':' || !read_digits(&p, 2, &om) || oh > 14 ||
            om > 59)
            return EWS_E_MALFORMED;
    }
    while (isspace((unsigned char)*p))
        p++;
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || sec > 60)
        return EWS_E_MALFORMED;

    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    if (t == (time_t)-1 && !(y == 1969 && mo == 12 && d == 31))
        return EWS_E_MALFORMED;
    /* 10:00+02:00 is 08:00Z: subtract the offset. */
    *out = t - (time_t)sign * (oh * 3600 + om * 60);
    return 0;
}

bool
ews_time_format(time_t t, char out[32], bool zulu)
{
    struct tm tm;
    /* 4-digit years only: xs:dateTime needs them and %Y does not pad. */
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 1000 || tm.tm_year + 1900 > 9999)
        return false;
    return strftime(out, 32, zulu ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%dT%H:%M:%S", &tm) > 0;
}
