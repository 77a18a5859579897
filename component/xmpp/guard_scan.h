/* The guard's streaming scan of the bytes the XMPP server sends: a small XML tokenizer that
 * frames each top-level element of the stream (a stanza) and measures it before libstrophe
 * parses it (see guard.h and docs/design.md, "The stanza guard").
 *
 * It tracks depth through start, end and empty-element tags, attributes (quoted values may hold
 * '>'), comments, CDATA sections, processing instructions and declarations, and text. It does
 * not validate: libstrophe does that after it. Input may arrive split at any byte; the output
 * does not depend on how it is split. */
#ifndef CP_GUARD_SCAN_H
#define CP_GUARD_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#define CP_SCAN_NAME_MAX 64  /* element name of a stanza, with its prefix */
#define CP_SCAN_JID_MAX 3072 /* RFC 7622: 3 x 1023 bytes and two separators */
#define CP_SCAN_ID_MAX 1024  /* a stanza id; a longer one is reported truncated */
#define CP_SCAN_TYPE_MAX 32  /* iq/message/presence types are short words */

/* What the scan learnt of a stanza it drops: the top-level element's name and the attributes
 * an error reply needs, as they stand in the XML (entity references not decoded). */
struct cp_scan_stanza {
    char name[CP_SCAN_NAME_MAX];
    char from[CP_SCAN_JID_MAX];
    char to[CP_SCAN_JID_MAX];
    char id[CP_SCAN_ID_MAX];
    char type[CP_SCAN_TYPE_MAX];
    bool has_from, has_to, has_id, has_type;
    bool truncated; /* some value above did not fit: do not answer from it */
    size_t nodes;   /* elements and text pieces in the whole stanza */
    size_t bytes;   /* bytes of the whole stanza */
};

struct cp_scan_limits {
    size_t max_nodes; /* elements plus text pieces (line breaks, references) in one stanza */
    size_t max_bytes; /* bytes of one stanza, its tags included */
};

/* Where the scanned bytes go. Every callback is required. Pointers are valid for the call. */
struct cp_scan_ops {
    /* Bytes outside any stanza (the XML declaration, the stream header, whitespace between
     * stanzas, the stream's end): forward them now. */
    void (*pass)(void *ud, const char *data, size_t len);
    /* Bytes of the stanza being framed: keep them until commit or drop. Not called for a
     * stanza once it is over a bound. */
    void (*hold)(void *ud, const char *data, size_t len);
    /* The held stanza is complete and within the bounds: forward it. */
    void (*commit)(void *ud);
    /* The stanza just ended over a bound: discard what was held. */
    void (*drop)(void *ud, const struct cp_scan_stanza *st);
};

struct cp_scan {
    struct cp_scan_limits limits;
    const struct cp_scan_ops *ops;
    void *ud;
    /* private */
    int state;
    int sub;      /* progress inside a multi-byte delimiter ("-->", "]]>", "<![CDATA[") */
    char quote;   /* the quote that opened the current attribute value */
    size_t depth; /* open elements, the stream header included */
    bool in_stanza;
    bool over;       /* the current stanza crossed a bound */
    bool root_tag;   /* inside the start tag of the stanza's top-level element */
    bool lt_pending; /* a '<' at depth 1 was seen at the end of the last chunk */
    bool prev_cr;    /* the last text byte was '\r' (a "\r\n" is one line break) */
    bool self_closing;
    bool end_tag;
    char attr[8]; /* the attribute name being read, when short enough to matter */
    size_t attr_len;
    char *capture; /* where the current attribute value goes, NULL when not wanted */
    size_t capture_len, capture_max;
    size_t held; /* bytes of the current stanza handed to hold() before this chunk */
    struct cp_scan_stanza st;
};

/* Prepares S; OPS and UD are borrowed for the scan's life. */
void cp_scan_init(struct cp_scan *s, const struct cp_scan_limits *limits,
                  const struct cp_scan_ops *ops, void *ud);

/* Scans LEN bytes of DATA, calling the ops as the bytes are classified. Never fails: input that
 * is not XML is passed on for libstrophe to refuse. */
void cp_scan_feed(struct cp_scan *s, const char *data, size_t len);

/* Decodes the entity and character references of an attribute value IN (as captured in
 * struct cp_scan_stanza) into OUT (OUTLEN bytes with the NUL). Returns 0, or -1 when a
 * reference is malformed, names a character XML does not allow, or OUT is too small. */
int cp_scan_unescape(const char *in, char *out, size_t outlen);

/* Forgets any partial stanza and starts over before a new stream (a reconnect). */
void cp_scan_reset(struct cp_scan *s);

#endif
