/* test-model.c: .bottega-model and training-state files: round trips give identical outputs,
 * every truncation and sampled bit flips are rejected, hostile headers with a valid checksum
 * are rejected, bad settings give clear errors, resume continues bit-identically. */
#include "engine/bt-engine.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

static char *tmpdir;

static void
train_a_bit (BtNet *net, BtOptimizer *opt, int steps, guint64 seed)
{
  int c, h, w;
  bt_net_input_shape (net, &c, &h, &w);
  gsize per = (gsize) c * h * w;
  g_autofree float *x = g_new (float, 6 * per);
  int labels[6];
  BtRng rng;
  bt_rng_seed (&rng, seed);
  for (int s = 0; s < steps; s++)
    {
      for (gsize i = 0; i < 6 * per; i++)
        x[i] = bt_rng_uniform (&rng);
      for (int i = 0; i < 6; i++)
        labels[i] = (int) bt_rng_below (&rng, bt_net_n_classes (net));
      g_autoptr (GError) error = NULL;
      g_assert_nonnull (bt_net_forward (net, x, 6, TRUE, &error));
      bt_net_zero_grad (net);
      g_assert_true (bt_net_backward (net, labels, 6, NULL, 0.0f, NULL, NULL, &error));
      bt_optimizer_step (opt, net, 1e-3f);
    }
}

static GBytes *
make_model (BtPreset preset, int w, int h, int c, int classes, int hidden, BtNet **out_net)
{
  g_autoptr (GError) error = NULL;
  BtNet *net = preset == BT_PRESET_TRANSFER ? bt_net_new_transfer (c, hidden, classes, -1, 3, &error)
                                            : bt_net_new_preset (preset, w, h, c, classes, -1, 3, &error);
  g_assert_no_error (error);
  BtOptimizerConfig cfg;
  bt_optimizer_config_init (&cfg, BT_OPTIMIZER_ADAM);
  g_autoptr (BtOptimizer) opt = bt_optimizer_new (net, &cfg);
  train_a_bit (net, opt, 3, 17);
  const char *base[] = { "gatto", "Süßigkeit", "猫", "a;b=c [d]", "  spaced  ", "x\\y", "e", "f" };
  g_autofree const char **names = g_new0 (const char *, classes + 1);
  for (int i = 0; i < classes; i++)
    names[i] = base[i];
  GBytes *b = bt_model_save_to_bytes (net, names, NULL, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  if (out_net)
    *out_net = net;
  else
    bt_net_free (net);
  return b;
}

static void
test_round_trip (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BtNet) net = bt_net_new_preset (BT_PRESET_DEEPER_CNN, 12, 10, 3, 4, 0.2f, 5, &error);
  BtOptimizerConfig cfg;
  bt_optimizer_config_init (&cfg, BT_OPTIMIZER_SGD);
  g_autoptr (BtOptimizer) opt = bt_optimizer_new (net, &cfg);
  train_a_bit (net, opt, 4, 2);
  const char *names[] = { "gatto", "Süßigkeit", "猫", "a;b=c [d]", NULL };
  BtPreprocess prep;
  bt_preprocess_init_default (&prep, 12, 10, 3);
  prep.resize = BT_RESIZE_CENTER_CROP;
  prep.mean[0] = 0.485f; prep.mean[1] = 0.456f; prep.mean[2] = 0.406f;
  prep.std[0] = 0.229f; prep.std[1] = 0.224f; prep.std[2] = 0.225f;
  g_autoptr (GHashTable) meta = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (meta, "created", "2026-11-25T18:00:00Z");
  g_hash_table_insert (meta, "project", "Gatti e cani\nsecond line");
  g_autofree char *path = g_build_filename (tmpdir, "m.bottega-model", NULL);
  g_assert_true (bt_model_save (path, net, names, &prep, "mobilenet-v1", "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08", meta, &error));
  g_assert_no_error (error);

  g_autoptr (BtModel) m = bt_model_load (path, &error);
  g_assert_no_error (error);
  gsize n, nb;
  g_assert_cmpmem (bt_net_params (net, &n), n * 4, bt_net_params (m->net, NULL), bt_net_n_params (m->net) * 4);
  g_assert_cmpmem (bt_net_buffers (net, &nb), nb * 4, bt_net_buffers (m->net, &n), n * 4);
  g_assert_cmpint (bt_net_preset (m->net), ==, BT_PRESET_DEEPER_CNN);
  g_assert_cmpfloat (bt_net_dropout (m->net), ==, 0.2f);
  for (int i = 0; i < 4; i++)
    g_assert_cmpstr (m->class_names[i], ==, names[i]);
  g_assert_null (m->class_names[4]);
  g_assert_cmpmem (&m->prep, sizeof prep, &prep, sizeof prep);
  g_assert_cmpstr (m->backbone_name, ==, "mobilenet-v1");
  g_assert_cmpstr (m->backbone_sha256, ==, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");  /* written in lower case */
  g_assert_cmpstr (g_hash_table_lookup (m->metadata, "project"), ==, "Gatti e cani\nsecond line");
  g_assert_cmpstr (g_hash_table_lookup (m->metadata, "created"), ==, "2026-11-25T18:00:00Z");

  /* identical outputs */
  BtRng rng;
  bt_rng_seed (&rng, 9);
  float x[5 * 3 * 12 * 10];
  for (guint i = 0; i < G_N_ELEMENTS (x); i++)
    x[i] = bt_rng_uniform (&rng);
  g_autofree float *a = g_memdup2 (bt_net_forward (net, x, 5, FALSE, &error), 5 * 4 * 4);
  const float *b = bt_net_forward (m->net, x, 5, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (a, 5 * 4 * 4, b, 5 * 4 * 4);

  /* saving over an existing file replaces it atomically; no temp files are left */
  g_assert_true (bt_model_save (path, m->net, (const char * const *) m->class_names, &m->prep,
                                NULL, NULL, NULL, &error));
  g_autoptr (GDir) dir = g_dir_open (tmpdir, 0, NULL);
  int files = 0;
  while (g_dir_read_name (dir))
    files++;
  g_assert_cmpint (files, ==, 1);
  g_autoptr (BtModel) m2 = bt_model_load (path, &error);
  g_assert_no_error (error);
  g_assert_null (m2->backbone_name);
  g_assert_cmpint (g_hash_table_size (m2->metadata), ==, 0);
  g_unlink (path);
}

static void
test_every_truncation (void)
{
  g_autoptr (GBytes) full = make_model (BT_PRESET_TRANSFER, 1, 1, 6, 3, 4, NULL);
  gsize len;
  const guint8 *data = g_bytes_get_data (full, &len);
  g_autoptr (BtModel) ok = bt_model_load_bytes (full, NULL);
  g_assert_nonnull (ok);
  for (gsize cut = 0; cut < len; cut++)
    {
      g_autoptr (GBytes) b = g_bytes_new_static (data, cut);
      g_autoptr (GError) error = NULL;
      g_autoptr (BtModel) m = bt_model_load_bytes (b, &error);
      g_assert_null (m);
      g_assert_nonnull (error);
      g_assert_true (error->domain == BT_ENGINE_ERROR);
    }
  /* and a bigger net with many tensors, truncations sampled across the file */
  g_autoptr (GBytes) big = make_model (BT_PRESET_MINI_RESNET, 8, 8, 3, 5, 0, NULL);
  data = g_bytes_get_data (big, &len);
  for (gsize cut = 0; cut < len; cut += cut < 4096 ? 1 : 997)
    {
      g_autoptr (GBytes) b = g_bytes_new_static (data, cut);
      g_autoptr (GError) error = NULL;
      g_assert_null (bt_model_load_bytes (b, &error));
      g_assert_nonnull (error);
    }
}

static void
test_bit_flips (void)
{
  g_autoptr (GBytes) full = make_model (BT_PRESET_SMALL_CNN, 8, 8, 1, 3, 0, NULL);
  gsize len;
  const guint8 *data = g_bytes_get_data (full, &len);
  g_autofree guint8 *copy = g_memdup2 (data, len);
  BtRng rng;
  bt_rng_seed (&rng, g_test_rand_int ());
  for (int i = 0; i < 400; i++)
    {
      /* half of the flips in the preamble and header, where the parser works hardest */
      gsize pos = i % 2 ? bt_rng_below (&rng, (guint32) len) : bt_rng_below (&rng, MIN ((guint32) len, 3000));
      guint8 bit = (guint8) (1u << bt_rng_below (&rng, 8));
      copy[pos] ^= bit;
      g_autoptr (GBytes) b = g_bytes_new_static (copy, len);
      g_autoptr (GError) error = NULL;
      g_autoptr (BtModel) m = bt_model_load_bytes (b, &error);
      g_assert_null (m);
      g_assert_nonnull (error);
      g_assert_true (error->domain == BT_ENGINE_ERROR);
      /* a flip in the version field reads as "newer format"; everything else as damage */
      g_assert_true (error->code == (pos >= 8 && pos < 12 ? BT_ENGINE_ERROR_UNSUPPORTED : BT_ENGINE_ERROR_CORRUPT));
      copy[pos] ^= bit;
    }
}

/* ---- Hostile but correctly checksummed files ---- */

static void
rehash (guint8 *buf, gsize len)
{
  gsize dlen = 32;
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_checksum_update (sum, buf, len - 32);
  g_checksum_get_digest (sum, buf + len - 32, &dlen);
}

/* Replaces the first occurrence of `from` in the text header with `to`, moves the data
 * block to the new aligned offset and fixes the checksum: a hostile file that passes it. */
static GBytes *
patch_header (GBytes *orig, const char *from, const char *to)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (orig, &len);
  guint32 hlen;
  guint64 doff, dlen;
  memcpy (&hlen, data + 12, 4);
  memcpy (&doff, data + 16, 8);
  memcpy (&dlen, data + 24, 8);
  hlen = GUINT32_FROM_LE (hlen);
  doff = GUINT64_FROM_LE (doff);
  dlen = GUINT64_FROM_LE (dlen);
  g_autofree char *header = g_strndup ((const char *) data + 32, hlen);
  char *hit = strstr (header, from);
  g_assert_nonnull (hit);
  g_autoptr (GString) h = g_string_new_len (header, hit - header);
  g_string_append (h, to);
  g_string_append (h, hit + strlen (from));
  guint64 new_off = (32 + h->len + 63) / 64 * 64;
  gsize new_len = new_off + dlen + 32;
  guint8 *buf = g_malloc0 (new_len);
  memcpy (buf, data, 32);
  guint32 hl = GUINT32_TO_LE ((guint32) h->len);
  guint64 no = GUINT64_TO_LE (new_off);
  memcpy (buf + 12, &hl, 4);
  memcpy (buf + 16, &no, 8);
  memcpy (buf + 32, h->str, h->len);
  memcpy (buf + new_off, data + doff, dlen);
  rehash (buf, new_len);
  return g_bytes_new_take (buf, new_len);
}

static void
test_hostile_headers (void)
{
  g_autoptr (GBytes) full = make_model (BT_PRESET_SMALL_CNN, 8, 8, 1, 3, 0, NULL);
  const struct { const char *from, *to; int code; } cases[] = {
    { "shape=32;1;3;3;", "shape=32;1;3;4;", BT_ENGINE_ERROR_CORRUPT },
    { "shape=32;1;3;3;", "shape=-1;1;3;3;", BT_ENGINE_ERROR_CORRUPT },
    { "shape=32;1;3;3;", "shape=99999999", BT_ENGINE_ERROR_CORRUPT },
    { "shape=32;1;3;3;", "shape=2147483647;2147483647", BT_ENGINE_ERROR_CORRUPT },
    { "offset=1152", "offset=1153", BT_ENGINE_ERROR_CORRUPT },
    { "offset=1152", "offset=-64", BT_ENGINE_ERROR_CORRUPT },
    { "offset=1152", "offset=9223372036854775807", BT_ENGINE_ERROR_CORRUPT },
    { "name=conv1.bias", "name=conv1.weight", BT_ENGINE_ERROR_CORRUPT },
    { "name=conv1.bias", "name=conv9.bias", BT_ENGINE_ERROR_CORRUPT },
    { "dtype=f32le", "dtype=f16le", BT_ENGINE_ERROR_CORRUPT },
    { "count=8", "count=9", BT_ENGINE_ERROR_CORRUPT },
    { "count=8", "count=-1", BT_ENGINE_ERROR_CORRUPT },
    { "count=8", "count=99999999", BT_ENGINE_ERROR_CORRUPT },
    { "preset=small-cnn", "preset=big-cnn", BT_ENGINE_ERROR_UNSUPPORTED },
    { "classes=3", "classes=0", BT_ENGINE_ERROR_CORRUPT },
    { "classes=3", "classes=4", BT_ENGINE_ERROR_CORRUPT },
    { "input-width=8", "input-width=9", BT_ENGINE_ERROR_CORRUPT },
    { "input-width=8", "input-width=0", BT_ENGINE_ERROR_CORRUPT },
    { "width=8", "width=9", BT_ENGINE_ERROR_CORRUPT },
    { "resize=squash", "resize=stretch", BT_ENGINE_ERROR_CORRUPT },
    { "scale=0.0039", "scale=nan", BT_ENGINE_ERROR_CORRUPT },
    { "0=gatto", "0=猫", BT_ENGINE_ERROR_CORRUPT },   /* duplicate name */
    { "0=gatto", "0=", BT_ENGINE_ERROR_CORRUPT },
    { "[classes]", "[klasses]", BT_ENGINE_ERROR_CORRUPT },
    { "[model]", "[model", BT_ENGINE_ERROR_CORRUPT },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GBytes) b = patch_header (full, cases[i].from, cases[i].to);
      g_autoptr (GError) error = NULL;
      g_autoptr (BtModel) m = bt_model_load_bytes (b, &error);
      if (m != NULL)
        g_error ("accepted a header with “%s” → “%s”", cases[i].from, cases[i].to);
      g_assert_error (error, BT_ENGINE_ERROR, cases[i].code);
      g_test_message ("%s → %s: %s", cases[i].from, cases[i].to, error->message);
    }
  /* binary preamble fields */
  gsize len;
  const guint8 *data = g_bytes_get_data (full, &len);
  const struct { gsize off; guint32 value; int code; } pre[] = {
    { 8, 4, BT_ENGINE_ERROR_UNSUPPORTED },     /* a newer format version (2: self-contained, 3: fine-tuned) */
    { 8, 3, BT_ENGINE_ERROR_CORRUPT },         /* version 3 without fine-tuned backbone operators */
    { 12, 0, BT_ENGINE_ERROR_CORRUPT },        /* header length */
    { 12, 0xffffffffu, BT_ENGINE_ERROR_CORRUPT },
    { 16, 0x40u, BT_ENGINE_ERROR_CORRUPT },    /* data offset inside the header */
    { 20, 0xffffffffu, BT_ENGINE_ERROR_CORRUPT },  /* data offset 2^63-ish */
    { 24, 0x10u, BT_ENGINE_ERROR_CORRUPT },    /* data length */
    { 28, 0xffffffffu, BT_ENGINE_ERROR_CORRUPT },
  };
  for (guint i = 0; i < G_N_ELEMENTS (pre); i++)
    {
      g_autofree guint8 *buf = g_memdup2 (data, len);
      guint32 v = GUINT32_TO_LE (pre[i].value);
      memcpy (buf + pre[i].off, &v, 4);
      rehash (buf, len);
      g_autoptr (GBytes) b = g_bytes_new_static (buf, len);
      g_autoptr (GError) error = NULL;
      g_assert_null (bt_model_load_bytes (b, &error));
      g_assert_error (error, BT_ENGINE_ERROR, pre[i].code);
    }
  /* a NaN weight with a valid checksum */
  {
    g_autofree guint8 *buf = g_memdup2 (data, len);
    guint64 off;
    memcpy (&off, buf + 16, 8);
    off = GUINT64_FROM_LE (off);
    guint32 nan = GUINT32_TO_LE (0x7fc00000u);
    memcpy (buf + off + 8, &nan, 4);
    rehash (buf, len);
    g_autoptr (GBytes) b = g_bytes_new_static (buf, len);
    g_autoptr (GError) error = NULL;
    g_assert_null (bt_model_load_bytes (b, &error));
    g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_CORRUPT);
  }
  /* other kinds of file */
  const char *junk[] = { "", "hello", "\x89PNG\r\n\x1a\n0000000000000000000000000000000000000000000000000000" };
  for (guint i = 0; i < G_N_ELEMENTS (junk); i++)
    {
      g_autoptr (GBytes) b = g_bytes_new_static (junk[i], strlen (junk[i]));
      g_autoptr (GError) error = NULL;
      g_assert_null (bt_model_load_bytes (b, &error));
      g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_CORRUPT);
    }
}

static void
test_save_errors (void)
{
  g_autoptr (BtNet) net = bt_net_new_preset (BT_PRESET_MLP, 4, 4, 1, 3, -1, 1, NULL);
  g_autofree char *path = g_build_filename (tmpdir, "e.bottega-model", NULL);
  const char *two[] = { "a", "b", NULL };
  const char *dup[] = { "a", "b", "a", NULL };
  const char *empty[] = { "a", "", "c", NULL };
  const char *ctrl[] = { "a", "b\nc", "c", NULL };
  const char *bad_utf8[] = { "a", "\xff\xfe", "c", NULL };
  const char *good[] = { "a", "b", "c", NULL };
  const char * const *bad[] = { NULL, two, dup, empty, ctrl, bad_utf8 };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_false (bt_model_save (path, net, bad[i], NULL, NULL, NULL, NULL, &error));
      g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID);
      g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
    }
  g_autoptr (GError) error = NULL;
  BtPreprocess prep;
  bt_preprocess_init_default (&prep, 5, 4, 1);   /* does not match the 4×4 input */
  g_assert_false (bt_model_save (path, net, good, &prep, NULL, NULL, NULL, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID);
  g_clear_error (&error);
  g_autoptr (GHashTable) meta = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (meta, "bad key=", "x");
  g_assert_false (bt_model_save (path, net, good, NULL, NULL, NULL, meta, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID);
  g_clear_error (&error);
  /* a net with a NaN weight is never written */
  bt_net_params (net, NULL)[10] = NAN;
  g_assert_false (bt_model_save (path, net, good, NULL, NULL, NULL, NULL, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  bt_net_params (net, NULL)[10] = 0.0f;
  /* unwritable place, missing file */
  g_assert_false (bt_model_save ("/nonexistent-dir/x.bottega-model", net, good, NULL, NULL, NULL, NULL, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_IO);
  g_clear_error (&error);
  g_assert_null (bt_model_load ("/nonexistent-dir/x.bottega-model", &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_IO);
  g_clear_error (&error);
  /* a directory is not a model */
  g_assert_null (bt_model_load (tmpdir, &error));
  g_assert_nonnull (error);
}

static void
test_train_state (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (tmpdir, "state.bin", NULL);
  for (int kind = 0; kind <= BT_OPTIMIZER_ADAMW; kind++)
    {
      g_autoptr (BtNet) a = bt_net_new_preset (BT_PRESET_MINI_RESNET, 8, 8, 3, 3, 0.3f, 4, NULL);
      BtOptimizerConfig cfg;
      bt_optimizer_config_init (&cfg, kind);
      g_autoptr (BtOptimizer) oa = bt_optimizer_new (a, &cfg);
      train_a_bit (a, oa, 3, 1);
      BtTrainState st = { .epoch = 3, .best_score = 0.75, .best_epoch = 2 };
      bt_rng_seed (&st.rng, 77);
      st.extra = g_hash_table_new (g_str_hash, g_str_equal);
      g_hash_table_insert (st.extra, "patience-left", "4");
      g_assert_true (bt_train_state_save (path, a, oa, &st, &error));
      g_assert_no_error (error);
      g_hash_table_unref (st.extra);
      /* a state file is not a model */
      g_assert_null (bt_model_load (path, &error));
      g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_CORRUPT);
      g_clear_error (&error);

      g_autoptr (BtNet) b = bt_net_new_preset (BT_PRESET_MINI_RESNET, 8, 8, 3, 3, 0.3f, 999, NULL);
      g_autoptr (BtOptimizer) ob = bt_optimizer_new (b, &cfg);
      BtTrainState got = { 0 };
      g_assert_true (bt_train_state_load (path, b, ob, &got, &error));
      g_assert_no_error (error);
      g_assert_cmpint (got.epoch, ==, 3);
      g_assert_cmpint (got.best_epoch, ==, 2);
      g_assert_cmpfloat (got.best_score, ==, 0.75);
      g_assert_cmpmem (&got.rng, sizeof got.rng, &st.rng, sizeof st.rng);
      g_assert_cmpint (got.opt_t, ==, 3);
      g_assert_cmpint (bt_optimizer_get_t (ob), ==, 3);
      g_assert_cmpstr (g_hash_table_lookup (got.extra, "patience-left"), ==, "4");
      g_hash_table_unref (got.extra);
      /* resumed training continues exactly like the original (dropout stream included) */
      train_a_bit (a, oa, 3, 2);
      train_a_bit (b, ob, 3, 2);
      gsize n;
      g_assert_cmpmem (bt_net_params (a, &n), n * 4, bt_net_params (b, NULL), n * 4);

      /* a different net or optimizer is refused and left untouched */
      g_autoptr (BtNet) other = bt_net_new_preset (BT_PRESET_MINI_RESNET, 8, 8, 3, 4, 0.3f, 4, NULL);
      g_autoptr (BtOptimizer) oo = bt_optimizer_new (other, &cfg);
      g_autofree float *before = g_memdup2 (bt_net_params (other, &n), bt_net_n_params (other) * 4);
      BtTrainState junk = { 0 };
      g_assert_false (bt_train_state_load (path, other, oo, &junk, &error));
      g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID);
      g_clear_error (&error);
      g_assert_cmpmem (before, n * 4, bt_net_params (other, NULL), n * 4);
      BtOptimizerConfig cfg2;
      bt_optimizer_config_init (&cfg2, (kind + 1) % 3);
      g_autoptr (BtOptimizer) ob2 = bt_optimizer_new (b, &cfg2);
      g_assert_false (bt_train_state_load (path, b, ob2, &junk, &error));
      g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID);
      g_clear_error (&error);
    }
  g_unlink (path);
}

static gboolean
bytes_contain (GBytes *b, const char *needle)
{
  gsize len, n = strlen (needle);
  const char *d = g_bytes_get_data (b, &len);
  for (gsize i = 0; i + n <= len; i++)
    if (memcmp (d + i, needle, n) == 0)
      return TRUE;
  return FALSE;
}

/* The [inference] flag: recorded and read back; a model without it is byte for byte what the
 * older writer made and loads with none; bad values are damage, a later kind is ignored. */
static void
test_tta_flag (void)
{
  g_autoptr (GError) error = NULL;
  BtNet *net = NULL;
  g_autoptr (GBytes) plain = make_model (BT_PRESET_SMALL_CNN, 8, 8, 1, 3, 0, &net);
  const char *names[] = { "gatto", "Süßigkeit", "猫", NULL };
  BtModel m = { .net = net, .class_names = (char **) names, .tta = BT_TTA_NONE };

  bt_preprocess_init_default (&m.prep, 8, 8, 1);
  bt_calibration_init (&m.calib);
  /* without the flag: loads as before, no [inference] group, none */
  g_autoptr (BtModel) p = bt_model_load_bytes (plain, &error);
  g_assert_no_error (error);
  g_assert_cmpint (p->tta, ==, BT_TTA_NONE);
  g_assert_false (bytes_contain (plain, "[inference]"));
  g_assert_false (bytes_contain (plain, "test-time"));
  m.tta = BT_TTA_MIRROR;
  g_autoptr (GBytes) with = bt_model_to_bytes (&m, &error);
  g_assert_no_error (error);
  g_autoptr (BtModel) w = bt_model_load_bytes (with, &error);
  g_assert_no_error (error);
  g_assert_cmpint (w->tta, ==, BT_TTA_MIRROR);
  g_assert_true (bytes_contain (with, "[inference]\ntest-time-augmentation=mirror"));
  /* the whole model saves again with it (what the fuzzer checks too) */
  g_autoptr (GBytes) again = bt_model_to_bytes (w, &error);
  g_assert_no_error (error);
  g_autoptr (BtModel) w2 = bt_model_load_bytes (again, &error);
  g_assert_cmpint (w2->tta, ==, BT_TTA_MIRROR);
  const struct { const char *to; gboolean loads; } cases[] = {
    { "test-time-augmentation=none", TRUE },
    { "test-time-augmentation=mirror-and-crop", TRUE },   /* a later kind: predicts without */
    { "test-time-augmentation=", FALSE },
    { "test-time-augmentation=Mirror", FALSE },
    { "test-time-augmentation=mirror;x", FALSE },
    { "test-time-augmentation=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", FALSE },   /* 33 characters */
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GBytes) b = patch_header (with, "test-time-augmentation=mirror", cases[i].to);
      g_autoptr (GError) e = NULL;
      g_autoptr (BtModel) x = bt_model_load_bytes (b, &e);
      if ((x != NULL) != cases[i].loads)
        g_error ("“%s”: %s", cases[i].to, x != NULL ? "loaded" : e->message);
      if (x != NULL)
        g_assert_cmpint (x->tta, ==, BT_TTA_NONE);
      else
        g_assert_error (e, BT_ENGINE_ERROR, BT_ENGINE_ERROR_CORRUPT);
    }
  m.tta = (BtTta) 7;
  g_assert_null (bt_model_to_bytes (&m, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID);
  bt_net_free (net);
}

/* Per-class thresholds (#23): saved only when set, round-trip, decide the answer, and a damaged
 * or absurd value refuses the file. */
static void
test_class_thresholds (void)
{
  g_autoptr (GError) error = NULL;
  BtNet *net = NULL;
  g_autoptr (GBytes) plain = make_model (BT_PRESET_SMALL_CNN, 8, 8, 1, 3, 0, &net);
  g_autoptr (BtModel) m = bt_model_load_bytes (plain, &error);
  const float probs[] = { 0.2f, 0.7f, 0.1f };

  g_assert_no_error (error);
  bt_net_free (net);
  /* a file without them (every file before them): none, every answer accepted */
  g_assert_null (m->class_thresholds);
  g_assert_false (bytes_contain (plain, "[thresholds]"));
  g_assert_true (isnan (bt_model_get_threshold (m, 1)));
  g_assert_cmpint (bt_model_answer (m, probs, NAN, NULL), ==, BT_ANSWER_CLASS);

  /* refused before anything is changed */
  g_assert_false (bt_model_set_threshold (m, 1, 1.5, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (bt_model_set_threshold (m, 1, INFINITY, &error));
  g_clear_error (&error);
  g_assert_false (bt_model_set_threshold (m, 1, -0.1, &error));
  g_clear_error (&error);
  g_assert_null (m->class_thresholds);

  g_assert_true (bt_model_set_threshold (m, 1, 0.8, &error));
  g_assert_true (bt_model_set_threshold (m, 2, 0.25, &error));
  g_autoptr (GBytes) with = bt_model_to_bytes (m, &error);
  g_assert_no_error (error);
  g_assert_true (bytes_contain (with, "[thresholds]\n1=0.8\n2=0.25\n"));
  g_autoptr (BtModel) back = bt_model_load_bytes (with, &error);
  g_assert_no_error (error);
  g_assert_true (isnan (bt_model_get_threshold (back, 0)));
  g_assert_cmpfloat (bt_model_get_threshold (back, 1), ==, 0.8);
  g_assert_cmpfloat (bt_model_get_threshold (back, 2), ==, 0.25);

  /* the answer: 0.7 for class 1 is under its 0.8; at 0.7 exactly it is accepted */
  int top = -1;
  g_assert_cmpint (bt_model_answer (back, probs, NAN, &top), ==, BT_ANSWER_BELOW_THRESHOLD);
  g_assert_cmpint (top, ==, 1);
  g_assert_true (bt_model_set_threshold (back, 1, 0.7f, &error));
  g_assert_cmpint (bt_model_answer (back, probs, NAN, NULL), ==, BT_ANSWER_CLASS);
  /* an unknown image is unknown first */
  back->calib.unknown_threshold = -2.0;
  g_assert_true (bt_model_set_threshold (back, 1, 0.9, &error));
  g_assert_cmpint (bt_model_answer (back, probs, -1.0, NULL), ==, BT_ANSWER_UNKNOWN);
  g_assert_cmpint (bt_model_answer (back, probs, -3.0, NULL), ==, BT_ANSWER_BELOW_THRESHOLD);
  /* 0 (or NAN) removes it: no group is written, and none comes back */
  g_assert_true (bt_model_set_threshold (m, 1, 0.0, &error));
  g_assert_true (bt_model_set_threshold (m, 2, NAN, &error));
  g_autoptr (GBytes) removed = bt_model_to_bytes (m, &error);
  g_assert_no_error (error);
  g_assert_false (bytes_contain (removed, "[thresholds]"));
  g_autoptr (BtModel) none = bt_model_load_bytes (removed, &error);
  g_assert_no_error (error);
  g_assert_null (none->class_thresholds);

  /* hostile values with a valid checksum: refused with a message naming the class */
  const char *bad[] = { "1=nan\n", "1=inf\n", "1=-0.5\n", "1=1.0001\n", "1=7\n", "1=\n", "1=0.8x\n",
                        "1=1e999\n", "3=0.8\n", "-1=0.8\n", "x=0.8\n", "99999999999999999999=0.5\n" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GBytes) b = patch_header (with, "1=0.8\n", bad[i]);
      g_autoptr (GError) e = NULL;
      g_autoptr (BtModel) x = bt_model_load_bytes (b, &e);
      if (x != NULL)
        g_error ("accepted the threshold “%s”", bad[i]);
      g_assert_error (e, BT_ENGINE_ERROR, BT_ENGINE_ERROR_CORRUPT);
      g_assert_nonnull (strstr (e->message, "threshold"));
      g_test_message ("%s: %s", bad[i], e->message);
    }
  {
    g_autoptr (GBytes) b = patch_header (with, "1=0.8\n", "1=7\n");
    g_autoptr (GError) e = NULL;
    g_assert_null (bt_model_load_bytes (b, &e));
    g_assert_nonnull (strstr (e->message, "“Süßigkeit”"));
  }
}

/* Replaces the float `from` in the tensor data by `to` and seals the file's SHA-256 again. */
static GBytes *
patch_float (GBytes *orig, float from, float to)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (orig, &len);
  guint8 *buf = g_memdup2 (data, len);
  guint8 *hit = memmem (buf, len - 32, &from, 4);
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  gsize dlen = 32;

  g_assert_nonnull (hit);
  memcpy (hit, &to, 4);
  g_checksum_update (sum, buf, len - 32);
  g_checksum_get_digest (sum, buf + len - 32, &dlen);
  return g_bytes_new_take (buf, len);
}

/* Class centroids (#23): absent in older files, saved with the combined unknown score and read
 * back exactly; counts, lengths, non-finite values and spreads not above 0 refuse the file with
 * a message, and the saver refuses what the loader would. */
static void
test_class_centroids (void)
{
  g_autoptr (GError) error = NULL;
  BtNet *net = NULL;
  g_autoptr (GBytes) plain = make_model (BT_PRESET_SMALL_CNN, 8, 8, 1, 3, 0, &net);
  g_autoptr (BtModel) m = bt_model_load_bytes (plain, &error);
  int dim = bt_net_feature_dim (net);

  g_assert_no_error (error);
  bt_net_free (net);
  g_assert_cmpint (dim, ==, 64 * 2 * 2);   /* the Small CNN's second pool, flattened (8×8 input) */
  g_assert_null (m->centroids);
  g_assert_false (bytes_contain (plain, "[centroids]"));
  m->centroids = bt_centroids_new (3, dim);
  for (int i = 0; i < 3 * dim; i++)
    {
      m->centroids->mean[i] = (float) (i % 7) - 2.5f;
      m->centroids->spread[i] = 0.25f + (float) (i % 5);
    }
  m->centroids->spread[7] = 12345.0f;   /* found again below */
  m->calib.temperature = 1.5;
  m->calib.unknown_threshold = 0.75;
  m->calib.energy_center = -6.5;
  m->calib.energy_scale = 1.25;
  m->calib.distance_center = 0.875;
  m->calib.distance_scale = 0.5;
  m->calib.energy_threshold = -5.25;
  g_autoptr (GBytes) with = bt_model_to_bytes (m, &error);
  g_assert_no_error (error);
  g_assert_true (bytes_contain (with, "[centroids]\nclasses=3\ndim=256\n"));
  g_assert_true (bytes_contain (with, "unknown-score=energy+centroid-distance"));
  g_autoptr (BtModel) back = bt_model_load_bytes (with, &error);
  g_assert_no_error (error);
  g_assert_nonnull (back->centroids);
  g_assert_cmpmem (back->centroids->mean, 3 * dim * 4, m->centroids->mean, 3 * dim * 4);
  g_assert_cmpmem (back->centroids->spread, 3 * dim * 4, m->centroids->spread, 3 * dim * 4);
  g_assert_true (bt_calibration_uses_centroids (&back->calib));
  g_assert_cmpfloat (back->calib.energy_center, ==, -6.5);
  g_assert_cmpfloat (back->calib.distance_scale, ==, 0.5);
  g_assert_cmpfloat (bt_calibration_energy_threshold (&back->calib), ==, -5.25);
  g_assert_cmpfloat (back->calib.unknown_threshold, ==, 0.75);
  {
    /* saved again: the same bytes (what fuzz-model checks for every file that loads) */
    g_autoptr (GBytes) again = bt_model_to_bytes (back, &error);
    g_assert_no_error (error);
    g_assert_true (g_bytes_equal (again, with));
  }

  /* hostile values with a valid checksum: refused, never half-loaded */
  const struct { const char *from, *to; } bad[] = {
    { "classes=3\ndim=256", "classes=2\ndim=256" },
    { "classes=3\ndim=256", "classes=3\ndim=255" },
    { "classes=3\ndim=256", "classes=3\ndim=x" },
    { "[centroids]", "[centroidz]" },             /* tensors without their section; a combined score without centroids */
    { "energy-scale=1.25", "energy-scale=-1.25" },
    { "distance-scale=0.5", "distance-scale=0" },
    { "distance-center=0.875", "distance-center=nan" },
    { "energy-threshold=-5.25", "energy-threshold=inf" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GBytes) b = patch_header (with, bad[i].from, bad[i].to);
      g_autoptr (GError) e = NULL;
      g_autoptr (BtModel) x = bt_model_load_bytes (b, &e);
      if (x != NULL)
        g_error ("accepted “%s”", bad[i].to);
      g_assert_error (e, BT_ENGINE_ERROR, BT_ENGINE_ERROR_CORRUPT);
      g_test_message ("%s: %s", bad[i].to, e->message);
    }
  const float bad_values[] = { -12345.0f, 0.0f, NAN, INFINITY };
  for (guint i = 0; i < G_N_ELEMENTS (bad_values); i++)
    {
      g_autoptr (GBytes) b = patch_float (with, 12345.0f, bad_values[i]);
      g_autoptr (GError) e = NULL;
      g_autoptr (BtModel) x = bt_model_load_bytes (b, &e);
      g_assert_null (x);
      g_assert_error (e, BT_ENGINE_ERROR, BT_ENGINE_ERROR_CORRUPT);
      g_assert_nonnull (strstr (e->message, "centroid"));
    }
  /* the saver refuses the same */
  m->centroids->spread[7] = -1.0f;
  g_assert_null (bt_model_to_bytes (m, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID);
  g_clear_error (&error);
  m->centroids->spread[7] = 1.0f;
  {
    BtCentroids *wrong = bt_centroids_new (2, dim);
    for (int i = 0; i < 2 * dim; i++)
      wrong->spread[i] = 1.0f;
    bt_centroids_free (m->centroids);
    m->centroids = wrong;
    g_assert_null (bt_model_to_bytes (m, &error));
    g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID);
    g_clear_error (&error);
  }
  /* a combined score without centroids cannot be saved */
  g_clear_pointer (&m->centroids, bt_centroids_free);
  g_assert_null (bt_model_to_bytes (m, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID);
}

/* A backbone's SHA-256 is 64 hex digits, for the saver and the loader alike, and always comes
 * back in lower case: fuzz-model found a model whose upper-case SHA-256 of an embedded backbone
 * loaded, but saved (in lower case) to a file that read back differently. */
static void
test_backbone_sha256 (void)
{
  g_autoptr (GError) error = NULL;
  BtNet *net_raw = NULL;
  g_autoptr (GBytes) plain = make_model (BT_PRESET_TRANSFER, 1, 1, 6, 3, 4, &net_raw);
  g_autoptr (BtNet) net = net_raw;
  const char *names[] = { "gatto", "Süßigkeit", "猫", NULL };
  BtPreprocess prep;
  bt_preprocess_init_default (&prep, 32, 32, 3);
  /* the saver refuses what is not 64 hex digits */
  const char *bad[] = { "abc123", "0123abcd", "g" "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0",
                        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 " };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_null (bt_model_save_to_bytes (net, names, &prep, "bb", bad[i], NULL, &error));
      g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID);
      g_clear_error (&error);
    }
  /* ... and the loader refuses the same in a correctly checksummed file */
  const char *good = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
  g_autoptr (GBytes) ok = bt_model_save_to_bytes (net, names, &prep, "bb", good, NULL, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *from = g_strdup_printf ("sha256=%s", good);
      g_autofree char *to = g_strdup_printf ("sha256=%s", bad[i]);
      g_autoptr (GBytes) b = patch_header (ok, from, to);
      g_autoptr (BtModel) m = bt_model_load_bytes (b, &error);
      g_assert_null (m);
      g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_CORRUPT);
      g_clear_error (&error);
    }
  /* upper case in the file: loaded in lower case */
  g_autofree char *upper = g_ascii_strup (good, -1);
  g_autofree char *to_upper = g_strdup_printf ("sha256=%s", upper);
  g_autofree char *from_good = g_strdup_printf ("sha256=%s", good);
  g_autoptr (GBytes) ub = patch_header (ok, from_good, to_upper);
  g_autoptr (BtModel) um = bt_model_load_bytes (ub, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (um->backbone_sha256, ==, good);
  /* an embedded backbone named by its upper-case SHA-256: load → save → load keeps it */
  static const guint8 blob_bytes[] = "not really a TFLite file, but bytes with a known SHA-256";
  g_autoptr (GBytes) blob = g_bytes_new_static (blob_bytes, sizeof blob_bytes);
  g_autofree char *blob_sha = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, blob);
  g_autofree char *blob_upper = g_ascii_strup (blob_sha, -1);
  g_autoptr (GBytes) whole = bt_model_save_to_bytes_full (net, names, &prep, "bb", blob_upper, blob, NULL, &error);
  g_assert_no_error (error);
  g_autofree char *from_blob = g_strdup_printf ("sha256=%s", blob_sha);
  g_autofree char *to_blob = g_strdup_printf ("sha256=%s", blob_upper);
  g_autoptr (GBytes) whole_upper = patch_header (whole, from_blob, to_blob);
  g_autoptr (BtModel) a = bt_model_load_bytes (whole_upper, &error);
  g_assert_no_error (error);
  g_autoptr (GBytes) again = bt_model_save_to_bytes_full (a->net, (const char * const *) a->class_names, &a->prep,
                                                          a->backbone_name, a->backbone_sha256, a->backbone_data,
                                                          a->metadata, &error);
  g_assert_no_error (error);
  g_autoptr (BtModel) back = bt_model_load_bytes (again, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (back->backbone_sha256, ==, a->backbone_sha256);
  g_assert_cmpstr (a->backbone_sha256, ==, blob_sha);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  bt_engine_set_threads (1);
  tmpdir = g_dir_make_tmp ("bt-test-model-XXXXXX", NULL);
  g_test_add_func ("/model/round-trip", test_round_trip);
  g_test_add_func ("/model/every-truncation", test_every_truncation);
  g_test_add_func ("/model/bit-flips", test_bit_flips);
  g_test_add_func ("/model/hostile-headers", test_hostile_headers);
  g_test_add_func ("/model/backbone-sha256", test_backbone_sha256);
  g_test_add_func ("/model/save-errors", test_save_errors);
  g_test_add_func ("/model/train-state", test_train_state);
  g_test_add_func ("/model/test-time-augmentation", test_tta_flag);
  g_test_add_func ("/model/class-thresholds", test_class_thresholds);
  g_test_add_func ("/model/class-centroids", test_class_centroids);
  int rc = g_test_run ();
  g_rmdir (tmpdir);
  g_free (tmpdir);
  return rc;
}
