#include "CDeflateScan.h"
#include <stdlib.h>
#include <string.h>

/* Lookup tables index the next LIT_BITS / DIST_BITS input bits. An entry is
   (kind << 8) | bits-to-skip, where bits-to-skip already includes the symbol's extra bits:
   skipping never needs their value. Codes longer than the table (rare) have entry 0 and are
   decoded bit by bit from the canonical code (count per length, symbols in code order).
   Measured on libdeflate output of the benchmark trees: 11 and 8 bits are the fastest widths, and
   merging runs of literal codes into one entry (as the Swift walker did) cost more per block
   than it saved per symbol. */
#define LIT_BITS 11
#define DIST_BITS 8
#define KIND_LITERAL 1 /* a literal (for the distance table: any distance) */
#define KIND_LENGTH 2  /* a length symbol: a distance code follows */
#define KIND_END 3     /* end of block */

struct code {
    uint16_t count[16];
    uint16_t symbols[288];
};

struct apkit_deflate_scanner {
    uint32_t lit[1 << LIT_BITS];
    uint32_t dist[1 << DIST_BITS];
    uint32_t codelen[1 << 7];
    struct code lit_code, dist_code, codelen_code;
    int fixed_loaded;
};

static const uint8_t length_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
static const uint8_t codelen_order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};

apkit_deflate_scanner *apkit_deflate_scanner_new(void) {
    return calloc(1, sizeof(apkit_deflate_scanner));
}

void apkit_deflate_scanner_free(apkit_deflate_scanner *s) { free(s); }

/* What a symbol of a table costs to skip, and what follows it. kind 0: invalid symbol. */
typedef enum { TABLE_LIT, TABLE_DIST, TABLE_CODELEN } table_kind;

static uint32_t entry_for(table_kind t, unsigned sym, unsigned len) {
    switch (t) {
    case TABLE_LIT:
        if (sym < 256) return (KIND_LITERAL << 8) | len;
        if (sym == 256) return (KIND_END << 8) | len;
        if (sym <= 285) return (KIND_LENGTH << 8) | (len + length_extra[sym - 257]);
        return 0;
    case TABLE_DIST:
        if (sym < 30) return (KIND_LITERAL << 8) | (len + dist_extra[sym]);
        return 0;
    case TABLE_CODELEN:
        return (sym << 8) | len;
    }
    return 0;
}

/* Canonical Huffman code from `n` lengths into `code` and `table` (`bits` wide). Returns 0,
   or APKIT_DEFLATE_SCAN_BAD_CODE for an over-subscribed code. */
static int build(const uint8_t *lengths, unsigned n, table_kind t, uint32_t *table, unsigned bits, struct code *code) {
    uint16_t offs[16], next[16];
    memset(code->count, 0, sizeof(code->count));
    for (unsigned s = 0; s < n; s++) code->count[lengths[s]]++;
    code->count[0] = 0;
    memset(table, 0, sizeof(uint32_t) << bits);
    unsigned c = 0;
    offs[1] = 0;
    for (unsigned l = 1; l < 16; l++) {
        c = (c + code->count[l - 1]) << 1; /* count[0] is 0: the first code of length 1 is 0 */
        next[l] = (uint16_t)c;
        if (c + code->count[l] > (1u << l)) return APKIT_DEFLATE_SCAN_BAD_CODE;
        if (l < 15) offs[l + 1] = offs[l] + code->count[l];
    }
    for (unsigned s = 0; s < n; s++) {
        unsigned l = lengths[s];
        if (l == 0) continue;
        code->symbols[offs[l]++] = (uint16_t)s;
        unsigned cw = next[l]++;
        if (l > bits) continue;
        unsigned rev = 0;
        for (unsigned k = 0; k < l; k++) rev |= ((cw >> k) & 1u) << (l - 1 - k);
        uint32_t e = entry_for(t, s, l);
        if (e == 0) continue; /* invalid symbol: left to the slow path, which rejects it */
        for (unsigned i = rev; i < (1u << bits); i += 1u << l) table[i] = e;
    }
    return 0;
}

/* Decodes one symbol bit by bit; returns its length, or 0 when no code matches. */
static unsigned slow_decode(const struct code *code, uint64_t b, unsigned *sym) {
    int cw = 0, first = 0, index = 0;
    for (unsigned len = 1; len < 16; len++) {
        cw |= (int)((b >> (len - 1)) & 1);
        int cnt = code->count[len];
        if (cw - first < cnt) {
            *sym = code->symbols[index + cw - first];
            return len;
        }
        index += cnt;
        first = (first + cnt) << 1;
        cw <<= 1;
    }
    return 0;
}

typedef struct {
    const uint8_t *p;
    size_t n, byte;
    uint64_t buf;
    unsigned cnt;
} bits_t;

/* At least 56 bits in buf (zeros past the end of the input). */
static inline void refill(bits_t *r) {
    if (r->byte + 8 <= r->n) {
        uint64_t v;
        memcpy(&v, r->p + r->byte, 8);
        r->buf |= v << r->cnt;  /* little-endian host (x86_64, aarch64) */
        r->byte += (63 - r->cnt) >> 3;
        r->cnt |= 56;
    } else {
        while (r->cnt <= 56) {
            if (r->byte < r->n) r->buf |= (uint64_t)r->p[r->byte] << r->cnt;
            r->byte++;
            r->cnt += 8;
        }
    }
}

static inline size_t position(const bits_t *r) { return r->byte * 8 - r->cnt; }

static inline void consume(bits_t *r, unsigned k) {
    r->buf >>= k;
    r->cnt -= k;
}

static inline uint64_t take(bits_t *r, unsigned k) {
    uint64_t v = r->buf & ((1ull << k) - 1);
    consume(r, k);
    return v;
}

static int fixed_tables(apkit_deflate_scanner *s) {
    if (s->fixed_loaded) return 0;
    uint8_t l[288];
    memset(l, 8, 144);
    memset(l + 144, 9, 112);
    memset(l + 256, 7, 24);
    memset(l + 280, 8, 8);
    int rc = build(l, 288, TABLE_LIT, s->lit, LIT_BITS, &s->lit_code);
    if (rc) return rc;
    memset(l, 5, 30);
    rc = build(l, 30, TABLE_DIST, s->dist, DIST_BITS, &s->dist_code);
    if (rc) return rc;
    s->fixed_loaded = 1;
    return 0;
}

static int dynamic_tables(apkit_deflate_scanner *s, bits_t *r, size_t limit) {
    s->fixed_loaded = 0;
    refill(r);
    unsigned hlit = (unsigned)take(r, 5) + 257, hdist = (unsigned)take(r, 5) + 1, hclen = (unsigned)take(r, 4) + 4;
    if (hlit > 286 || hdist > 30) return APKIT_DEFLATE_SCAN_BAD_LENGTHS;
    uint8_t cl[19] = {0};
    for (unsigned i = 0; i < hclen; i++) {
        refill(r);
        cl[codelen_order[i]] = (uint8_t)take(r, 3);
    }
    int rc = build(cl, 19, TABLE_CODELEN, s->codelen, 7, &s->codelen_code);
    if (rc) return rc;
    uint8_t lengths[286 + 30];
    unsigned total = hlit + hdist, i = 0;
    while (i < total) {
        refill(r);
        if (position(r) > limit) return APKIT_DEFLATE_SCAN_TRUNCATED;
        uint32_t e = s->codelen[r->buf & 127];
        if (e == 0) return APKIT_DEFLATE_SCAN_BAD_SYMBOL;
        consume(r, e & 0xff);
        unsigned sym = e >> 8, rep;
        uint8_t v;
        if (sym < 16) {
            lengths[i++] = (uint8_t)sym;
            continue;
        } else if (sym == 16) {
            if (i == 0) return APKIT_DEFLATE_SCAN_BAD_LENGTHS;
            v = lengths[i - 1];
            rep = 3 + (unsigned)take(r, 2);
        } else if (sym == 17) {
            v = 0;
            rep = 3 + (unsigned)take(r, 3);
        } else {
            v = 0;
            rep = 11 + (unsigned)take(r, 7);
        }
        if (i + rep > total) return APKIT_DEFLATE_SCAN_BAD_LENGTHS;
        memset(lengths + i, v, rep);
        i += rep;
    }
    if (lengths[256] == 0) return APKIT_DEFLATE_SCAN_BAD_LENGTHS;
    rc = build(lengths, hlit, TABLE_LIT, s->lit, LIT_BITS, &s->lit_code);
    if (rc) return rc;
    return build(lengths + hlit, hdist, TABLE_DIST, s->dist, DIST_BITS, &s->dist_code);
}

/* Skips one block's symbols through its end-of-block code. */
static int skip_symbols(apkit_deflate_scanner *s, bits_t *r, size_t limit) {
    const uint32_t *lit = s->lit, *dist = s->dist;
    for (;;) {
        refill(r);
        uint32_t e = lit[r->buf & ((1u << LIT_BITS) - 1)];
        unsigned kind = e >> 8;
        if (kind == KIND_LITERAL) {
            consume(r, e & 0xff);
            /* Past the end, only zero bits come in: a damaged stream is caught here. */
            if (__builtin_expect(r->byte > r->n, 0) && position(r) > limit) return APKIT_DEFLATE_SCAN_TRUNCATED;
            continue;
        }
        if (kind == 0) {
            unsigned sym, len = slow_decode(&s->lit_code, r->buf, &sym);
            if (len == 0 || sym > 285) return APKIT_DEFLATE_SCAN_BAD_SYMBOL;
            e = entry_for(TABLE_LIT, sym, len);
            kind = e >> 8;
            if (kind == KIND_LITERAL) {
                consume(r, e & 0xff);
                if (r->byte > r->n && position(r) > limit) return APKIT_DEFLATE_SCAN_TRUNCATED;
                continue;
            }
        }
        consume(r, e & 0xff);
        if (kind == KIND_END) return 0;
        uint32_t d = dist[r->buf & ((1u << DIST_BITS) - 1)];
        if (d == 0) {
            unsigned sym, len = slow_decode(&s->dist_code, r->buf, &sym);
            if (len == 0 || sym >= 30) return APKIT_DEFLATE_SCAN_BAD_SYMBOL;
            d = entry_for(TABLE_DIST, sym, len);
        }
        consume(r, d & 0xff);
        if (__builtin_expect(r->byte > r->n, 0) && position(r) > limit) return APKIT_DEFLATE_SCAN_TRUNCATED;
    }
}

int apkit_deflate_last_block(apkit_deflate_scanner *s, const uint8_t *p, size_t n, size_t *header, size_t *end) {
    bits_t r = {p, n, 0, 0, 0};
    size_t limit = n * 8;
    for (;;) {
        refill(&r);
        size_t h = position(&r);
        *header = h;
        if (h + 3 > limit) return APKIT_DEFLATE_SCAN_TRUNCATED;
        unsigned final = (unsigned)take(&r, 1), type = (unsigned)take(&r, 2);
        int rc = 0;
        if (type == 0) {
            consume(&r, r.cnt & 7); /* to a byte boundary */
            refill(&r);
            if (position(&r) + 32 > limit) return APKIT_DEFLATE_SCAN_TRUNCATED;
            unsigned len = (unsigned)take(&r, 16), nlen = (unsigned)take(&r, 16);
            if ((len ^ nlen) != 0xffff) return APKIT_DEFLATE_SCAN_BAD_STORED;
            size_t at = position(&r) + (size_t)len * 8;
            if (at > limit) return APKIT_DEFLATE_SCAN_TRUNCATED;
            /* Byte-aligned: restart the bit buffer at the block's end. */
            r.byte = at / 8;
            r.buf = 0;
            r.cnt = 0;
        } else if (type == 1) {
            rc = fixed_tables(s);
            if (!rc) rc = skip_symbols(s, &r, limit);
        } else if (type == 2) {
            rc = dynamic_tables(s, &r, limit);
            if (!rc) rc = skip_symbols(s, &r, limit);
        } else {
            return APKIT_DEFLATE_SCAN_BAD_BLOCK_TYPE;
        }
        if (rc) {
            *header = position(&r) < limit ? position(&r) : limit;
            return rc;
        }
        if (position(&r) > limit) return APKIT_DEFLATE_SCAN_TRUNCATED;
        if (final) {
            *header = h;
            *end = position(&r);
            return APKIT_DEFLATE_SCAN_OK;
        }
    }
}
