/* bt-transfer-options.c: BtTransferOptions, the transfer preset's options on the Model page:
 * the backbone file preference (GSettings "backbone-file"), hidden layer, whole network, and how
 * many of the backbone's last blocks are fine-tuned. */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "bt-backbone-list.h"
#include "bt-dialogs.h"
#include "bt-backbone-offer.h"
#include "bt-transfer-options.h"
#include "training/bt-backbones.h"
#include "training/bt-recipe.h"
#include "training/bt-transfer.h"

#define BT_SCHEMA_ID "io.github.bottega.Bottega"
#define BACKBONE_KEY "backbone-file"

static const int hidden_sizes[] = { 0, 128, 256 };

struct _BtTransferOptions
{
  GtkWidget parent_instance;

  /* Children */
  GtkLabel       *status_label;
  BtBackboneList *list;
  GtkWidget      *choose_button;
  GtkWidget      *clear_button;
  GtkDropDown    *hidden_dropdown;
  GtkCheckButton *whole_check;
  GtkSpinButton  *finetune_spin;
  GtkCheckButton *recipe_check;
  GtkLabel       *recipe_label;   /* what the automatic recipe chose and why */
  GtkWidget      *head_box;
  GtkWidget      *missing_offer;  /* the project's chosen backbone is not here: its Download */

  /* Owned */
  BtProject      *project;
  GSettings      *settings;     /* NULL when the schema is not installed */
  GCancellable   *check_cancellable;
  GCancellable   *recipe_cancellable;
  char           *status;
  char           *applied_choice; /* the project's backbone choice the options last followed */
  gboolean        loading;
  gboolean        own_choice;     /* the options are writing the project's choice themselves */
  /* The chosen backbone once it has been checked; NULL / 0 for the default one */
  char           *backbone_title;
  int             backbone_dim, backbone_size;
};

G_DEFINE_FINAL_TYPE (BtTransferOptions, bt_transfer_options, GTK_TYPE_WIDGET)

static void update_recipe (BtTransferOptions *self);

enum { BACKBONE_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
set_status (BtTransferOptions *self, const char *text)
{
  g_free (self->status);
  self->status = g_strdup (text);
  gtk_label_set_text (self->status_label, text);
}

/* Which backbone the preset would train with; file tests only, no parsing. */
static void
update_status (BtTransferOptions *self)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *pref = bt_backbone_dup_preferred_file ();
  g_autofree char *path = bt_backbone_find_for_training (&error);

  gtk_widget_set_visible (self->clear_button, pref != NULL);
  if (self->list != NULL)
    {
      g_autofree char *base = path != NULL ? g_path_get_basename (path) : NULL;
      bt_backbone_list_set_current (self->list, base != NULL ? bt_backbones_lookup (base) : NULL);
    }
  if (path != NULL)
    {
      g_autofree char *shown = g_filename_display_name (path);
      g_autofree char *text = g_strdup_printf (pref != NULL ? _("Backbone: %s (your choice)")
                                                            : _("Backbone: %s"), shown);
      set_status (self, text);
    }
  else if (pref == NULL)
    {
      /* nothing installed yet: the rows below offer the download; where it looked is in the card's tooltip */
      g_autofree char *text = g_strdup_printf (_("No pretrained backbone on this computer yet (%s): download one "
                                                 "below, or choose a file you already have."), BT_BACKBONE_DEFAULT);
      set_status (self, text);
    }
  else
    set_status (self, error->message);
}

/* The path and the widget travel with the check; a newer check or dispose cancels it. */
typedef struct {
  BtTransferOptions *self;
  char *path;
  gboolean quiet;   /* the saved choice, checked at start: learn its sizes, keep the status */
} Check;

static void
set_backbone_info (BtTransferOptions *self, const char *path, BtBackbone *bb)
{
  g_clear_pointer (&self->backbone_title, g_free);
  self->backbone_dim = self->backbone_size = 0;
  if (bb != NULL)
    {
      g_autofree char *base = g_path_get_basename (path);
      int h = 0, w = 0, c = 0;
      char *dot = strrchr (base, '.');
      if (dot != NULL && dot != base)
        *dot = '\0';
      self->backbone_title = g_filename_display_name (base);
      self->backbone_dim = bt_backbone_get_dim (bb);
      bt_tflite_input_shape (bt_backbone_get_model (bb), &h, &w, &c);
      self->backbone_size = MAX (h, w);
    }
}

/* The options' own change of the project's choice: already followed, so its "changed" is not
 * taken for a choice made elsewhere. */
static void
set_project_choice (BtTransferOptions *self, const char *name_or_path)
{
  if (self->project == NULL)
    return;
  self->own_choice = TRUE;
  bt_backbones_set_choice (self->project, name_or_path, NULL);
  self->own_choice = FALSE;
  g_free (self->applied_choice);
  self->applied_choice = bt_backbones_project_choice (self->project);
}

static void
check_finished (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Check *check = user_data;
  g_autoptr(BtTransferOptions) self = check->self;
  g_autofree char *path = check->path;
  g_autoptr(GError) error = NULL;
  g_autoptr(BtBackbone) bb = bt_backbone_load_finish (result, &error);

  gboolean quiet = check->quiet;
  g_free (check);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) || self->check_cancellable == NULL)
    return;
  g_clear_object (&self->check_cancellable);
  if (quiet)
    {
      /* a saved choice that no longer loads keeps the status update_status gave it */
      gtk_widget_set_sensitive (self->choose_button, TRUE);
      if (bb != NULL)
        {
          set_backbone_info (self, path, bb);
          g_signal_emit (self, signals[BACKBONE_CHANGED], 0);
        }
      return;
    }
  gtk_widget_set_sensitive (self->choose_button, TRUE);
  if (bb == NULL)
    {
      g_autofree char *text = g_strdup_printf (_("That file cannot be used as a backbone: %s"), error->message);
      set_status (self, text);
      return;
    }
  bt_backbone_set_preferred_file (path);
  set_backbone_info (self, path, bb);
  if (self->settings != NULL)
    g_settings_set_string (self->settings, BACKBONE_KEY, path);
  gtk_widget_set_visible (self->clear_button, TRUE);
  {
    /* the file's content against the catalogue: a known backbone, or one at the person's risk */
    const BtBackboneInfo *info = bt_backbones_lookup_sha256 (bt_backbone_get_sha256 (bb));
    g_autofree char *shown = g_filename_display_name (path);
    g_autofree char *text = NULL;
    if (info != NULL)
      text = g_strdup_printf (_("Backbone: %s (your choice: %s, SHA-256 checked; %d values per image)"),
                              shown, info->title, bt_backbone_get_dim (bb));
    else
      text = g_strdup_printf (_("Backbone: %s (your choice; %d values per image). Warning: this is not one of "
                                "the backbones Bottega knows, so how well it works is unknown."),
                              shown, bt_backbone_get_dim (bb));
    set_status (self, text);
    set_project_choice (self, info != NULL ? info->id : path);
    if (self->list != NULL)
      bt_backbone_list_set_current (self->list, info);
  }
  g_signal_emit (self, signals[BACKBONE_CHANGED], 0);
}

/* Takes path. */
static void
start_check (BtTransferOptions *self, char *path, gboolean quiet)
{
  Check *check = g_new0 (Check, 1);

  g_cancellable_cancel (self->check_cancellable);
  g_clear_object (&self->check_cancellable);
  self->check_cancellable = g_cancellable_new ();
  gtk_widget_set_sensitive (self->choose_button, FALSE);
  check->self = g_object_ref (self);
  check->path = path;
  check->quiet = quiet;
  bt_backbone_load_async (check->path, self->check_cancellable, check_finished, check);
}

void
bt_transfer_options_choose_file (BtTransferOptions *self, GFile *file)
{
  g_autofree char *path = NULL;

  g_return_if_fail (BT_IS_TRANSFER_OPTIONS (self));
  g_return_if_fail (G_IS_FILE (file));

  path = g_file_get_path (file);
  if (path == NULL)
    {
      set_status (self, _("That file cannot be used as a backbone: it is not a local file"));
      return;
    }
  set_status (self, _("Checking the backbone file…"));
  start_check (self, g_steal_pointer (&path), FALSE);
}

void
bt_transfer_options_clear_file (BtTransferOptions *self)
{
  g_return_if_fail (BT_IS_TRANSFER_OPTIONS (self));
  bt_backbone_set_preferred_file (NULL);
  set_backbone_info (self, NULL, NULL);
  if (self->settings != NULL)
    g_settings_set_string (self->settings, BACKBONE_KEY, "");
  set_project_choice (self, NULL);
  update_status (self);
  g_signal_emit (self, signals[BACKBONE_CHANGED], 0);
}

static void
chooser_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(BtTransferOptions) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GListModel) files = bt_dialogs_open_files_finish (result, &error);
  g_autoptr(GFile) file = NULL;

  if (files == NULL || g_list_model_get_n_items (files) == 0)
    return;
  file = g_list_model_get_item (files, 0);
  bt_transfer_options_choose_file (self, file);
}

static void
choose_clicked_cb (BtTransferOptions *self)
{
  GtkFileFilter *filter = gtk_file_filter_new ();
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));

  gtk_file_filter_set_name (filter, _("TensorFlow Lite models"));
  gtk_file_filter_add_pattern (filter, "*.tflite");
  bt_dialogs_open_files_async (GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                               _("Choose a Pretrained Backbone"), filter, FALSE, NULL,
                               chooser_done_cb, g_object_ref (self));
  g_object_unref (filter);
}

/* ---- The automatic recipe's line: what the newest run's recipe chose, read on a worker ---- */

static void
recipe_read_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  g_task_return_pointer (task, bt_recipe_describe_latest (task_data), g_free);
}

static void
recipe_read_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autofree char *line = g_task_propagate_pointer (G_TASK (result), NULL);
  BtTransferOptions *self = BT_TRANSFER_OPTIONS (source);

  if (g_task_had_error (G_TASK (result)) || self->project == NULL)
    return;
  if (g_strcmp0 (bt_project_get_settings (self->project)->recipe, "auto") != 0)
    gtk_label_set_text (self->recipe_label, _("The head is trained with the settings below, as they are."));
  else if (line != NULL)
    gtk_label_set_text (self->recipe_label, line);
  else
    gtk_label_set_text (self->recipe_label,
                        _("When you train, Bottega first tries a few settings of the head on parts of your training "
                          "photos, keeps the best, and says here what it chose. With at least 30 photos per class "
                          "it then also adjusts the backbone’s last layers, and keeps that only if it does "
                          "better. Settings you change yourself stay as you set them."));
}

/* Refreshed when the project changes and whenever the options are shown (after a run). */
static void
update_recipe (BtTransferOptions *self)
{
  g_autoptr(GTask) task = NULL;

  g_cancellable_cancel (self->recipe_cancellable);
  g_clear_object (&self->recipe_cancellable);
  if (self->project == NULL)
    return;
  self->recipe_cancellable = g_cancellable_new ();
  task = g_task_new (self, self->recipe_cancellable, recipe_read_done, NULL);
  g_task_set_return_on_cancel (task, TRUE);
  g_task_set_task_data (task, g_strdup (bt_project_get_dir (self->project)), g_free);
  g_task_run_in_thread (task, recipe_read_thread);
}

const char *
bt_transfer_options_get_recipe_text (BtTransferOptions *self)
{
  g_return_val_if_fail (BT_IS_TRANSFER_OPTIONS (self), NULL);
  return gtk_label_get_text (self->recipe_label);
}

/* ---- Project settings: hidden layer and whole network ---- */

static void
load_settings (BtTransferOptions *self)
{
  const BtProjectSettings *s;
  guint sel = 0;

  gtk_widget_set_sensitive (self->head_box, self->project != NULL);
  if (self->project == NULL)
    return;
  s = bt_project_get_settings (self->project);
  /* the head's options matter only for the transfer preset; the backbone choice always shows */
  gtk_widget_set_visible (self->head_box, g_strcmp0 (s->preset, "transfer") == 0);
  for (guint i = 0; i < G_N_ELEMENTS (hidden_sizes); i++)
    if (hidden_sizes[i] == s->transfer_hidden)
      sel = i;
  self->loading = TRUE;
  gtk_drop_down_set_selected (self->hidden_dropdown, sel);
  gtk_check_button_set_active (self->whole_check, s->transfer_whole_network);
  gtk_spin_button_set_value (self->finetune_spin, s->transfer_finetune_blocks);
  gtk_check_button_set_active (self->recipe_check, g_strcmp0 (s->recipe, "auto") == 0);
  self->loading = FALSE;
  update_recipe (self);
}

static void
save_settings (BtTransferOptions *self)
{
  BtProjectSettings s = { 0 };
  g_autoptr(GError) error = NULL;
  guint sel;

  if (self->loading || self->project == NULL)
    return;
  sel = gtk_drop_down_get_selected (self->hidden_dropdown);
  bt_project_settings_copy (&s, bt_project_get_settings (self->project));
  s.transfer_hidden = hidden_sizes[MIN (sel, G_N_ELEMENTS (hidden_sizes) - 1)];
  s.transfer_whole_network = gtk_check_button_get_active (self->whole_check);
  s.transfer_finetune_blocks = gtk_spin_button_get_value_as_int (self->finetune_spin);
  g_free (s.recipe);
  s.recipe = g_strdup (gtk_check_button_get_active (self->recipe_check) ? "auto" : "manual");
  if (!bt_project_update_settings (self->project, &s, &error))
    {
      g_autofree char *text = g_strdup_printf (_("The settings could not be saved: %s"), error->message);
      set_status (self, text);
    }
  bt_project_settings_clear (&s);
}

static void use_project_choice (BtTransferOptions *self);

static void
missing_installed_cb (BtTransferOptions *self)
{
  use_project_choice (self);
  g_signal_emit (self, signals[BACKBONE_CHANGED], 0);
}

/* The project's own backbone (Compare Backbones' pick) is the one it trains with; when it is
 * not on this computer the card says so first, with a Download for exactly that one. */
static void
use_project_choice (BtTransferOptions *self)
{
  g_autofree char *choice = self->project != NULL ? bt_backbones_project_choice (self->project) : NULL;
  g_autofree char *path = choice != NULL ? bt_backbones_resolve (choice, NULL) : NULL;
  g_autofree char *pref = bt_backbone_dup_preferred_file ();

  g_free (self->applied_choice);
  self->applied_choice = g_strdup (choice);
  if (self->missing_offer != NULL)
    {
      gtk_widget_unparent (self->missing_offer);
      self->missing_offer = NULL;
    }
  if (choice != NULL && path == NULL)
    {
      const BtBackboneInfo *info = bt_backbones_lookup (choice);
      g_autofree char *base = g_path_get_basename (choice);
      g_autofree char *text = g_strdup_printf (_("This project trains with %s, which is not on this computer. "
                                                 "Download it, or pick another backbone below."),
                                               info != NULL ? info->title : base);
      self->missing_offer = bt_backbone_offer_new (info, info != NULL ? info->file : base,
                                                   info != NULL ? info->sha256 : NULL);
      g_signal_connect_object (self->missing_offer, "installed", G_CALLBACK (missing_installed_cb), self,
                               G_CONNECT_SWAPPED);
      gtk_widget_insert_after (self->missing_offer, gtk_widget_get_parent (GTK_WIDGET (self->status_label)),
                               GTK_WIDGET (self->status_label));
      set_status (self, text);
      return;
    }
  if (path != NULL && g_strcmp0 (path, pref) != 0)
    {
      bt_backbone_set_preferred_file (path);
      update_status (self);
      start_check (self, g_steal_pointer (&path), TRUE);
      return;
    }
  /* the default, or the file already preferred: a status left by another choice goes */
  update_status (self);
}

/* Any change of the project: its head settings, and its backbone choice when that was changed
 * elsewhere (Compare Backbones, `bottega-cli backbones use`) while the page is open. */
static void
project_changed_cb (BtTransferOptions *self)
{
  g_autofree char *choice = NULL;

  load_settings (self);
  if (self->own_choice || self->project == NULL)
    return;
  choice = bt_backbones_project_choice (self->project);
  if (g_strcmp0 (choice, self->applied_choice) == 0)
    return;
  use_project_choice (self);
  g_signal_emit (self, signals[BACKBONE_CHANGED], 0);
}

void
bt_transfer_options_set_project (BtTransferOptions *self, BtProject *project)
{
  g_return_if_fail (BT_IS_TRANSFER_OPTIONS (self));
  g_return_if_fail (project == NULL || BT_IS_PROJECT (project));

  if (project == self->project)
    return;
  if (self->project)
    g_signal_handlers_disconnect_by_data (self->project, self);
  g_set_object (&self->project, project);
  if (project)
    g_signal_connect_object (project, "changed", G_CALLBACK (project_changed_cb), self, G_CONNECT_SWAPPED);
  load_settings (self);
  bt_backbone_list_set_project (self->list, project);
  use_project_choice (self);
}

static void
list_use_cb (BtBackboneList *list, const char *path, const BtBackboneInfo *info, BtTransferOptions *self)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);
  bt_transfer_options_choose_file (self, file);
}

static void
list_installed_cb (BtTransferOptions *self)
{
  update_status (self);
  g_signal_emit (self, signals[BACKBONE_CHANGED], 0);
}

BtBackboneList *
bt_transfer_options_get_list (BtTransferOptions *self)
{
  g_return_val_if_fail (BT_IS_TRANSFER_OPTIONS (self), NULL);
  return self->list;
}

gboolean
bt_transfer_options_is_busy (BtTransferOptions *self)
{
  g_return_val_if_fail (BT_IS_TRANSFER_OPTIONS (self), FALSE);
  return self->check_cancellable != NULL;
}

const char *
bt_transfer_options_get_status (BtTransferOptions *self)
{
  g_return_val_if_fail (BT_IS_TRANSFER_OPTIONS (self), NULL);
  return self->status;
}

void
bt_transfer_options_get_backbone (BtTransferOptions *self, const char **title, int *dim, int *input_size)
{
  g_return_if_fail (BT_IS_TRANSFER_OPTIONS (self));
  if (title)
    *title = self->backbone_title;
  if (dim)
    *dim = self->backbone_dim;
  if (input_size)
    *input_size = self->backbone_size;
}

/* ---- GObject ---- */

static GSettings *
settings_if_installed (void)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr(GSettingsSchema) schema = source ? g_settings_schema_source_lookup (source, BT_SCHEMA_ID, TRUE) : NULL;

  if (schema == NULL || !g_settings_schema_has_key (schema, BACKBONE_KEY))
    return NULL;
  return g_settings_new (BT_SCHEMA_ID);
}

static void
bt_transfer_options_dispose (GObject *object)
{
  BtTransferOptions *self = BT_TRANSFER_OPTIONS (object);
  GtkWidget *child;

  g_cancellable_cancel (self->check_cancellable);
  g_clear_object (&self->check_cancellable);
  g_cancellable_cancel (self->recipe_cancellable);
  g_clear_object (&self->recipe_cancellable);
  /* the project outlives the page: no "changed" may reach the children unparented below */
  if (self->project != NULL)
    g_signal_handlers_disconnect_by_data (self->project, self);
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);
  g_clear_object (&self->project);
  g_clear_object (&self->settings);
  g_clear_pointer (&self->status, g_free);
  g_clear_pointer (&self->backbone_title, g_free);
  g_clear_pointer (&self->applied_choice, g_free);

  G_OBJECT_CLASS (bt_transfer_options_parent_class)->dispose (object);
}

static void
bt_transfer_options_class_init (BtTransferOptionsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = bt_transfer_options_dispose;
  signals[BACKBONE_CHANGED] = g_signal_new ("backbone-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                            0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
bt_transfer_options_init (BtTransferOptions *self)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 6);
  GtkWidget *title = gtk_label_new (_("Transfer learning"));
  GtkWidget *file_row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  GtkWidget *hidden_row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  GtkWidget *hidden_label = gtk_label_new_with_mnemonic (_("_Hidden layer:"));
  GtkWidget *whole_note = gtk_label_new (_("The model file then works on any computer, without the backbone "
                                           "file; it is a few megabytes larger."));
  const char *sizes[] = { N_("none"), N_("128 units"), N_("256 units"), NULL };
  const char *translated[G_N_ELEMENTS (sizes)];
  g_autofree char *pref = NULL;

  gtk_widget_set_parent (box, GTK_WIDGET (self));
  gtk_widget_add_css_class (title, "heading");
  gtk_widget_set_halign (title, GTK_ALIGN_START);
  gtk_box_append (GTK_BOX (box), title);

  self->status_label = GTK_LABEL (gtk_label_new (""));
  gtk_label_set_wrap (self->status_label, TRUE);
  /* a file's path has no spaces to break at: it may break anywhere rather than widen the window */
  gtk_label_set_wrap_mode (self->status_label, PANGO_WRAP_WORD_CHAR);
  gtk_label_set_xalign (self->status_label, 0);
  gtk_label_set_selectable (self->status_label, TRUE);
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->status_label));

  /* the catalogue first: a missing backbone's Download is the first thing seen */
  self->list = BT_BACKBONE_LIST (bt_backbone_list_new ());
  g_signal_connect_object (self->list, "use", G_CALLBACK (list_use_cb), self, 0);
  g_signal_connect_object (self->list, "installed", G_CALLBACK (list_installed_cb), self, G_CONNECT_SWAPPED);
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->list));

  self->choose_button = gtk_button_new_with_mnemonic (_("_Choose a File You Already Have…"));
  gtk_widget_set_tooltip_text (self->choose_button,
                               _("A TensorFlow Lite image classifier, such as mobilenet_v2_1.0_224_quant.tflite"));
  g_signal_connect_swapped (self->choose_button, "clicked", G_CALLBACK (choose_clicked_cb), self);
  self->clear_button = gtk_button_new_with_mnemonic (_("Use the _Default"));
  g_signal_connect_swapped (self->clear_button, "clicked", G_CALLBACK (bt_transfer_options_clear_file), self);
  gtk_box_append (GTK_BOX (file_row), self->choose_button);
  gtk_box_append (GTK_BOX (file_row), self->clear_button);
  gtk_box_append (GTK_BOX (box), file_row);

  self->head_box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 6);
  self->recipe_check = GTK_CHECK_BUTTON (gtk_check_button_new_with_mnemonic (_("_Automatic recipe")));
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->recipe_check),
                               _("Before training, try a few learning rates, weight decays, label smoothings, hidden "
                                 "layers, epoch counts and mirrored photos on parts of your training photos, and keep "
                                 "the best"));
  g_signal_connect_swapped (self->recipe_check, "toggled", G_CALLBACK (save_settings), self);
  gtk_box_append (GTK_BOX (self->head_box), GTK_WIDGET (self->recipe_check));
  self->recipe_label = GTK_LABEL (gtk_label_new (""));
  gtk_label_set_wrap (self->recipe_label, TRUE);
  gtk_label_set_xalign (self->recipe_label, 0);
  gtk_label_set_selectable (self->recipe_label, TRUE);
  gtk_widget_add_css_class (GTK_WIDGET (self->recipe_label), "dim-label");
  gtk_box_append (GTK_BOX (self->head_box), GTK_WIDGET (self->recipe_label));
  for (guint i = 0; sizes[i] != NULL; i++)
    translated[i] = _(sizes[i]);
  translated[G_N_ELEMENTS (sizes) - 1] = NULL;
  self->hidden_dropdown = GTK_DROP_DOWN (gtk_drop_down_new_from_strings (translated));
  gtk_label_set_mnemonic_widget (GTK_LABEL (hidden_label), GTK_WIDGET (self->hidden_dropdown));
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->hidden_dropdown),
                               _("A hidden layer lets the head combine what the backbone sees; with few photos, none is usually best."));
  g_signal_connect_swapped (self->hidden_dropdown, "notify::selected", G_CALLBACK (save_settings), self);
  gtk_box_append (GTK_BOX (hidden_row), hidden_label);
  gtk_box_append (GTK_BOX (hidden_row), GTK_WIDGET (self->hidden_dropdown));
  gtk_box_append (GTK_BOX (self->head_box), hidden_row);

  self->whole_check = GTK_CHECK_BUTTON (gtk_check_button_new_with_mnemonic (_("Save the _whole network in the model")));
  g_signal_connect_swapped (self->whole_check, "toggled", G_CALLBACK (save_settings), self);
  gtk_box_append (GTK_BOX (self->head_box), GTK_WIDGET (self->whole_check));
  gtk_label_set_wrap (GTK_LABEL (whole_note), TRUE);
  gtk_label_set_xalign (GTK_LABEL (whole_note), 0);
  gtk_widget_add_css_class (whole_note, "dim-label");
  gtk_box_append (GTK_BOX (self->head_box), whole_note);
  {
    /* bounds from the settings table, like the Model page's other spin buttons */
    const BtSettingInfo *row = bt_settings_find ("finetune-blocks");
    GtkWidget *ft_row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
    GtkWidget *ft_label = gtk_label_new_with_mnemonic (_("_Fine-tune the backbone’s last blocks:"));
    self->finetune_spin = GTK_SPIN_BUTTON (gtk_spin_button_new_with_range (row->min, row->max, row->step));
    gtk_label_set_mnemonic_widget (GTK_LABEL (ft_label), GTK_WIDGET (self->finetune_spin));
    gtk_widget_set_tooltip_text (GTK_WIDGET (self->finetune_spin),
                                 _("0 keeps the backbone frozen. Above 0, once the head has trained, the backbone’s "
                                   "last blocks train with it at a tenth of the learning rate: often more accurate "
                                   "with 30 or more photos per class, and slower. The model then holds the whole network."));
    g_signal_connect_swapped (self->finetune_spin, "value-changed", G_CALLBACK (save_settings), self);
    gtk_box_append (GTK_BOX (ft_row), ft_label);
    gtk_box_append (GTK_BOX (ft_row), GTK_WIDGET (self->finetune_spin));
    gtk_box_append (GTK_BOX (self->head_box), ft_row);
  }
  gtk_box_append (GTK_BOX (box), self->head_box);

  /* The saved choice is the process-wide preference from the start: training and the Test
   * page use it too. It is only stat()ed here; a file is parsed when chosen or used. */
  self->settings = settings_if_installed ();
  if (self->settings != NULL)
    {
      pref = g_settings_get_string (self->settings, BACKBONE_KEY);
      bt_backbone_set_preferred_file (pref);
    }
  update_status (self);
  gtk_widget_set_sensitive (self->head_box, FALSE);
  g_signal_connect (self, "map", G_CALLBACK (update_recipe), NULL);
  /* the saved choice's embedding length and input size come from parsing it, on a worker */
  if (pref != NULL && *pref != '\0' && g_file_test (pref, G_FILE_TEST_IS_REGULAR))
    start_check (self, g_strdup (pref), TRUE);
}

GtkWidget *
bt_transfer_options_new (void)
{
  return g_object_new (BT_TYPE_TRANSFER_OPTIONS, NULL);
}
