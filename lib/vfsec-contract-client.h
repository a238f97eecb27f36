/* vfsec-contract-client.h: the asynchronous client side of the PF-driver contract
 * (docs/pf-driver-contract.md) on GIO: one connection to one PF driver socket. */
#pragma once

#include <gio/gio.h>

#include "vfsec-contract.h"

G_BEGIN_DECLS

/* Request timeout used when a call passes timeout_ms 0: longer than a server's
 * default reclaim bound (2000 ms), shorter than the hook's wait for vfsecd. */
#define VFSEC_CONTRACT_CLIENT_DEFAULT_TIMEOUT_MS 3000

/* Requests a client keeps sent and unanswered at once unless told otherwise:
 * enough to keep a PF driver busy between round trips, few enough that one
 * thread serving many connections answers each within its timeout. */
#define VFSEC_CONTRACT_CLIENT_DEFAULT_MAX_IN_FLIGHT 8

#define VFSEC_TYPE_CONTRACT_CLIENT (vfsec_contract_client_get_type())
G_DECLARE_FINAL_TYPE(VfsecContractClient, vfsec_contract_client, VFSEC, CONTRACT_CLIENT, GObject)

/* A notification for an event the client subscribed to. */
typedef void (*VfsecContractNotifyFunc)(VfsecContractClient *client,
                                        const VfsecContractNotification *notification,
                                        gpointer user_data);
/* The server went away or broke the protocol (@reason says which); every call
 * still pending has already failed. Not called for vfsec_contract_client_close(). */
typedef void (*VfsecContractClosedFunc)(VfsecContractClient *client, const GError *reason,
                                        gpointer user_data);

/* A client for the PF driver at @socket_path, not connected yet. It lives on the
 * thread-default main context of the caller: every callback runs there, and every
 * function must be called from the thread that runs that context. */
VfsecContractClient *vfsec_contract_client_new(const char *socket_path);

/* Set the handlers before connecting; @destroy frees @user_data with the client. */
void vfsec_contract_client_set_notify_func(VfsecContractClient *client,
                                           VfsecContractNotifyFunc func,
                                           gpointer user_data, GDestroyNotify destroy);
void vfsec_contract_client_set_closed_func(VfsecContractClient *client,
                                           VfsecContractClosedFunc func,
                                           gpointer user_data, GDestroyNotify destroy);

/* Connects and says hello; @timeout_ms bounds the hello (0: the default). Fails
 * with VFSEC_ERROR_IO when nothing listens, VFSEC_ERROR_PROTOCOL when the server
 * does not speak contract version 1. May be called once per client. */
void vfsec_contract_client_connect_async(VfsecContractClient *client, guint timeout_ms,
                                         GCancellable *cancellable,
                                         GAsyncReadyCallback callback, gpointer user_data);
gboolean vfsec_contract_client_connect_finish(VfsecContractClient *client, GAsyncResult *result,
                                              GError **error);

/* At most @max_in_flight requests (0: no limit) are sent and unanswered at a
 * time; later calls wait in the client, oldest first, and their timeout starts
 * only when their line is written to the socket. May be changed at any time. */
void vfsec_contract_client_set_max_in_flight(VfsecContractClient *client, guint max_in_flight);
guint vfsec_contract_client_get_max_in_flight(VfsecContractClient *client);
/* Calls not written to the socket yet: waiting for a slot, or for the write
 * before them to end. */
guint vfsec_contract_client_get_n_waiting(VfsecContractClient *client);

/* The server's hello result once connected, else NULL. Owned by the client. */
const VfsecContractHello *vfsec_contract_client_get_hello(VfsecContractClient *client);
const char *vfsec_contract_client_get_path(VfsecContractClient *client);
/* TRUE between a successful connect and the close. */
gboolean vfsec_contract_client_is_open(VfsecContractClient *client);

/* Closes the connection; pending calls fail with VFSEC_ERROR_IO. Dropping the
 * last reference closes it too. Replies the server still sends are lost, but a
 * request it already received still runs to its end there. */
void vfsec_contract_client_close(VfsecContractClient *client);

/* Sends one request (when a slot is free, see set_max_in_flight). @args (NULL:
 * {}) is not modified; @timeout_ms (0: the default) bounds the wait for the
 * reply from when the request is sent, after which the call fails with
 * VFSEC_ERROR_TIMEOUT and a late reply is dropped. Error replies become GErrors
 * through vfsec_contract_error_code_to_vfsec(). Calls may overlap; each gets its
 * own reply, whatever order the server answers in. */
void vfsec_contract_client_call_async(VfsecContractClient *client, const char *op,
                                      JsonObject *args, guint timeout_ms,
                                      GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data);
/* *result (optional) receives the reply's result object (new reference). */
gboolean vfsec_contract_client_call_finish(VfsecContractClient *client, GAsyncResult *result,
                                           JsonObject **result_out, GError **error);

/* Typed calls. Each _finish hands over what it returns (free with the type's free
 * function or g_ptr_array_unref()/g_array_unref()); a result that breaks the
 * contract fails with VFSEC_ERROR_PROTOCOL. */
void vfsec_contract_client_list_ports_async(VfsecContractClient *client, guint timeout_ms,
                                            GCancellable *cancellable,
                                            GAsyncReadyCallback callback, gpointer user_data);
/* *ports: VfsecContractPort*. */
gboolean vfsec_contract_client_list_ports_finish(VfsecContractClient *client, GAsyncResult *result,
                                                 GPtrArray **ports, GError **error);

void vfsec_contract_client_list_vfs_async(VfsecContractClient *client, guint port,
                                          guint timeout_ms, GCancellable *cancellable,
                                          GAsyncReadyCallback callback, gpointer user_data);
/* *vfs: VfsecContractVf*. */
gboolean vfsec_contract_client_list_vfs_finish(VfsecContractClient *client, GAsyncResult *result,
                                               GPtrArray **vfs, GError **error);

/* Changes the @fields of @vf (found by vf->port and vf->vf); the rest of @vf is
 * not sent. */
void vfsec_contract_client_set_vf_async(VfsecContractClient *client, const VfsecContractVf *vf,
                                        VfsecContractSetVfFields fields, guint timeout_ms,
                                        GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
/* *vf: the VF's new state. */
gboolean vfsec_contract_client_set_vf_finish(VfsecContractClient *client, GAsyncResult *result,
                                             VfsecContractVf **vf, GError **error);

/* @reclaim_timeout_ms (0: the server's default) is the server's own bound and
 * must be shorter than @timeout_ms, so that its answer arrives before the client
 * gives up; a call that breaks this fails with VFSEC_ERROR_INVALID. */
void vfsec_contract_client_reclaim_vf_async(VfsecContractClient *client, guint port, guint vf,
                                            guint reclaim_timeout_ms, guint timeout_ms,
                                            GCancellable *cancellable,
                                            GAsyncReadyCallback callback, gpointer user_data);
gboolean vfsec_contract_client_reclaim_vf_finish(VfsecContractClient *client, GAsyncResult *result,
                                                 VfsecContractReclaim *reclaim, GError **error);

void vfsec_contract_client_get_macs_async(VfsecContractClient *client, guint port,
                                          guint timeout_ms, GCancellable *cancellable,
                                          GAsyncReadyCallback callback, gpointer user_data);
gboolean vfsec_contract_client_get_macs_finish(VfsecContractClient *client, GAsyncResult *result,
                                               VfsecContractMacTable **table, GError **error);

/* Replaces the table if its generation is still table->generation (else
 * VFSEC_ERROR_CONFLICT); *generation receives the new one. */
void vfsec_contract_client_set_macs_async(VfsecContractClient *client, guint port,
                                          const VfsecContractMacTable *table, guint timeout_ms,
                                          GCancellable *cancellable,
                                          GAsyncReadyCallback callback, gpointer user_data);
gboolean vfsec_contract_client_set_macs_finish(VfsecContractClient *client, GAsyncResult *result,
                                               guint64 *generation, GError **error);

void vfsec_contract_client_get_switch_mode_async(VfsecContractClient *client, guint port,
                                                 guint timeout_ms, GCancellable *cancellable,
                                                 GAsyncReadyCallback callback, gpointer user_data);
gboolean vfsec_contract_client_get_switch_mode_finish(VfsecContractClient *client,
                                                      GAsyncResult *result,
                                                      VfsecContractSwitchMode *mode, GError **error);

void vfsec_contract_client_set_switch_mode_async(VfsecContractClient *client, guint port,
                                                 VfsecContractSwitchMode mode, guint timeout_ms,
                                                 GCancellable *cancellable,
                                                 GAsyncReadyCallback callback, gpointer user_data);
/* *mode: the mode now in force. */
gboolean vfsec_contract_client_set_switch_mode_finish(VfsecContractClient *client,
                                                      GAsyncResult *result,
                                                      VfsecContractSwitchMode *mode, GError **error);

void vfsec_contract_client_counters_async(VfsecContractClient *client, guint port,
                                          guint timeout_ms, GCancellable *cancellable,
                                          GAsyncReadyCallback callback, gpointer user_data);
/* *counters: VfsecContractCounter, in the server's order. */
gboolean vfsec_contract_client_counters_finish(VfsecContractClient *client, GAsyncResult *result,
                                               GArray **counters, GError **error);

/* Replaces the set of events notified on this connection (0: none). */
void vfsec_contract_client_subscribe_async(VfsecContractClient *client, guint events,
                                           guint timeout_ms, GCancellable *cancellable,
                                           GAsyncReadyCallback callback, gpointer user_data);
gboolean vfsec_contract_client_subscribe_finish(VfsecContractClient *client, GAsyncResult *result,
                                                GError **error);

/* Blocking conveniences for CLIs and tests. connect_sync makes a client on a
 * private main context of its own; call_sync runs the client's context until the
 * reply, so use it only on such a client, or on one whose context nothing else
 * runs meanwhile. */
VfsecContractClient *vfsec_contract_client_connect_sync(const char *socket_path, guint timeout_ms,
                                                        GError **error);
gboolean vfsec_contract_client_call_sync(VfsecContractClient *client, const char *op,
                                         JsonObject *args, guint timeout_ms,
                                         JsonObject **result, GError **error);

G_END_DECLS
