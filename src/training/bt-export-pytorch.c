/* bt-export-pytorch.c: the PyTorch training folder of bt-export-pytorch.h. train.py is a fixed
 * script (GResource); everything project-specific goes to config.json beside it, and for
 * transfer projects the backbone's embeddings go to .npy files in embeddings/. */
#include "config.h"

#include "training/bt-export-pytorch.h"
#include "training/bt-export-resources.h"
#include "training/bt-transfer.h"
#include "training/bt-run-files.h"
#include "engine/bt-net-walk.h"
#include "engine/bt-onnx.h"
#include "engine/bt-tflite.h"

#include <errno.h>
#include <math.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>

typedef struct {
  char              *out_dir;
  char              *project_dir;
  char              *project_name;
  BtProjectSettings  settings;
  GPtrArray         *class_names;  /* char*, NULL-terminated */
  GPtrArray         *paths, *classes, *splits;
  GArray            *row_of_item;  /* int: labels.csv data row of item i, -1 when left out */
  /* async progress: the worker posts the latest counts, one idle at a time reports them */
  BtThrottle        *progress;
} Snapshot;

static void
snapshot_free (Snapshot *s)
{
  g_free (s->out_dir);
  g_free (s->project_dir);
  g_free (s->project_name);
  bt_project_settings_clear (&s->settings);
  g_ptr_array_unref (s->class_names);
  g_ptr_array_unref (s->paths);
  g_ptr_array_unref (s->classes);
  g_ptr_array_unref (s->splits);
  g_array_unref (s->row_of_item);
  g_clear_pointer (&s->progress, bt_throttle_unref);
  g_free (s);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Snapshot, snapshot_free)

static Snapshot *
snapshot_new (BtProject *project, const char *out_dir)
{
  Snapshot *s = g_new0 (Snapshot, 1);
  s->out_dir = g_strdup (out_dir);
  s->project_dir = g_strdup (bt_project_get_dir (project));
  /* A worker may reopen project_dir: the project's writer thread must have written it. */
  bt_project_flush (project, NULL);
  s->project_name = g_strdup (bt_project_get_name (project));
  bt_project_settings_copy (&s->settings, bt_project_get_settings (project));
  s->class_names = g_ptr_array_new_with_free_func (g_free);
  GListModel *classes = bt_project_get_classes (project);
  for (guint i = 0; i < g_list_model_get_n_items (classes); i++)
    {
      g_autoptr(BtClassInfo) info = g_list_model_get_item (classes, i);
      g_ptr_array_add (s->class_names, g_strdup (bt_class_info_get_name (info)));
    }
  g_ptr_array_add (s->class_names, NULL);
  s->paths = g_ptr_array_new_with_free_func (g_free);
  s->classes = g_ptr_array_new_with_free_func (g_free);
  s->splits = g_ptr_array_new ();
  s->row_of_item = g_array_new (FALSE, FALSE, sizeof (int));
  GListModel *items = bt_project_get_items (project);
  for (guint i = 0; i < g_list_model_get_n_items (items); i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (items, i);
      int row = -1;
      if (bt_item_get_excluded (it) || bt_item_get_missing (it))
        {
          g_array_append_val (s->row_of_item, row);
          continue;
        }
      row = (int) s->paths->len;
      g_array_append_val (s->row_of_item, row);
      g_ptr_array_add (s->paths, g_strdup (bt_item_get_path (it)));
      g_ptr_array_add (s->classes, g_strdup (bt_item_get_class_name (it)));
      g_ptr_array_add (s->splits, (gpointer) bt_split_to_string (bt_item_get_split (it)));
    }
  return s;
}

static gboolean
write_file (const char *dir, const char *name, const void *data, gsize len, GError **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr(GError) local = NULL;
  if (!g_file_set_contents_full (path, data, (gssize) len,
                                 G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                 g_str_has_suffix (name, ".py") ? 0755 : 0644, &local))
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO, _("Cannot write “%s”: %s"), path, local->message);
      return FALSE;
    }
  return TRUE;
}

static void
json_key (GString *j, const char *key)
{
  bt_json_append_string (j, key);
  g_string_append_c (j, ':');
}

/* What the transfer export wrote into embeddings/, for config.json and the README. */
typedef struct {
  const char *backbone_name, *backbone_sha256;
  int         dim;
  guint       n_rows[3];      /* rows of <split>_x.npy (train: every augmented variant too) */
  guint       n_images[3];    /* distinct images behind them */
  guint       n_failed;       /* usable images the backbone could not read */
  gboolean    variants;
  int         n_layers;       /* backbone.json's layers (the backbone's float graph) */
  gboolean    fine_tuned;     /* they carry the project's model's fine-tuned weights */
  const char *graph_model;    /* the model file whose backbone they are, or NULL: the project's backbone */
} TransferInfo;

static const char *split_ids[3] = { "train", "val", "test" };

/* The table's rows marked IN_JSON, keys with '_' for '-'; the dropout is the network's own (the
 * preset's when the setting says "default"), the seed what numpy takes. */
static void
append_settings_json (GString *j, const BtProjectSettings *st, float dropout)
{
  guint n_rows;
  const BtSettingInfo *rows = bt_settings_table (&n_rows);
  g_string_append_c (j, '{');
  for (guint i = 0; i < n_rows; i++)
    {
      const BtSettingInfo *row = &rows[i];
      if (!(row->flags & BT_SETTING_IN_JSON))
        continue;
      g_autofree char *key = g_strdelimit (g_strdup (row->run_key), "-", '_');
      json_key (j, key);
      switch (row->type)
        {
        case BT_SETTING_DOUBLE:
          bt_json_append_float (j, (float) bt_setting_get_number (row, st));
          break;
        case BT_SETTING_BOOL:
          g_string_append (j, bt_setting_get_number (row, st) != 0 ? "true" : "false");
          break;
        case BT_SETTING_UINT64:
          g_string_append_printf (j, "%" G_GUINT64_FORMAT, st->seed % G_GUINT64_CONSTANT (4294967296));
          break;
        case BT_SETTING_STRING:
        case BT_SETTING_CHOICE:
        case BT_SETTING_ENUM:
          {
            g_autofree char *v = bt_setting_to_string (row, st);
            bt_json_append_string (j, v);
            break;
          }
        case BT_SETTING_INT:
        default:
          g_string_append_printf (j, "%d", (int) bt_setting_get_number (row, st));
          break;
        }
      g_string_append_c (j, ',');
    }
  g_string_append (j, "\"dropout\":");
  bt_json_append_float (j, dropout);
  /* Bottega's trainer scores and keeps the weights' moving average (bt_optimizer_swap_average) */
  g_string_append (j, ",\"weight_average_decay\":");
  bt_json_append_float (j, BT_WEIGHT_AVERAGE_DECAY);
  g_string_append_c (j, '}');
}

static char *
config_json (const Snapshot *s, BtNet *net, const BtPreprocess *prep, const TransferInfo *ti)
{
  const BtProjectSettings *st = &s->settings;
  GString *j = g_string_new ("{\n  ");
  json_key (j, "format");
  g_string_append (j, "\"bottega-pytorch-export-1\",\n  ");
  json_key (j, "project");
  bt_json_append_string (j, s->project_name ? s->project_name : "");
  g_string_append (j, ",\n  ");
  json_key (j, "preset");
  bt_json_append_string (j, bt_preset_to_id (bt_net_preset (net)));
  g_string_append (j, ",\n  ");
  json_key (j, "classes");
  g_autofree char *labels = bt_onnx_labels_json ((const char * const *) s->class_names->pdata);
  g_string_append (j, labels);
  g_string_append (j, ",\n  ");
  json_key (j, "input");
  g_string_append_printf (j, "{\"width\":%d,\"height\":%d,\"channels\":%d,\"resize\":",
                          prep->width, prep->height, prep->channels);
  bt_json_append_string (j, bt_resize_mode_to_string (prep->resize));
  g_string_append (j, "},\n  ");
  json_key (j, "preprocessing");
  g_autofree char *pj = bt_onnx_preprocessing_json (prep);
  g_string_append (j, pj);
  g_string_append (j, ",\n  ");
  json_key (j, "transfer");
  if (ti == NULL)
    g_string_append (j, "null");
  else
    {
      g_string_append (j, "{\"backbone\":");
      bt_json_append_string (j, ti->backbone_name);
      g_string_append (j, ",\"backbone_sha256\":");
      bt_json_append_string (j, ti->backbone_sha256);
      g_string_append_printf (j, ",\"dim\":%d,\"hidden\":%d,\"whole_network\":%s,\"augmented_variants\":%s,"
                              "\"network\":{\"graph\":\"backbone.json\",\"weights\":\"backbone.f32\","
                              "\"fine_tuned\":%s,\"from_model\":",
                              ti->dim, bt_net_hidden (net), s->settings.transfer_whole_network ? "true" : "false",
                              ti->variants ? "true" : "false", ti->fine_tuned ? "true" : "false");
      if (ti->graph_model != NULL)
        bt_json_append_string (j, ti->graph_model);
      else
        g_string_append (j, "null");
      g_string_append (j, "},\"splits\":{");
      for (int k = 0; k < 3; k++)
        g_string_append_printf (j, "%s\"%s\":{\"x\":\"embeddings/%s_x.npy\",\"y\":\"embeddings/%s_y.npy\","
                                "\"row\":\"embeddings/%s_row.npy\",\"samples\":%u,\"images\":%u}",
                                k ? "," : "", split_ids[k], split_ids[k], split_ids[k], split_ids[k],
                                ti->n_rows[k], ti->n_images[k]);
      g_string_append (j, "}}");
    }
  g_string_append (j, ",\n  ");
  /* the decision rule of the project's current model (Test page, predict): its calibration
   * temperature and thresholds, which `train.py --model` applies to that model's probabilities */
  json_key (j, "current_model");
  g_autofree char *current = bt_run_files_default_model (s->project_dir);
  g_autoptr(BtModel) cm = current != NULL ? bt_model_load (current, NULL) : NULL;
  if (cm == NULL)
    g_string_append (j, "null");
  else
    {
      g_autofree char *base = g_path_get_basename (current);
      g_autofree char *rule = bt_onnx_decision_json (cm);
      g_string_append (j, "{\"file\":");
      bt_json_append_string (j, base);
      g_string_append_printf (j, ",%s", rule + 1);
    }
  g_string_append (j, ",\n  ");
  json_key (j, "settings");
  append_settings_json (j, st, bt_net_dropout (net));
  g_string_append (j, ",\n  ");
  json_key (j, "layers");
  g_string_append (j, "[\n");
  static const char *acts[] = { "none", "relu", "relu6" };
  guint n = bt_net_n_layers (net);
  for (guint i = 0; i < n; i++)
    {
      BtNetLayerInfo l;
      bt_net_get_layer (net, i, &l);
      g_string_append (j, "    {\"op\":");
      bt_json_append_string (j, l.op_id);
      g_string_append (j, ",\"name\":");
      bt_json_append_string (j, l.name);
      g_string_append_printf (j, ",\"src\":%d,\"src2\":%d,\"act\":\"%s\",\"in_c\":%d,\"in_h\":%d,\"in_w\":%d,"
                              "\"c\":%d,\"h\":%d,\"w\":%d,\"kh\":%d,\"kw\":%d,\"sh\":%d,\"sw\":%d,"
                              "\"pad_top\":%d,\"pad_left\":%d,\"pad_bottom\":%d,\"pad_right\":%d,"
                              "\"groups\":%d,\"has_bias\":%s,\"p\":",
                              l.src, l.src2, acts[l.act], l.in_c, l.in_h, l.in_w, l.c, l.h, l.w,
                              l.kh, l.kw, l.sh, l.sw, l.pad_top, l.pad_left, l.pad_bottom, l.pad_right,
                              l.groups, l.bias ? "true" : "false");
      bt_json_append_float (j, l.p);
      g_string_append (j, ",\"eps\":");
      bt_json_append_float (j, l.eps);
      g_string_append (j, ",\"momentum\":");
      bt_json_append_float (j, l.momentum);
      g_string_append (j, i + 1 < n ? "},\n" : "}\n");
    }
  g_string_append (j, "  ]\n}\n");
  return g_string_free (j, FALSE);
}

static const char readme_common[] =
  "Options: `--epochs N`, `--batch-size N` (per process), `--lr X`, `--cpu`, `--output FILE`.\n\n"
  "## GPUs and several processes\n\n"
  "The script picks a CUDA GPU when PyTorch sees one (`torch.cuda.is_available()`), unless\n"
  "`--cpu` is given: each process uses the GPU `cuda:LOCAL_RANK`, the model and every batch are\n"
  "moved there, and the processes talk over NCCL. Without a GPU they use the CPU and talk over\n"
  "gloo. Under torchrun every process trains on its own share of the training set\n"
  "(DistributedSampler) and DistributedDataParallel averages the gradients, so `--batch-size`\n"
  "is per process. Bottega's own tests run this script on the CPU only (one process and two\n"
  "gloo processes); the GPU path is the same code with another device and has not been run by\n"
  "those tests.\n\n"
  "Debian 12's PyTorch 1.13 under Python 3.11 has a torchrun bug: it stops at once with\n"
  "`AttributeError: 'NoneType' object has no attribute 'get'`. Use a newer PyTorch, or start\n"
  "the processes yourself with the variables torchrun would set, e.g. for two processes:\n\n"
  "    export MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 WORLD_SIZE=2\n"
  "    RANK=1 LOCAL_RANK=1 python3 train.py & RANK=0 LOCAL_RANK=0 python3 train.py\n\n"
  "## Bringing the model home\n\n"
  "When training ends, process 0 writes `trained.bottega-model` (the format is described in\n"
  "Bottega's docs/model-format.md). Open it in Bottega's Test page (or `bottega-cli predict`);\n"
  "it holds the class names and the preprocessing recipe.\n\n";

static const char readme_template[] =
  "# Training “%s” with PyTorch\n\n"
  "Written by Bottega. This folder trains the project's %s network (input %d×%d, %d channel(s),\n"
  "%u classes) with the project's settings, outside Bottega, on as many GPUs or machines as you have.\n\n"
  "Needs Python 3 with PyTorch, NumPy and Pillow (Debian: `apt install python3-torch python3-pil`).\n\n"
  "    python3 train.py                         # one process; uses a GPU when there is one\n"
  "    torchrun --nproc_per_node=4 train.py     # four processes (DistributedDataParallel)\n"
  "    torchrun --nnodes=2 --node_rank=0 --master_addr=HOST --nproc_per_node=8 train.py\n\n"
  "%s"
  "## Files\n\n"
  "`config.json` (architecture as Bottega's layer list, settings, preprocessing, classes),\n"
  "`labels.csv` (path,class,split; %u images with absolute paths, excluded ones left out),\n"
  "`initial.bottega-model` (Bottega's initial weights, and the header the trained model reuses).\n"
  "The images are read from their original places, decoded and augmented as Bottega does. On a\n"
  "machine where they lie elsewhere, copy them there and pass `--path-map OLD=NEW` (repeatable):\n"
  "a path of labels.csv that starts with OLD is read from NEW + the rest of the path. Every\n"
  "machine of a torchrun job needs the images (`bottega-cli export PROJECT --dataset DIR` copies\n"
  "them into one folder tree).\n";

static const char readme_transfer_template[] =
  "# Training “%s” with PyTorch (transfer learning)\n\n"
  "Written by Bottega. The project uses transfer learning: a pretrained backbone, frozen, turns\n"
  "each image into an embedding of %d numbers, and only a small head is trained on them to\n"
  "tell the project's %u classes apart.\n\n"
  "    backbone: %s\n"
  "    head:     %s\n\n"
  "Bottega has already run the backbone on every image, so this folder holds the embeddings\n"
  "and the script trains the head only: no images are read and no backbone is needed here.\n\n"
  "Needs Python 3 with PyTorch and NumPy (Debian: `apt install python3-torch`).\n\n"
  "    python3 train.py                         # one process; uses a GPU when there is one\n"
  "    torchrun --nproc_per_node=4 train.py     # four processes (DistributedDataParallel)\n\n"
  "%s"
  "%s"
  "%s"
  "## Files\n\n"
  "`embeddings/` holds NumPy `.npy` files (format 1.0, little-endian, no pickled objects; read\n"
  "them with `numpy.load(path, allow_pickle=False)`), one set per split (`train`, `val`, `test`):\n\n"
  "- `SPLIT_x.npy`: float32, rows × %d, one embedding per row;\n"
  "- `SPLIT_y.npy`: int64, the class index of each row (the order of `classes` in config.json);\n"
  "- `SPLIT_row.npy`: int64, the row of `labels.csv` (0 = first line after the header) the\n"
  "  embedding was computed from.\n\n"
  "Rows: train %u (from %u images%s), val %u, test %u.%s\n\n"
  "`config.json` (the head as Bottega's layer list, settings, classes, the backbone's\n"
  "preprocessing), `labels.csv` (path,class,split; %u images, excluded ones left out),\n"
  "`initial.bottega-model` (Bottega's initial head weights and the header the trained model\n"
  "reuses, backbone reference included), `backbone.json` and `backbone.f32` (the backbone's\n"
  "float graph, %d layers: a JSON layer list whose weights are offsets, in floats, into the raw\n"
  "little-endian float32 file; no pickled objects).\n";

static const char readme_network_template[] =
  "## The whole network, in PyTorch\n\n"
  "`backbone.json` and `backbone.f32` hold the backbone %s: every\n"
  "operator from the image to the embedding, with its weights as Bottega's float executor runs\n"
  "them (dequantized, batch norm folded as the file has it%s). `train.py` builds a torch\n"
  "module from them (`BackboneNet`), so a photo goes through backbone and head here too:\n\n"
  "    python3 train.py --model MODEL.bottega-model --predict photo.jpg [more photos…]\n\n"
  "prints, per photo, the class probabilities of MODEL (its head, its calibration temperature,\n"
  "its test-time mirroring), computed from the pixels with the model's preprocessing\n"
  "(`--predict-output P.f32` also writes them as float32, photos × classes). MODEL must be a\n"
  "model of this backbone%s: the script checks its backbone's SHA-256 and\n"
  "fine-tuned weights against these files and refuses another one. Training (`python3 train.py`)\n"
  "still trains a head on the frozen backbone's embeddings below; a head trained that way belongs\n"
  "with the frozen backbone, not with fine-tuned blocks.\n\n";

static gboolean
make_out_dir (const char *dir, GError **error)
{
  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      int e = errno;
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO, _("Cannot create the folder “%s”: %s"),
                   dir, g_strerror (e));
      return FALSE;
    }
  return TRUE;
}

/* train.py, config.json, labels.csv and README.md: the files every export has. */
static gboolean
write_common (const Snapshot *s, const char *config, const char *readme, GError **error)
{
  g_autoptr(GBytes) script = g_resource_lookup_data (bt_export_get_resource (),
                                                     "/io/github/bottega/Bottega/export/train.py",
                                                     G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
  g_assert (script != NULL);
  gsize len;
  const char *data = g_bytes_get_data (script, &len);
  if (!write_file (s->out_dir, "train.py", data, len, error))
    return FALSE;
  if (!write_file (s->out_dir, "config.json", config, strlen (config), error))
    return FALSE;

  g_autoptr(GString) csv = g_string_new ("path,class,split\r\n");
  for (guint i = 0; i < s->paths->len; i++)
    {
      bt_csv_append_value (csv, g_ptr_array_index (s->paths, i));
      g_string_append_c (csv, ',');
      bt_csv_append_value (csv, g_ptr_array_index (s->classes, i));
      g_string_append_c (csv, ',');
      bt_csv_append_value (csv, g_ptr_array_index (s->splits, i));
      g_string_append (csv, "\r\n");
    }
  if (!write_file (s->out_dir, "labels.csv", csv->str, csv->len, error))
    return FALSE;
  return write_file (s->out_dir, "README.md", readme, strlen (readme), error);
}

static gboolean
save_initial (const Snapshot *s, BtNet *net, const BtPreprocess *prep, const char *backbone_name,
              const char *backbone_sha256, GBytes *backbone_data, GError **error)
{
  g_autoptr(GError) local = NULL;
  g_autoptr(GHashTable) meta = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (meta, "source", "pytorch-export");
  g_autofree char *model_path = g_build_filename (s->out_dir, "initial.bottega-model", NULL);
  if (!bt_model_save_full (model_path, net, (const char * const *) s->class_names->pdata, prep, backbone_name,
                           backbone_sha256, backbone_data, meta, &local))
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO, "%s", local->message);
      return FALSE;
    }
  return TRUE;
}

/* A NumPy .npy file, format 1.0: magic, version, header length, a Python-literal dict padded with
 * spaces to a multiple of 64 bytes, then the data in C order. rows × cols (cols 0: one dimension). */
static gboolean
write_npy (const char *dir, const char *name, const char *descr, gsize rows, gsize cols, const void *data,
           gsize elem_size, GError **error)
{
  g_autoptr(GString) h = g_string_new (NULL);
  g_string_append_printf (h, "{'descr': '%s', 'fortran_order': False, 'shape': (%" G_GSIZE_FORMAT ",", descr, rows);
  if (cols > 0)
    g_string_append_printf (h, " %" G_GSIZE_FORMAT, cols);
  g_string_append (h, "), }");
  while ((10 + h->len + 1) % 64 != 0)
    g_string_append_c (h, ' ');
  g_string_append_c (h, '\n');
  gsize n_bytes = rows * MAX (cols, 1) * elem_size;
  g_autoptr(GByteArray) buf = g_byte_array_sized_new (10 + h->len + n_bytes);
  guint16 hlen = GUINT16_TO_LE ((guint16) h->len);
  g_byte_array_append (buf, (const guint8 *) "\x93NUMPY\x01\x00", 8);
  g_byte_array_append (buf, (const guint8 *) &hlen, 2);
  g_byte_array_append (buf, (const guint8 *) h->str, h->len);
  if (n_bytes > 0)
    g_byte_array_append (buf, data, n_bytes);
  return write_file (dir, name, buf->data, buf->len, error);
}

#if G_BYTE_ORDER != G_LITTLE_ENDIAN
#error "the .npy files are written as little-endian: port write_npy to this machine"
#endif

/* Runs the backbone over the project's images (cached by Bottega in <project>/cache) and writes
 * embeddings/<split>_{x,y,row}.npy: every usable image of each split, plus, in train, the
 * augmented variants Bottega's own transfer training uses. */
static gboolean
write_embeddings (const Snapshot *s, BtProject *project, BtBackbone *bb, BtCacheProgress progress,
                  gpointer progress_data, GCancellable *cancellable, TransferInfo *ti, GError **error)
{
  const BtProjectSettings *st = &s->settings;
  g_autoptr(BtEmbeddings) e = bt_embeddings_build_shared (project, bb, st->resize, st->augment_flip,
                                                          st->augment_crop, progress, progress_data,
                                                          cancellable, error);
  if (e == NULL)
    return FALSE;
  g_autofree char *emb_dir = g_build_filename (s->out_dir, "embeddings", NULL);
  if (!make_out_dir (emb_dir, error))
    return FALSE;

  int dim = bt_embeddings_get_dim (e);
  ti->dim = dim;
  ti->variants = st->augment_flip || st->augment_crop;
  ti->n_failed = bt_embeddings_n_failed (e);
  for (int k = 0; k < 3; k++)
    {
      g_autoptr(BtSplitView) view = bt_project_split_view (project, (BtSplit) k);
      int n_variants = k == BT_SPLIT_TRAIN && ti->variants ? BT_EMBED_N_VARIANTS : 1;
      g_autoptr(GArray) x = g_array_new (FALSE, FALSE, sizeof (float));
      g_autoptr(GArray) y = g_array_new (FALSE, FALSE, sizeof (gint64));
      g_autoptr(GArray) rows = g_array_new (FALSE, FALSE, sizeof (gint64));
      for (guint i = 0; i < view->n; i++)
        {
          guint item = view->items[i];
          int row = item < s->row_of_item->len ? g_array_index (s->row_of_item, int, item) : -1;
          if (row < 0 || !bt_embeddings_is_valid (e, item))
            continue;
          ti->n_images[k]++;
          for (int v = 0; v < n_variants; v++)
            {
              const float *emb = bt_embeddings_get (e, item, v);
              if (emb == NULL)
                continue;
              gint64 label = view->labels[i], r = row;
              g_array_append_vals (x, emb, (guint) dim);
              g_array_append_val (y, label);
              g_array_append_val (rows, r);
            }
        }
      ti->n_rows[k] = y->len;
      g_autofree char *xn = g_strdup_printf ("%s_x.npy", split_ids[k]);
      g_autofree char *yn = g_strdup_printf ("%s_y.npy", split_ids[k]);
      g_autofree char *rn = g_strdup_printf ("%s_row.npy", split_ids[k]);
      if (!write_npy (emb_dir, xn, "<f4", y->len, (gsize) dim, x->data, sizeof (float), error)
          || !write_npy (emb_dir, yn, "<i8", y->len, 0, y->data, sizeof (gint64), error)
          || !write_npy (emb_dir, rn, "<i8", y->len, 0, rows->data, sizeof (gint64), error))
        return FALSE;
    }
  if (ti->n_rows[BT_SPLIT_TRAIN] == 0)
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_NO_DATA,
                           _("The training split has no usable images"));
      return FALSE;
    }
  return TRUE;
}

static void
append_tensor_ref (GString *j, const char *key, GArray *blob, const float *data, gsize len, const int *shape,
                   int rank)
{
  g_string_append_printf (j, ",\"%s\":{\"offset\":%u,\"shape\":[", key, blob->len);
  for (int r = 0; r < rank; r++)
    g_string_append_printf (j, "%s%d", r ? "," : "", shape[r]);
  g_string_append (j, "]}");
  if (data != NULL)
    g_array_append_vals (blob, data, (guint) len);
  else
    for (gsize i = 0; i < len; i++)   /* a convolution without bias: zeros */
      g_array_append_val (blob, (float) { 0 });
}

static void
append_bound (GString *j, const char *key, float v)
{
  g_string_append_printf (j, ",\"%s\":", key);
  if (isfinite (v))
    bt_json_append_float (j, v);
  else
    g_string_append (j, "null");
}

/* backbone.json + backbone.f32: the backbone's float graph up to the embedding as a layer list
 * (bt_tflite_walk_layer's fields; weights as offsets, in floats, into the raw little-endian
 * float32 file) that train.py turns into a torch module. fine_tuned: the operators whose
 * weights a fine-tuned model replaced (BtBackboneWeights), or NULL. */
static gboolean
write_backbone_graph (const Snapshot *s, BtBackbone *bb, const BtModel *model, TransferInfo *ti, GError **error)
{
  /* a fine-tuned backbone's own identity covers its weights: the file is the model's reference */
  const GArray *fine_tuned = model != NULL ? model->backbone_weights : NULL;
  const char *name = model != NULL ? model->backbone_name : bt_backbone_get_name (bb);
  const char *sha256 = model != NULL ? model->backbone_sha256 : bt_backbone_get_sha256 (bb);
  BtTflite *m = bt_backbone_get_model (bb);
  g_autoptr(GError) local = NULL;
  int dim = 0;
  int n = bt_tflite_walk_n_layers (m, &dim, &local);
  if (n < 0)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID, "%s", local->message);
      return FALSE;
    }
  int h, w, c;
  bt_tflite_input_shape (m, &h, &w, &c);
  g_autoptr(GArray) blob = g_array_new (FALSE, FALSE, sizeof (float));
  g_autoptr(GString) j = g_string_new ("{\n  \"format\": \"bottega-backbone-graph-1\",\n  \"backbone\": ");
  bt_json_append_string (j, name);
  g_string_append (j, ",\n  \"backbone_sha256\": ");
  bt_json_append_string (j, sha256);
  g_string_append (j, ",\n  \"fine_tuned_ops\": [");
  for (guint i = 0; fine_tuned != NULL && i < fine_tuned->len; i++)
    g_string_append_printf (j, "%s%d", i ? "," : "", g_array_index (fine_tuned, BtBackboneWeights, i).op);
  g_string_append_printf (j, "],\n  \"input\": {\"height\":%d,\"width\":%d,\"channels\":%d},\n"
                          "  \"dim\": %d,\n  \"weights\": \"backbone.f32\",\n  \"layers\": [\n", h, w, c, dim);
  for (int i = 0; i < n; i++)
    {
      BtTflLayerInfo l;
      bt_tflite_walk_layer (m, i, &l);
      g_string_append_printf (j, "    {\"op\":\"%s\",\"index\":%d,\"src\":%d,\"src2\":%d,\"in_c\":%d,\"in_h\":%d,"
                              "\"in_w\":%d,\"c\":%d,\"h\":%d,\"w\":%d,\"out_rank\":%d,\"kh\":%d,\"kw\":%d,"
                              "\"sh\":%d,\"sw\":%d,\"pad_top\":%d,\"pad_left\":%d,\"pad_bottom\":%d,"
                              "\"pad_right\":%d,\"groups\":%d,\"constant\":",
                              l.op_id, l.index, l.src, l.src2, l.in_c, l.in_h, l.in_w, l.c, l.h, l.w, l.out_rank,
                              l.kh, l.kw, l.sh, l.sw, l.pad_top, l.pad_left, l.pad_bottom, l.pad_right, l.groups);
      bt_json_append_float (j, l.constant);
      append_bound (j, "lo", l.lo);
      append_bound (j, "hi", l.hi);
      if (l.weight != NULL)
        {
          int shape[4] = { l.c, l.in_c / l.groups, l.kh, l.kw };
          g_assert (l.weight_len == (gsize) shape[0] * shape[1] * shape[2] * shape[3]);
          append_tensor_ref (j, "weight", blob, l.weight, l.weight_len, shape, 4);
          append_tensor_ref (j, "bias", blob, l.bias, (gsize) l.c, &l.c, 1);
        }
      g_string_append (j, i + 1 < n ? "},\n" : "}\n");
    }
  g_string_append (j, "  ]\n}\n");
  ti->n_layers = n;
  ti->fine_tuned = fine_tuned != NULL && fine_tuned->len > 0;
  return write_file (s->out_dir, "backbone.json", j->str, j->len, error)
         && write_file (s->out_dir, "backbone.f32", blob->data, (gsize) blob->len * sizeof (float), error);
}

/* The backbone whose graph the export carries: the project's current model's own when it is a
 * transfer model (its fine-tuned weights, when it has some), else the project's. *model_out: the
 * model's file name, or NULL. */
static BtBackbone *
graph_backbone (const Snapshot *s, BtBackbone *project_bb, BtModel **model_out, char **model_out_name)
{
  g_autofree char *current = bt_run_files_default_model (s->project_dir);
  g_autoptr(BtModel) cm = current != NULL ? bt_model_load (current, NULL) : NULL;
  BtBackbone *bb = NULL;

  if (cm != NULL && bt_net_preset (cm->net) == BT_PRESET_TRANSFER)
    bb = bt_backbone_get_for_model (cm, NULL);
  if (bb == NULL)
    return bt_backbone_ref (project_bb);
  *model_out_name = g_path_get_basename (current);
  *model_out = g_steal_pointer (&cm);
  return bb;
}

static gboolean
export_transfer (Snapshot *s, BtProject *project, BtCacheProgress progress, gpointer progress_data,
                 GCancellable *cancellable, GError **error)
{
  const BtProjectSettings *st = &s->settings;
  guint n_classes = s->class_names->len - 1;
  /* the backbone Bottega's trainer would use (the preferred file, else the default one) */
  g_autofree char *bb_path = bt_backbone_find_for_training (error);
  if (bb_path == NULL)
    return FALSE;
  g_autoptr(BtBackbone) bb = bt_backbone_get (bb_path, NULL, error);
  if (bb == NULL)
    return FALSE;
  if (!make_out_dir (s->out_dir, error))
    return FALSE;
  TransferInfo ti = { bt_backbone_get_name (bb), bt_backbone_get_sha256 (bb), 0, { 0 }, { 0 }, 0, FALSE, 0, FALSE, NULL };
  if (!write_embeddings (s, project, bb, progress, progress_data, cancellable, &ti, error))
    return FALSE;
  g_autoptr(BtModel) graph_model = NULL;
  g_autofree char *graph_model_name = NULL;
  g_autoptr(BtBackbone) graph_bb = graph_backbone (s, bb, &graph_model, &graph_model_name);
  ti.graph_model = graph_model_name;
  if (!write_backbone_graph (s, graph_bb, graph_model, &ti, error))
    return FALSE;

  /* the head Bottega's trainer builds for this project (bt-trainer.c) */
  g_autoptr(GError) local = NULL;
  g_autoptr(BtNet) net = bt_net_new_transfer (ti.dim, st->transfer_hidden, (int) n_classes, (float) st->dropout,
                                              st->seed, &local);
  if (net == NULL)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID, "%s", local->message);
      return FALSE;
    }
  BtPreprocess prep;
  bt_backbone_get_preprocess (bb, st->resize, &prep);
  /* "save the whole network": the backbone file goes inside the model, and the script copies it */
  if (!save_initial (s, net, &prep, ti.backbone_name, ti.backbone_sha256,
                     st->transfer_whole_network ? bt_backbone_get_bytes (bb) : NULL, error))
    return FALSE;

  g_autofree char *config = config_json (s, net, &prep, &ti);
  char p[G_ASCII_DTOSTR_BUF_SIZE];
  g_ascii_formatd (p, sizeof p, "%.2g", bt_net_dropout (net));
  g_autofree char *head = bt_net_hidden (net) > 0
    ? g_strdup_printf ("dropout %s, dense %d + ReLU, dropout, dense %u", p, bt_net_hidden (net), n_classes)
    : g_strdup_printf ("dropout %s, dense %u", p, n_classes);
  g_autofree char *failed = ti.n_failed > 0
    ? g_strdup_printf (" %u image(s) the backbone could not read are left out.", ti.n_failed)
    : g_strdup ("");
  const char *home = st->transfer_whole_network
    ? "The project saves the whole network, so `initial.bottega-model` holds the backbone file\n"
      "too, and the trained file keeps it: it predicts in any Bottega without the backbone\n"
      "installed (model format version 2).\n\n"
    : "The trained file holds only the head and a reference to the backbone (its file name and\n"
      "SHA-256), like the transfer models Bottega trains itself; Bottega finds the backbone on its\n"
      "search path when it opens the model.\n\n";
  g_autofree char *which = ti.graph_model == NULL
    ? g_strdup_printf ("the project trains with (%s)", ti.backbone_name)
    : g_strdup_printf ("of the project's model `%s`%s", ti.graph_model,
                       ti.fine_tuned ? ", fine-tuned top blocks included" : "");
  g_autofree char *network = g_strdup_printf (readme_network_template, which,
                                              ti.fine_tuned ? "; the fine-tuned operators with their trained weights" : "",
                                              ti.fine_tuned ? " with exactly these fine-tuned weights (that model)" : "");
  g_autofree char *readme = g_strdup_printf (readme_transfer_template, s->project_name ? s->project_name : "",
                                             ti.dim, n_classes, ti.backbone_name, head, readme_common, home,
                                             network, ti.dim,
                                             ti.n_rows[0], ti.n_images[0],
                                             ti.variants ? ", with their mirrored and cropped variants" : "",
                                             ti.n_rows[1], ti.n_rows[2], failed, s->paths->len, ti.n_layers);
  return write_common (s, config, readme, error);
}

/* project: the project the snapshot was taken from when the caller owns it, or NULL in a
 * worker, which then opens its own copy of the project folder for the transfer embeddings. */
static gboolean
export_run (Snapshot *s, BtProject *project, BtCacheProgress progress, gpointer progress_data,
            GCancellable *cancellable, GError **error)
{
  const BtProjectSettings *st = &s->settings;
  BtPreset preset;
  if (st->preset == NULL || !bt_preset_from_id (st->preset, &preset))
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID, _("Unknown architecture “%s”"),
                   st->preset ? st->preset : "");
      return FALSE;
    }
  guint n_classes = s->class_names->len - 1;
  if (n_classes < 2 || s->paths->len == 0)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_NO_DATA,
                   _("The project needs at least two classes with images to be exported"));
      return FALSE;
    }
  g_autoptr(GError) local = NULL;
  if (preset == BT_PRESET_TRANSFER)
    {
      g_autoptr(BtProject) own = NULL;
      g_autoptr(Snapshot) fresh = NULL;
      if (project == NULL)
        {
          /* The async entry point flushed the project's pending save before this worker
           * started, so the folder holds what the snapshot saw; a private copy keeps the
           * window's project off this thread. */
          own = bt_project_open (s->project_dir, &local);
          if (own == NULL)
            {
              g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO, _("Cannot open the project: %s"),
                           local->message);
              return FALSE;
            }
          fresh = snapshot_new (own, s->out_dir);
          return export_transfer (fresh, own, progress, progress_data, cancellable, error);
        }
      return export_transfer (s, project, progress, progress_data, cancellable, error);
    }

  g_autoptr(BtNet) net = bt_net_new_preset (preset, st->width, st->height, st->channels, (int) n_classes,
                                            (float) st->dropout, st->seed, &local);
  if (net == NULL)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID, "%s", local->message);
      return FALSE;
    }
  BtPreprocess prep;
  bt_preprocess_init_default (&prep, st->width, st->height, st->channels);
  bt_resize_mode_from_string (bt_ds_resize_to_string (st->resize), &prep.resize);

  if (!make_out_dir (s->out_dir, error) || !save_initial (s, net, &prep, NULL, NULL, NULL, error))
    return FALSE;
  g_autofree char *config = config_json (s, net, &prep, NULL);
  g_autofree char *readme = g_strdup_printf (readme_template, s->project_name ? s->project_name : "",
                                             bt_preset_title (preset), st->width, st->height, st->channels,
                                             n_classes, readme_common, s->paths->len);
  return write_common (s, config, readme, error);
}

/* The files an export writes, relative to its folder. */
static GPtrArray *
export_file_names (void)
{
  GPtrArray *a = g_ptr_array_new_with_free_func (g_free);
  const char *top[] = { "train.py", "config.json", "labels.csv", "README.md", "initial.bottega-model",
                        "backbone.json", "backbone.f32" };
  const char *kinds[] = { "x", "y", "row" };
  for (guint i = 0; i < G_N_ELEMENTS (top); i++)
    g_ptr_array_add (a, g_strdup (top[i]));
  for (int k = 0; k < 3; k++)
    for (guint j = 0; j < G_N_ELEMENTS (kinds); j++)
      g_ptr_array_add (a, g_strdup_printf ("embeddings" G_DIR_SEPARATOR_S "%s_%s.npy", split_ids[k], kinds[j]));
  return a;
}

/* Runs the export; when it fails or is cancelled, removes what it had written so far — the
 * files that were not there before, the embeddings folder and the export folder when it made
 * them — so a stopped export leaves no half-written folder behind. */
static gboolean
export_run_clean (Snapshot *s, BtProject *project, BtCacheProgress progress, gpointer progress_data,
                  GCancellable *cancellable, GError **error)
{
  g_autoptr(GPtrArray) names = export_file_names ();
  g_autofree gboolean *existed = g_new0 (gboolean, names->len);
  g_autofree char *emb_dir = g_build_filename (s->out_dir, "embeddings", NULL);
  gboolean dir_existed = g_file_test (s->out_dir, G_FILE_TEST_EXISTS);
  gboolean emb_existed = g_file_test (emb_dir, G_FILE_TEST_EXISTS);
  for (guint i = 0; i < names->len; i++)
    {
      g_autofree char *path = g_build_filename (s->out_dir, names->pdata[i], NULL);
      existed[i] = g_file_test (path, G_FILE_TEST_EXISTS);
    }
  if (export_run (s, project, progress, progress_data, cancellable, error))
    return TRUE;
  for (guint i = 0; i < names->len; i++)
    if (!existed[i])
      {
        g_autofree char *path = g_build_filename (s->out_dir, names->pdata[i], NULL);
        g_remove (path);
      }
  if (!emb_existed)
    g_rmdir (emb_dir);   /* fails, harmlessly, where something else is in it */
  if (!dir_existed)
    g_rmdir (s->out_dir);
  return FALSE;
}

gboolean
bt_export_pytorch (BtProject *project, const char *out_dir, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (project), FALSE);
  g_return_val_if_fail (out_dir != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  g_autoptr(Snapshot) s = snapshot_new (project, out_dir);
  return export_run_clean (s, project, NULL, NULL, NULL, error);
}

typedef struct {
  BtCacheProgress func;
  gpointer        data;
} ProgressTarget;

static void
progress_deliver (gconstpointer value, gpointer user_data)
{
  const guint *done_total = value;
  ProgressTarget *t = user_data;
  t->func (done_total[0], done_total[1], t->data);
}

/* Called on the worker (about every 50 ms while embeddings are computed). */
static void
worker_progress (guint done, guint total, gpointer data)
{
  GTask *task = data;
  Snapshot *s = g_task_get_task_data (task);
  guint done_total[2] = { done, total };
  bt_throttle_post (s->progress, done_total);
}

/* A late report after the result was delivered would reach a caller that has moved on. */
static void
task_completed (GObject *task, GParamSpec *pspec, gpointer data)
{
  bt_throttle_close (data);
}

static void
export_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  GError *error = NULL;
  Snapshot *s = data;
  if (export_run_clean (s, NULL, s->progress ? worker_progress : NULL, task, cancellable, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
export_flushed (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr(GTask) task = data;
  GError *error = NULL;
  if (!bt_project_flush_finish (BT_PROJECT (source), res, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  g_task_run_in_thread (task, export_thread);
}

void
bt_export_pytorch_async_full (BtProject *project, const char *out_dir, BtCacheProgress progress,
                              gpointer progress_data, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (BT_IS_PROJECT (project));
  g_return_if_fail (out_dir != NULL);
  g_autoptr(GTask) task = g_task_new (project, cancellable, callback, user_data);
  g_task_set_source_tag (task, bt_export_pytorch_async);
  Snapshot *s = snapshot_new (project, out_dir);
  if (progress != NULL)
    {
      ProgressTarget *target = g_new0 (ProgressTarget, 1);
      target->func = progress;
      target->data = progress_data;
      s->progress = bt_throttle_new (2 * sizeof (guint), G_PRIORITY_DEFAULT, progress_deliver, target, g_free);
      g_signal_connect_data (task, "notify::completed", G_CALLBACK (task_completed),
                             bt_throttle_ref (s->progress), (GClosureNotify) bt_throttle_unref, 0);
    }
  g_task_set_task_data (task, s, (GDestroyNotify) snapshot_free);
  /* A transfer export reopens the project folder in the worker: wait for the pending save. */
  bt_project_flush_async (project, cancellable, export_flushed, g_steal_pointer (&task));
}

void
bt_export_pytorch_async (BtProject *project, const char *out_dir, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (BT_IS_PROJECT (project));
  g_return_if_fail (out_dir != NULL);
  bt_export_pytorch_async_full (project, out_dir, NULL, NULL, cancellable, callback, user_data);
}

gboolean
bt_export_pytorch_finish (GAsyncResult *result, GError **error)
{
  /* the task's source object is the project */
  g_return_val_if_fail (G_IS_TASK (result) && g_task_get_source_tag (G_TASK (result)) == bt_export_pytorch_async, FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
