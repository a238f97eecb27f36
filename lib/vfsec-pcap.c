/* vfsec-pcap.c: writer and reader of classic libpcap capture files. */
#include "vfsec-pcap.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vfsec-error.h"

/* The classic format: a 24-byte file header, then per packet a 16-byte record
 * header (seconds, sub-seconds, captured length, original length) and the
 * captured bytes. The writer always uses little-endian microsecond files. */
#define PCAP_MAGIC_US  0xa1b2c3d4u
#define PCAP_MAGIC_NS  0xa1b23c4du
#define PCAP_FILE_HLEN 24
#define PCAP_REC_HLEN  16

struct _VfsecPcapWriter {
    char *path;
    FILE *file;
};

static void
put_le32(guint8 *p, guint32 v)
{
    guint32 le = GUINT32_TO_LE(v);

    memcpy(p, &le, 4);
}

static guint32
get32(const guint8 *p, gboolean swapped)
{
    guint32 v;

    memcpy(&v, p, 4);
    return swapped ? GUINT32_SWAP_LE_BE(v) : v;
}

static gboolean
write_all(VfsecPcapWriter *writer, const void *data, gsize len, GError **error)
{
    if (fwrite(data, 1, len, writer->file) == len)
        return TRUE;
    g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_IO, "capture %s: write failed: %s",
                writer->path, g_strerror(errno));
    return FALSE;
}

VfsecPcapWriter *
vfsec_pcap_writer_new(const char *path, guint32 linktype, GError **error)
{
    g_autoptr(VfsecPcapWriter) writer = g_new0(VfsecPcapWriter, 1);
    guint8 hdr[PCAP_FILE_HLEN] = { 0 };

    writer->path = g_strdup(path);
    writer->file = fopen(path, "wbe");
    if (!writer->file) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_IO, "capture %s: cannot create: %s",
                    path, g_strerror(errno));
        return NULL;
    }
    put_le32(hdr, PCAP_MAGIC_US);
    hdr[4] = 2;  /* version 2.4, little-endian u16s */
    hdr[6] = 4;
    put_le32(hdr + 16, VFSEC_PCAP_SNAPLEN);
    put_le32(hdr + 20, linktype);
    if (!write_all(writer, hdr, sizeof(hdr), error))
        return NULL;
    return g_steal_pointer(&writer);
}

gboolean
vfsec_pcap_writer_add(VfsecPcapWriter *writer, gint64 time_us, const guint8 *data, gsize len,
                      GError **error)
{
    guint8 rec[PCAP_REC_HLEN];
    gsize caplen = MIN(len, (gsize)VFSEC_PCAP_SNAPLEN);

    g_return_val_if_fail(writer->file, FALSE);
    put_le32(rec, (guint32)(time_us / G_USEC_PER_SEC));
    put_le32(rec + 4, (guint32)(time_us % G_USEC_PER_SEC));
    put_le32(rec + 8, (guint32)caplen);
    put_le32(rec + 12, (guint32)MIN(len, G_MAXUINT32));
    return write_all(writer, rec, sizeof(rec), error) && write_all(writer, data, caplen, error);
}

gboolean
vfsec_pcap_writer_close(VfsecPcapWriter *writer, GError **error)
{
    FILE *file = g_steal_pointer(&writer->file);

    if (!file)
        return TRUE;
    if (fclose(file) != 0) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_IO, "capture %s: close failed: %s",
                    writer->path, g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

void
vfsec_pcap_writer_free(VfsecPcapWriter *writer)
{
    if (!writer)
        return;
    vfsec_pcap_writer_close(writer, NULL);
    g_free(writer->path);
    g_free(writer);
}

GPtrArray *
vfsec_pcap_read(const char *path, guint32 *linktype, GError **error)
{
    g_autofree char *contents = NULL;
    g_autoptr(GPtrArray) packets = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    const guint8 *p;
    gsize len = 0;
    gsize off = PCAP_FILE_HLEN;
    guint32 magic;
    gboolean swapped;

    if (!g_file_get_contents(path, &contents, &len, error))
        return NULL;
    p = (const guint8 *)contents;
    if (len < PCAP_FILE_HLEN) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "capture %s: %zu bytes is shorter than the file header", path, len);
        return NULL;
    }
    memcpy(&magic, p, 4);
    swapped = magic == GUINT32_SWAP_LE_BE(PCAP_MAGIC_US) || magic == GUINT32_SWAP_LE_BE(PCAP_MAGIC_NS);
    magic = get32(p, swapped);
    if (magic != PCAP_MAGIC_US && magic != PCAP_MAGIC_NS) {
        g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                    "capture %s: magic 0x%08x is not a pcap file", path, magic);
        return NULL;
    }
    *linktype = get32(p + 20, swapped);

    while (off < len) {
        guint32 caplen;

        if (len - off < PCAP_REC_HLEN) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "capture %s: record header at offset %zu is cut off", path, off);
            return NULL;
        }
        caplen = get32(p + off + 8, swapped);
        off += PCAP_REC_HLEN;
        if (caplen > len - off) {
            g_set_error(error, VFSEC_ERROR, VFSEC_ERROR_INVALID,
                        "capture %s: packet of %u bytes at offset %zu runs past the end",
                        path, caplen, off);
            return NULL;
        }
        g_ptr_array_add(packets, g_bytes_new(p + off, caplen));
        off += caplen;
    }
    return g_steal_pointer(&packets);
}
