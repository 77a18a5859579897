/* ews-sim: opaque identifiers (item, folder, watermark, change key) and server versions.
 * Ids are base64 of a tagged binary record, like Exchange's, so clients must treat them as
 * opaque; the simulator decodes them without any lookup table. */
#include "sim.h"

#include <string.h>
#include <strings.h>

static void
put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t
get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void
sim_item_id(uint32_t mailbox, uint32_t item, uint32_t occ, char *out)
{
    unsigned char raw[16] = {'A', 'Q', 'M', 'k'};
    put32(raw + 4, mailbox);
    put32(raw + 8, item);
    put32(raw + 12, occ);
    sim_b64(raw, sizeof(raw), out);
}

int
sim_item_id_parse(const char *id, uint32_t *mailbox, uint32_t *item, uint32_t *occ)
{
    unsigned char raw[32];
    if (sim_unb64(id, raw, sizeof(raw)) != 16 || memcmp(raw, "AQMk", 4) != 0)
        return -1;
    *mailbox = get32(raw + 4);
    *item = get32(raw + 8);
    *occ = get32(raw + 12);
    return 0;
}

void
sim_folder_id(uint32_t mailbox, int folder, char *out)
{
    unsigned char raw[12] = {'A', 'Q', 'F', 'k'};
    put32(raw + 4, mailbox);
    put32(raw + 8, (uint32_t)folder);
    sim_b64(raw, sizeof(raw), out);
}

int
sim_folder_id_parse(const char *id, uint32_t *mailbox, int *folder)
{
    unsigned char raw[32];
    if (sim_unb64(id, raw, sizeof(raw)) != 12 || memcmp(raw, "AQFk", 4) != 0)
        return -1;
    *mailbox = get32(raw + 4);
    *folder = (int)get32(raw + 8);
    return *folder < FOLDER_COUNT ? 0 : -1;
}

void
sim_watermark(uint32_t mailbox, uint64_t seq, char *out)
{
    unsigned char raw[16] = {'W', 'M', 0, 1};
    put32(raw + 4, mailbox);
    put32(raw + 8, (uint32_t)seq);
    put32(raw + 12, (uint32_t)(seq >> 32));
    sim_b64(raw, sizeof(raw), out);
}

int
sim_watermark_parse(const char *wm, uint32_t *mailbox, uint64_t *seq)
{
    unsigned char raw[32];
    if (sim_unb64(wm, raw, sizeof(raw)) != 16 || memcmp(raw, "WM\0\1", 4) != 0)
        return -1;
    *mailbox = get32(raw + 4);
    *seq = (uint64_t)get32(raw + 8) | (uint64_t)get32(raw + 12) << 32;
    return 0;
}

void
sim_change_key(uint32_t changes, char *out)
{
    unsigned char raw[8] = {'D', 'w', 'A', 'A'};
    put32(raw + 4, changes);
    sim_b64(raw, sizeof(raw), out);
}

static const char *const folder_names[FOLDER_COUNT] = {
    "calendar", "inbox", "root",   "msgfolderroot", "deleteditems", "sentitems", "drafts",
    "contacts", "tasks", "outbox", "notes",         "journal",      "junkemail"};

const char *
sim_folder_name(int folder)
{
    return folder >= 0 && folder < FOLDER_COUNT ? folder_names[folder] : "root";
}

int
sim_folder_parse(const char *distinguished)
{
    for (int i = 0; i < FOLDER_COUNT; i++)
        if (strcmp(distinguished, folder_names[i]) == 0)
            return i;
    return -1;
}

/* RequestServerVersion values in the order Exchange introduced them. */
const char *const sim_request_versions[] = {
    "Exchange2007",     "Exchange2007_SP1", "Exchange2009", "Exchange2010",     "Exchange2010_SP1",
    "Exchange2010_SP2", "Exchange2012",     "Exchange2013", "Exchange2013_SP1", "Exchange2015",
    "Exchange2016",     "V2015_10_05",      "V2016_01_06",  "V2016_04_13",      "V2016_07_13",
    "V2016_10_10",      "V2017_01_07",      "V2017_04_14",  "V2017_07_11",      NULL};

static const struct sim_version versions[] = {
    {"Exchange2010_SP2", 14, 2, 247, 5, 5}, {"Exchange2010_SP3", 14, 3, 123, 4, 5},
    {"Exchange2013", 15, 0, 516, 32, 7},    {"Exchange2013_SP1", 15, 0, 847, 32, 8},
    {"Exchange2016", 15, 1, 2507, 6, 18},   {"Exchange2019", 15, 2, 1118, 7, 18},
};

const struct sim_version *
sim_version_find(const char *name)
{
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
        if (strcasecmp(versions[i].name, name) == 0)
            return &versions[i];
    return NULL;
}

int
sim_request_version(const char *v)
{
    for (int i = 0; sim_request_versions[i]; i++)
        if (strcmp(sim_request_versions[i], v) == 0)
            return i;
    return -1;
}
