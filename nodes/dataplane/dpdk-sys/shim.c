#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include "shim.h"

uint16_t shim_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **bufs, uint16_t n) {
    return rte_eth_rx_burst(port, queue, bufs, n);
}

uint16_t shim_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **bufs, uint16_t n) {
    return rte_eth_tx_burst(port, queue, bufs, n);
}

struct rte_mbuf *shim_pktmbuf_alloc(struct rte_mempool *pool) { return rte_pktmbuf_alloc(pool); }

void shim_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }

void shim_pktmbuf_free_bulk(struct rte_mbuf **bufs, unsigned int n) { rte_pktmbuf_free_bulk(bufs, n); }

uint8_t *shim_mbuf_view(struct rte_mbuf *m, uint16_t *buf_len, uint16_t *data_off,
                        uint16_t *data_len, uint16_t *nb_segs) {
    *buf_len = m->buf_len;
    *data_off = m->data_off;
    *data_len = m->data_len;
    *nb_segs = m->nb_segs;
    return (uint8_t *)m->buf_addr;
}

void shim_mbuf_view_burst(struct rte_mbuf **bufs, uint16_t n, struct shim_mbuf_span *out) {
    for (uint16_t i = 0; i < n; i++) {
        struct rte_mbuf *m = bufs[i];
        out[i].base = m->nb_segs == 1 ? (uint8_t *)m->buf_addr : NULL;
        out[i].buf_len = m->buf_len;
        out[i].data_off = m->data_off;
        out[i].data_len = m->data_len;
    }
}

void shim_mbuf_set(struct rte_mbuf *m, uint16_t data_off, uint16_t data_len) {
    m->data_off = data_off;
    m->data_len = data_len;
    m->pkt_len = data_len;
}

int shim_errno(void) { return rte_errno; }

int shim_port_init(uint16_t port, struct rte_mempool *pool, uint16_t descs) {
    struct rte_eth_conf conf;
    memset(&conf, 0, sizeof(conf));
    int socket = rte_eth_dev_socket_id(port);
    if (socket < 0) socket = 0;
    int rc = rte_eth_dev_configure(port, 1, 1, &conf);
    if (rc < 0) return rc;
    uint16_t nrx = descs, ntx = descs;
    rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nrx, &ntx);
    if (rc < 0) return rc;
    rc = rte_eth_rx_queue_setup(port, 0, nrx, (unsigned)socket, NULL, pool);
    if (rc < 0) return rc;
    rc = rte_eth_tx_queue_setup(port, 0, ntx, (unsigned)socket, NULL);
    if (rc < 0) return rc;
    rc = rte_eth_dev_start(port);
    if (rc < 0) return rc;
    rte_eth_promiscuous_enable(port); /* not every PMD supports it; failure is harmless */
    return 0;
}
