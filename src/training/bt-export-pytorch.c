/* bt-export-pytorch.c: the PyTorch training folder of bt-export-pytorch.h. train.py is a fixed
 * script (GResource); everything project-specific goes to config.json beside it. */
#include "config.h"

#include "training/bt-export-pytorch.h"
#include "training/bt-export-resources.h"
#include "engine/bt-net-walk.h"
#include "engine/bt-onnx.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>

typedef struct {
  char              *out_dir;
  char              *project_name;
  BtProjectSettings  settings;
  GPtrArray         *class_names;  /* char*, NULL-terminated */
  GPtrArray         *paths, *classes, *splits;
} Snapshot;

static void
snapshot_free (Snapshot *s)
{
  g_free (s->out_dir);
  g_free (s->project_name);
  bt_project_settings_clear (&s->settings);
  g_ptr_array_unref (s->class_names);
  g_ptr_array_unref (s->paths);
  g_ptr_array_unref (s->classes);
  g_ptr_array_unref (s->splits);
  g_free (s);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Snapshot, snapshot_free)

static Snapshot *
snapshot_new (BtProject *project, const char *out_dir)
{
  Snapshot *s = g_new0 (Snapshot, 1);
  s->out_dir = g_strdup (out_dir);
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
  GListModel *items = bt_project_get_items (project);
  for (guint i = 0; i < g_list_model_get_n_items (items); i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (items, i);
      if (bt_item_get_excluded (it) || bt_item_get_missing (it))
        continue;
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

static char *
config_json (const Snapshot *s, BtNet *net, const BtPreprocess *prep)
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
  json_key (j, "settings");
  g_string_append_printf (j, "{\"epochs\":%d,\"batch_size\":%d,\"optimizer\":", MAX (st->epochs, 1),
                          MAX (st->batch_size, 1));
  bt_json_append_string (j, st->optimizer ? st->optimizer : "adam");
  g_string_append (j, ",\"learning_rate\":");
  bt_json_append_float (j, (float) st->learning_rate);
  g_string_append (j, ",\"schedule\":");
  bt_json_append_string (j, st->schedule ? st->schedule : "constant");
  g_string_append (j, ",\"weight_decay\":");
  bt_json_append_float (j, (float) st->weight_decay);
  g_string_append (j, ",\"label_smoothing\":");
  bt_json_append_float (j, (float) st->label_smoothing);
  g_string_append (j, ",\"dropout\":");
  bt_json_append_float (j, bt_net_dropout (net));
  g_string_append_printf (j, ",\"augment_flip\":%s,\"augment_crop\":%s,\"augment_rotate\":%s,"
                          "\"augment_color\":%s,\"class_weights\":%s,\"early_stopping_patience\":%d,"
                          "\"early_stopping_monitor\":",
                          st->augment_flip ? "true" : "false", st->augment_crop ? "true" : "false",
                          st->augment_rotate ? "true" : "false", st->augment_color ? "true" : "false",
                          st->class_weights ? "true" : "false", MAX (st->early_stopping_patience, 0));
  bt_json_append_string (j, g_strcmp0 (st->early_stopping_monitor, "val_acc") == 0 ? "val_acc" : "val_loss");
  g_string_append (j, ",\"early_stopping_min_delta\":");
  bt_json_append_float (j, (float) MAX (st->early_stopping_min_delta, 0.0));
  g_string_append_printf (j, ",\"restore_best\":%s,\"seed\":%" G_GUINT64_FORMAT "},\n  ",
                          st->restore_best ? "true" : "false", st->seed % G_GUINT64_CONSTANT (4294967296));
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

static const char readme_template[] =
  "# Training “%s” with PyTorch\n\n"
  "Written by Bottega. This folder trains the project's %s network (input %d×%d, %d channel(s),\n"
  "%u classes) with the project's settings, outside Bottega, on as many GPUs or machines as you have.\n\n"
  "Needs Python 3 with PyTorch, NumPy and Pillow (Debian: `apt install python3-torch python3-pil`).\n\n"
  "    python3 train.py                         # one process; uses a GPU when there is one\n"
  "    torchrun --nproc_per_node=4 train.py     # four processes (DistributedDataParallel)\n"
  "    torchrun --nnodes=2 --node_rank=0 --master_addr=HOST --nproc_per_node=8 train.py\n\n"
  "Options: `--epochs N`, `--batch-size N` (per process), `--lr X`, `--cpu`, `--output FILE`.\n"
  "Without a GPU the processes talk over gloo, with GPUs over NCCL.\n\n"
  "Debian 12's PyTorch 1.13 under Python 3.11 has a torchrun bug: it stops at once with\n"
  "`AttributeError: 'NoneType' object has no attribute 'get'`. Use a newer PyTorch, or start\n"
  "the processes yourself with the variables torchrun would set, e.g. for two processes:\n\n"
  "    export MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 WORLD_SIZE=2\n"
  "    RANK=1 LOCAL_RANK=1 python3 train.py & RANK=0 LOCAL_RANK=0 python3 train.py\n\n"
  "When training ends, process 0 writes `trained.bottega-model`. Open it in Bottega's Test page\n"
  "(or `bottega-cli predict`); it holds the class names and the preprocessing recipe.\n\n"
  "Files: `config.json` (architecture, settings, preprocessing), `labels.csv` (path,class,split;\n"
  "%u images, excluded ones left out), `initial.bottega-model` (Bottega's initial weights, and the\n"
  "header the trained model reuses). The images are read from their original places.\n";

static gboolean
export_run (Snapshot *s, GError **error)
{
  const BtProjectSettings *st = &s->settings;
  BtPreset preset;
  if (st->preset == NULL || !bt_preset_from_id (st->preset, &preset))
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID, _("Unknown architecture “%s”"),
                   st->preset ? st->preset : "");
      return FALSE;
    }
  if (preset == BT_PRESET_TRANSFER)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                   _("Transfer models cannot be exported as a PyTorch script: their pretrained backbone "
                     "is not part of it. Choose another architecture, or export the trained model to ONNX."));
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

  if (g_mkdir_with_parents (s->out_dir, 0755) != 0)
    {
      int e = errno;
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO, _("Cannot create the folder “%s”: %s"),
                   s->out_dir, g_strerror (e));
      return FALSE;
    }

  g_autoptr(GHashTable) meta = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (meta, "source", "pytorch-export");
  g_autofree char *model_path = g_build_filename (s->out_dir, "initial.bottega-model", NULL);
  if (!bt_model_save (model_path, net, (const char * const *) s->class_names->pdata, &prep, NULL, NULL, meta, &local))
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO, "%s", local->message);
      return FALSE;
    }

  g_autoptr(GBytes) script = g_resource_lookup_data (bt_export_get_resource (),
                                                     "/io/github/bottega/Bottega/export/train.py",
                                                     G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
  g_assert (script != NULL);
  gsize len;
  const char *data = g_bytes_get_data (script, &len);
  if (!write_file (s->out_dir, "train.py", data, len, error))
    return FALSE;

  g_autofree char *config = config_json (s, net, &prep);
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

  g_autofree char *readme = g_strdup_printf (readme_template, s->project_name ? s->project_name : "",
                                             bt_preset_title (preset), st->width, st->height, st->channels,
                                             n_classes, s->paths->len);
  return write_file (s->out_dir, "README.md", readme, strlen (readme), error);
}

gboolean
bt_export_pytorch (BtProject *project, const char *out_dir, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (project), FALSE);
  g_return_val_if_fail (out_dir != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  g_autoptr(Snapshot) s = snapshot_new (project, out_dir);
  return export_run (s, error);
}

static void
export_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  GError *error = NULL;
  if (export_run (data, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

void
bt_export_pytorch_async (BtProject *project, const char *out_dir, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (BT_IS_PROJECT (project));
  g_return_if_fail (out_dir != NULL);
  g_autoptr(GTask) task = g_task_new (project, cancellable, callback, user_data);
  g_task_set_source_tag (task, bt_export_pytorch_async);
  g_task_set_task_data (task, snapshot_new (project, out_dir), (GDestroyNotify) snapshot_free);
  g_task_run_in_thread (task, export_thread);
}

gboolean
bt_export_pytorch_finish (GAsyncResult *result, GError **error)
{
  /* the task's source object is the project */
  g_return_val_if_fail (G_IS_TASK (result) && g_task_get_source_tag (G_TASK (result)) == bt_export_pytorch_async, FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
