/* vfsec-pcap.h: classic libpcap capture files — the NIC emulator captures
 * frames with them and tests hand them to tshark. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define VFSEC_PCAP_LINKTYPE_ETHERNET 1
#define VFSEC_PCAP_LINKTYPE_RAW      101  /* bare IPv4/IPv6 packets */
#define VFSEC_PCAP_SNAPLEN           65535

typedef struct _VfsecPcapWriter VfsecPcapWriter;

/* Creates (truncates) @path and writes the file header. */
VfsecPcapWriter *vfsec_pcap_writer_new(const char *path, guint32 linktype, GError **error);
/* Appends one packet stamped @time_us (microseconds since the epoch); packets
 * over the snap length are cut, keeping their original length in the record. */
gboolean vfsec_pcap_writer_add(VfsecPcapWriter *writer, gint64 time_us, const guint8 *data,
                               gsize len, GError **error);
/* Flushes and closes the file, reporting a failed write; the writer must still
 * be freed. Idempotent. */
gboolean vfsec_pcap_writer_close(VfsecPcapWriter *writer, GError **error);
/* Closes (errors ignored) and frees. */
void vfsec_pcap_writer_free(VfsecPcapWriter *writer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfsecPcapWriter, vfsec_pcap_writer_free)

/* Reads a whole capture (either byte order, micro- or nanosecond stamps):
 * returns its packets as GBytes (captured bytes only) and the link type. */
GPtrArray *vfsec_pcap_read(const char *path, guint32 *linktype, GError **error);

G_END_DECLS
