/* bt-test-server.h: a SoupServer on 127.0.0.1 that serves ../shared/models/ for the backbone
 * download tests, on the thread-default main context. Routes, by the address's first part:
 * ok/FILE the file; bad/FILE one byte changed; half/FILE half of it, then the connection
 * closes; stall/FILE a part, then nothing until the server is freed; anything else 404. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A new temporary folder (g_dir_make_tmp template) that stands for a fresh machine: $XDG_DATA_HOME
 * is its data/ and $BOTTEGA_BACKBONE_DIR its empty no-backbones/. Call it before anything asks
 * GLib for the user folders (it caches them). Returns the folder (g_free; remove it at the end). */
char *bt_test_backbones_fresh_home (const char *tmpl);

typedef struct _BtTestServer BtTestServer;
BtTestServer *bt_test_server_new  (void);
void          bt_test_server_free (BtTestServer *server);
/* Points BOTTEGA_BACKBONE_URL at route (e.g. "ok"), so downloads go to this server. */
void          bt_test_server_use  (BtTestServer *server, const char *route);
/* What the backbone downloads left in the user folder (bt_backbones_user_dir): the file names,
 * sorted, joined by spaces, without the remembered speeds; "" when nothing. */
char         *bt_test_backbones_listing (void);

G_END_DECLS
