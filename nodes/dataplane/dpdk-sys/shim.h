/* Non-inline entry points for DPDK's static inline fast-path functions, which bindgen cannot
 * bind, and a one-call port setup so Rust never builds an rte_eth_conf. */
#ifndef FERROCORE_DPDK_SHIM_H
#define FERROCORE_DPDK_SHIM_H
#include <stdint.h>
struct rte_mbuf;
struct rte_mempool;

uint16_t shim_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **bufs, uint16_t n);
uint16_t shim_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **bufs, uint16_t n);
struct rte_mbuf *shim_pktmbuf_alloc(struct rte_mempool *pool);
void shim_pktmbuf_free(struct rte_mbuf *m);
/* Frees n mbufs (back to their pools in bulk). */
void shim_pktmbuf_free_bulk(struct rte_mbuf **bufs, unsigned int n);
/* The mbuf's buffer, with its length, the data offset, data length and segment count. */
uint8_t *shim_mbuf_view(struct rte_mbuf *m, uint16_t *buf_len, uint16_t *data_off,
                        uint16_t *data_len, uint16_t *nb_segs);
/* Where a received mbuf's frame lies: base is NULL for a chained (multi-segment) mbuf. */
struct shim_mbuf_span {
    uint8_t *base;
    uint16_t buf_len;
    uint16_t data_off;
    uint16_t data_len;
};
/* shim_mbuf_view for n mbufs in one call (one FFI crossing per burst). */
void shim_mbuf_view_burst(struct rte_mbuf **bufs, uint16_t n, struct shim_mbuf_span *out);
/* Sets a single-segment mbuf's data offset and length (pkt_len follows data_len). */
void shim_mbuf_set(struct rte_mbuf *m, uint16_t data_off, uint16_t data_len);
int shim_errno(void);
/* Configures one RX and one TX queue of `descs` descriptors, starts the port and makes it
 * promiscuous. Returns 0 or a negative errno. */
int shim_port_init(uint16_t port, struct rte_mempool *pool, uint16_t descs);
#endif
