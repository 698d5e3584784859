#ifndef APKIT_CDEFLATESCAN_H
#define APKIT_CDEFLATESCAN_H
#include <stddef.h>
#include <stdint.h>

/* Walks the blocks of a raw deflate stream (RFC 1951) without producing its output, to find
   where its last block starts and ends. ParallelDeflateEngine needs exactly that to clear the
   last block's BFINAL bit of each chunk libdeflate compressed (libdeflate has no flush).
   It skips Huffman symbols only: no window, no output, lengths and distances are never
   computed, so it runs several times faster than inflating. */

typedef struct apkit_deflate_scanner apkit_deflate_scanner;

/* NULL when out of memory. One scanner per thread. */
apkit_deflate_scanner *apkit_deflate_scanner_new(void);
void apkit_deflate_scanner_free(apkit_deflate_scanner *s);

enum {
    APKIT_DEFLATE_SCAN_OK = 0,
    APKIT_DEFLATE_SCAN_TRUNCATED = -1,      /* the stream ends before its last block does */
    APKIT_DEFLATE_SCAN_BAD_BLOCK_TYPE = -2, /* block type 3 */
    APKIT_DEFLATE_SCAN_BAD_STORED = -3,     /* a stored block's LEN and NLEN disagree */
    APKIT_DEFLATE_SCAN_BAD_CODE = -4,       /* an over-subscribed or unusable Huffman code */
    APKIT_DEFLATE_SCAN_BAD_SYMBOL = -5,     /* a code that is not in the block's code, or symbol 286-287 / 30-31 */
    APKIT_DEFLATE_SCAN_BAD_LENGTHS = -6,    /* code lengths: too many, a repeat with nothing before, no end-of-block code */
};

/* On APKIT_DEFLATE_SCAN_OK: *header = bit offset of the last block's header, *end = bit offset
   just past its end-of-block code (or its stored bytes). On an error: *header = the bit offset
   where the problem was found. Bits count from the least significant bit of p[0]. */
int apkit_deflate_last_block(apkit_deflate_scanner *s, const uint8_t *p, size_t n,
                             size_t *header, size_t *end);

#endif
